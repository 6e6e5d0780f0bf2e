"""Numbers and return addresses typed into the review pages and API: the queue's filters,
a reply's parent, the page assigning sends the reviewer back to. Each is a clear 4xx (or
an ignored filter, where the page ignores other bad values) and changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import ReviewComment

SUPERSCRIPT_TWO = "²"


@pytest.fixture
def submitted(submitted_version):
    return submitted_version


@pytest.mark.parametrize(
    "query",
    [
        {"org": SUPERSCRIPT_TWO},
        {"org": "9" * 30},
        {"older_than_days": SUPERSCRIPT_TWO},
        {"older_than_days": "99999999999"},
    ],
)
def test_the_queue_page_ignores_filters_its_selects_never_offer(cast, client_for, query):
    response = client_for(cast.rita).get("/review/", query)
    assert response.status_code == 200
    assert 'option value="" selected' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"org": SUPERSCRIPT_TWO}, "org"),
        ({"org": "abc"}, "org"),
        ({"older_than_days": SUPERSCRIPT_TWO}, "older_than_days"),
        ({"older_than_days": "99999999999"}, "older_than_days"),
        ({"older_than_days": "3651"}, "older_than_days"),
    ],
)
def test_the_queue_api_refuses_a_bad_filter_naming_it(cast, api_for, query, field):
    response = api_for(cast.rita, None).get("/api/v1/reviews/", query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"] and error["message"].startswith(f"{field} must be")


def test_the_queue_api_takes_ten_years(cast, api_for):
    response = api_for(cast.rita, None).get("/api/v1/reviews/", {"older_than_days": "3650"})
    assert response.status_code == 200 and response.json()["count"] == 0


@pytest.mark.parametrize("parent", [SUPERSCRIPT_TWO, "abc", "9" * 30])
def test_a_reply_to_a_comment_that_cannot_exist_is_404_and_posts_nothing(
    cast, client_for, submitted, parent
):
    response = client_for(cast.rita).post(
        f"/review/{submitted.pk}/comment", {"body": "Hello", "parent": parent}
    )
    assert response.status_code == 404
    assert not ReviewComment.objects.exists()


@pytest.mark.parametrize("back", ["https://evil.example/phish", "//evil.example/review/"])
def test_assigning_returns_only_to_a_page_of_this_site(cast, client_for, submitted, back):
    response = client_for(cast.rita).post(
        f"/review/{submitted.pk}/assign", {"reviewer": "rita@platform.test", "back": back}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("review_detail", args=[submitted.pk])


def test_assigning_from_the_queue_returns_to_the_queue(cast, client_for, submitted):
    response = client_for(cast.rita).post(
        f"/review/{submitted.pk}/assign", {"reviewer": "", "back": "/review/?assigned=me"}
    )
    assert response.status_code == 302 and response["Location"] == "/review/?assigned=me"
