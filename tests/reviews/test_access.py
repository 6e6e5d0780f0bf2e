"""Who sees a review: reviewers see every version; on the partner side the review belongs to
the Developer Portal, so only a developer of the org, with the org's flag on, sees it.

  alan   member of Acme without the developer permission: 403 everywhere, posts nothing
  alice  Acme's developer: 200 — and 403 like on every portal page once the flag is off
  bob    Globex's developer (flag switched on): another org's version is a 404
  rita   reviewer: 200
"""

from __future__ import annotations

import pytest

from integrations.models import IntegrationVersion
from portal import actions as portal_actions
from portal.flags import DEVELOPER_PORTAL
from reviews import decisions
from reviews.models import ReviewComment

PAGES = ["/review/{id}/", "/review/{id}/checks"]
API_READS = [
    "/api/v1/reviews/{id}/",
    "/api/v1/reviews/{id}/logo",
    "/api/v1/reviews/{id}/comments",
    "/api/v1/reviews/{id}/conformance",
]


@pytest.fixture
def version(cast, submitted_version) -> IntegrationVersion:
    """A real submission of Acme, with a first question from the reviewer."""
    decisions.review_comment(
        acting_user=cast.rita, version=submitted_version, body="First question"
    )
    return submitted_version


def portal_off(cast) -> None:
    portal_actions.flag_set(
        acting_user=cast.adam, org=cast.acme, flag=DEVELOPER_PORTAL, enabled=False
    )


def comment_count() -> int:
    return ReviewComment.objects.count()


@pytest.fixture(params=["alan", "alice_portal_off"])
def refused(request, cast):
    """The partner-side people who may not see reviews, and the 403 message they get."""
    if request.param == "alan":
        return cast.alan, "developer permission"
    portal_off(cast)
    return cast.alice, "not enabled for your organisation"


# --- refused -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_review_pages_are_403_for_partners_without_the_portal(version, client_for, refused, path):
    user, message = refused
    response = client_for(user).get(path.format(id=version.pk))
    assert response.status_code == 403
    assert message in response.content.decode()
    assert "Loopback Lists" not in response.content.decode()


def test_their_page_comments_are_refused_and_post_nothing(version, client_for, refused):
    user, _ = refused
    before = comment_count()
    response = client_for(user).post(f"/review/{version.pk}/comment", {"body": "Sneaky"})
    assert response.status_code == 403
    parent = ReviewComment.objects.get(version=version)
    reply = client_for(user).post(
        f"/review/{version.pk}/comment", {"body": "Sneaky", "parent": parent.pk}
    )
    assert reply.status_code == 403
    assert comment_count() == before


@pytest.mark.parametrize("path", API_READS)
def test_review_api_is_403_for_partners_without_the_portal(cast, version, api_for, refused, path):
    user, _ = refused
    response = api_for(user, cast.acme).get(path.format(id=version.pk))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "Developer Portal" in response.json()["error"]["message"]


def test_their_api_comments_are_refused_and_post_nothing(cast, version, api_for, refused):
    user, _ = refused
    before = comment_count()
    response = api_for(user, cast.acme).post(
        f"/api/v1/reviews/{version.pk}/comments", {"body": "Sneaky"}, format="json"
    )
    assert response.status_code == 403
    assert comment_count() == before


def test_signed_out_people_are_sent_to_sign_in(version, client):
    response = client.get(f"/review/{version.pk}/")
    assert response.status_code == 302 and "next=" in response["Location"]
    assert client.post(f"/review/{version.pk}/comment", {"body": "Hi"}).status_code == 302
    assert client.get(f"/api/v1/reviews/{version.pk}/").status_code in (401, 403)
    assert comment_count() == 1


def test_another_orgs_developer_gets_404_and_posts_nothing(cast, version, client_for, api_for):
    portal_actions.flag_set(
        acting_user=cast.adam, org=cast.globex, flag=DEVELOPER_PORTAL, enabled=True
    )
    bob = client_for(cast.bob)
    for path in PAGES:
        assert bob.get(path.format(id=version.pk)).status_code == 404
    assert bob.post(f"/review/{version.pk}/comment", {"body": "Hi"}).status_code == 404
    bob_api = api_for(cast.bob, cast.globex)
    for path in API_READS:
        assert bob_api.get(path.format(id=version.pk)).status_code == 404
    assert comment_count() == 1


# --- allowed ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "rita"])
def test_the_developer_and_a_reviewer_see_the_review(cast, version, client_for, api_for, who):
    user = getattr(cast, who)
    client = client_for(user)
    for path in PAGES:
        assert client.get(path.format(id=version.pk)).status_code == 200, path
    api = api_for(user, cast.acme if who == "alice" else None)
    for path in API_READS[:3]:
        assert api.get(path.format(id=version.pk)).status_code == 200, path
    detail = api.get(f"/api/v1/reviews/{version.pk}/").json()
    assert detail["manifest"]["display_name"] == "Loopback Lists"


@pytest.mark.parametrize("who", ["alice", "rita"])
def test_the_developer_and_a_reviewer_can_comment(cast, version, client_for, api_for, who):
    user = getattr(cast, who)
    parent = ReviewComment.objects.get(version=version)
    page = client_for(user).post(
        f"/review/{version.pk}/comment", {"body": "From the page", "parent": parent.pk}
    )
    assert page.status_code == 302
    api = api_for(user, cast.acme if who == "alice" else None)
    posted = api.post(
        f"/api/v1/reviews/{version.pk}/comments", {"body": "From the API"}, format="json"
    )
    assert posted.status_code == 201
    assert list(ReviewComment.objects.order_by("id").values_list("body", "parent_id")) == [
        ("First question", None),
        ("From the page", parent.pk),
        ("From the API", None),
    ]


def test_a_reviewer_keeps_access_when_the_partners_portal_is_off(
    cast, version, client_for, api_for
):
    portal_off(cast)
    assert client_for(cast.rita).get(f"/review/{version.pk}/").status_code == 200
    assert api_for(cast.rita, None).get(f"/api/v1/reviews/{version.pk}/").status_code == 200
