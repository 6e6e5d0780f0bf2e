"""Numbers typed into URLs and forms: "²" passes `str.isdigit()` but not `int()`, and a
huge number passes `int()` but not the database. Each is a clear 4xx (or an ignored
filter, where the page ignores other bad values) and changes nothing — never a 500.

Also here: return addresses (`back`) are followed only when they stay on this site.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations.models import Destination, Integration
from portal.errors import ActionError
from portal.flags import DEVELOPER_PORTAL
from portal.models import AuditEvent
from portal.params import MAX_ID, local_url, optional_id, parse_id
from reviews import decisions
from reviews.models import ReviewComment
from syncengine import actions as test_actions
from tests.integrations.conftest import fixture_manifest
from tests.integrations.forms import form_values, state_post
from tests.syncengine.conftest import list_manifest, make_draft, save_settings

SUPERSCRIPT_TWO = "²"
NOT_NUMBERS = [SUPERSCRIPT_TWO, "٣", "-1", " 1", "1.0", "abc", "9" * 30]


@pytest.fixture
def submitted(submitted_version):
    return submitted_version


def url(integration: Integration, suffix: str = "") -> str:
    return f"/portal/integrations/{integration.pk}/{suffix}"


def snapshot(integration: Integration) -> tuple:
    fresh = Integration.objects.get(pk=integration.pk)
    return (fresh.config, fresh.revision, fresh.logo_id, fresh.display_name)


# --- the helper ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*NOT_NUMBERS, "", None, str(MAX_ID + 1)])
def test_parse_id_takes_only_ascii_digits_in_the_bigint_range(text):
    assert parse_id(text) is None


def test_parse_id_reads_whole_numbers_and_its_maximum():
    assert parse_id("0") == 0 and parse_id("0042") == 42 and parse_id(str(MAX_ID)) == MAX_ID
    assert parse_id("3650", maximum=3650) == 3650 and parse_id("3651", maximum=3650) is None


def test_optional_id_names_the_field():
    assert optional_id(None, field="org") is None and optional_id("", field="org") is None
    with pytest.raises(ActionError) as refused:
        optional_id(SUPERSCRIPT_TWO, field="older_than_days", maximum=3650)
    assert refused.value.field == "older_than_days" and refused.value.status == 400
    assert "older_than_days must be a whole number from 0 to 3650" in refused.value.message


# --- base_revision: the tile, the editor, the import, the API ----------------------------


@pytest.mark.parametrize("base", [SUPERSCRIPT_TWO, "9" * 30, "x"])
def test_tile_with_a_bad_base_revision_is_400(alice, draft, base):
    before = snapshot(draft)
    response = alice.post(url(draft, "tile"), {"display_name": "New name", "base_revision": base})
    assert response.status_code == 400
    assert "base_revision must be a whole number" in response.content.decode()
    assert snapshot(draft) == before


@pytest.mark.parametrize("base", [SUPERSCRIPT_TWO, "9" * 30])
def test_editor_save_with_a_bad_base_revision_is_400(alice, draft, base):
    state = form_values(alice.get(url(draft, "configure")).content.decode())
    state["endpoints.create_list.list_id_path"] = "elsewhere"
    before = snapshot(draft)
    response = alice.post(
        url(draft, "save"), state_post(state, base_revision=base), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "base_revision" and "base_revision" in error["message"]
    plain = alice.post(url(draft, "save"), {**state, "base_revision": base}, follow=True)
    assert "Not saved. base_revision must be a whole number" in plain.content.decode()
    assert snapshot(draft) == before


def test_import_with_a_bad_base_revision_imports_nothing(alice, draft):
    manifest = fixture_manifest("jsonapi_list")
    manifest["display_name"] = "Acme Audiences"
    upload = SimpleUploadedFile("m.json", json.dumps(manifest).encode(), "application/json")
    before = snapshot(draft)
    response = alice.post(
        url(draft, "import"), {"file": upload, "base_revision": SUPERSCRIPT_TWO}, follow=True
    )
    assert "Nothing was imported. base_revision must be a whole number" in (
        response.content.decode()
    )
    assert snapshot(draft) == before


@pytest.mark.parametrize("base", [SUPERSCRIPT_TWO, "9" * 30, "x"])
def test_api_manifest_put_with_a_bad_base_revision_is_400(alice_api, draft, base):
    before = snapshot(draft)
    response = alice_api.put(
        f"/api/v1/integrations/{draft.pk}/manifest?base_revision={base}",
        fixture_manifest("jsonapi_list") | {"display_name": "Acme Audiences"},
        format="json",
    )
    assert response.status_code == 400
    assert "base_revision" in response.json()["error"]["fields"]
    assert snapshot(draft) == before


# --- the history, the preview -------------------------------------------------------------


@pytest.mark.parametrize("query", [{"from": SUPERSCRIPT_TWO}, {"to": SUPERSCRIPT_TWO}])
def test_history_with_a_unicode_digit_says_there_is_no_such_revision(alice, draft, query):
    response = alice.get(url(draft, "history"), query)
    assert response.status_code == 400
    assert "There is no revision “²”" in response.content.decode()


def test_preview_ignores_a_row_number_that_is_not_a_number(alice, draft):
    state = form_values(alice.get(url(draft, "configure")).content.decode())
    state[f"custom_fields.{SUPERSCRIPT_TWO}.variable"] = "ghost"
    before = snapshot(draft)
    response = alice.post(url(draft, "preview"), state_post(state))
    assert response.status_code == 200
    assert "ghost" not in response.json()["panel"]
    assert snapshot(draft) == before


# --- the review queue ---------------------------------------------------------------------


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


# --- comments, the run poll ---------------------------------------------------------------


@pytest.mark.parametrize("parent", [SUPERSCRIPT_TWO, "abc", "9" * 30])
def test_a_reply_to_a_comment_that_cannot_exist_is_404_and_posts_nothing(
    cast, client_for, submitted, parent
):
    response = client_for(cast.rita).post(
        f"/review/{submitted.pk}/comment", {"body": "Hello", "parent": parent}
    )
    assert response.status_code == 404
    assert not ReviewComment.objects.exists()


def test_polling_a_run_with_a_unicode_digit_sends_the_whole_run(cast, alice):
    draft = make_draft(cast, list_manifest("https://api.partner.example"))
    save_settings(cast, draft)
    run = test_actions.test_run_start(acting_user=cast.alice, integration=draft)
    run_url = url(draft, f"test/runs/{run.pk}/")
    response = alice.get(run_url, {"after": SUPERSCRIPT_TWO}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content == alice.get(run_url, HTTP_HX_REQUEST="true").content


# --- platform pages and the audit log -----------------------------------------------------


@pytest.mark.parametrize("org", [SUPERSCRIPT_TWO, "abc", "9" * 30])
def test_the_audit_log_api_refuses_a_bad_org(cast, api_for, org):
    response = api_for(cast.adam, None).get("/api/v1/audit-log/", {"org": org})
    assert response.status_code == 400
    assert "org" in response.json()["error"]["fields"]


def test_the_audit_log_api_filters_by_org(cast, api_for):
    response = api_for(cast.adam, None).get("/api/v1/audit-log/", {"org": cast.globex.pk})
    rows = response.json()["results"]
    assert response.status_code == 200 and rows
    assert {row["org_id"] for row in rows} == {cast.globex.pk}


@pytest.mark.parametrize("search", [SUPERSCRIPT_TWO, "9" * 30])
def test_the_org_search_treats_a_non_id_as_a_name(cast, client_for, search):
    response = client_for(cast.adam).get(reverse("platform_orgs"), {"q": search})
    assert response.status_code == 200
    assert "Acme Audiences" not in response.content.decode()


def test_the_org_search_finds_an_id(cast, client_for):
    response = client_for(cast.adam).get(reverse("platform_orgs"), {"q": str(cast.acme.pk)})
    assert response.status_code == 200 and "Acme Audiences" in response.content.decode()


def test_rolling_back_to_a_version_that_is_not_a_number_changes_nothing(
    cast, client_for, submitted
):
    decisions.review_approve(acting_user=cast.rita, version=submitted)
    destination = Destination.objects.get(channel="approved")
    deployments = destination.deployments.count()
    response = client_for(cast.adam).post(
        f"/platform/destinations/{destination.pk}/rollback",
        {"version": SUPERSCRIPT_TWO},
        follow=True,
    )
    assert response.status_code == 200
    assert "Choose one of the approved versions." in response.content.decode()
    destination.refresh_from_db()
    assert destination.version == submitted and destination.deployments.count() == deployments


# --- return addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
        None,
    ],
)
def test_the_flag_toggle_returns_only_to_a_page_of_this_site(cast, client_for, back):
    data = {"flag": DEVELOPER_PORTAL, "enabled": "false"}
    if back is not None:
        data["back"] = back
    response = client_for(cast.adam).post(reverse("platform_org_flag", args=[cast.acme.pk]), data)
    assert response.status_code == 302 and response["Location"] == reverse("platform_orgs")
    assert not cast.acme.flag_enabled(DEVELOPER_PORTAL)


def test_the_flag_toggle_returns_to_the_page_it_came_from(cast, client_for):
    back = reverse("platform_orgs") + "?q=Acme&page=1"
    response = client_for(cast.adam).post(
        reverse("platform_org_flag", args=[cast.acme.pk]),
        {"flag": DEVELOPER_PORTAL, "enabled": "true", "back": back},
    )
    assert response.status_code == 302 and response["Location"] == back


def test_a_refused_flag_toggle_changes_nothing_and_goes_back_home(cast, client_for):
    before = AuditEvent.objects.count()
    response = client_for(cast.adam).post(
        reverse("platform_org_flag", args=[cast.acme.pk]),
        {"flag": "teleport", "enabled": "true", "back": "https://evil.example/"},
    )
    assert response["Location"] == reverse("platform_orgs")
    assert AuditEvent.objects.count() == before


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


def test_local_url_needs_this_host(rf):
    request = rf.get("/")
    assert local_url(request, "/review/") == "/review/"
    assert local_url(request, "http://testserver/review/") == "http://testserver/review/"
    assert local_url(request, "http://other.test/review/") is None
    assert local_url(request, None) is None
