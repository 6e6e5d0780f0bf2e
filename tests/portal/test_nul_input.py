"""The NUL character (U+0000), which PostgreSQL cannot store, is refused with a 400 that
names where it is, and nothing changes: in the URL path, query parameters and form fields
(the middleware), JSON bodies (the API's parsers), and JSON text inside a form field or a
file (manifests and the editor's state: check_manifest and the integration actions)."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations import actions
from integrations.models import Integration, IntegrationVersion
from portal import actions as portal_actions
from portal.errors import ActionError
from portal.models import AuditEvent, CohortMember
from reviews.models import ReviewComment
from syncengine.core.diagnostic_codes import NUL_CHARACTER
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.nul import find_nul
from syncengine.models import TestSettings
from tests.integrations.conftest import fixture_manifest
from tests.integrations.forms import form_values, state_post
from tests.syncengine.conftest import list_manifest, make_draft

NUL_REFUSED = "contains a NUL character (\\x00), which is not allowed"
JSON_NUL_REFUSED = "text must not contain the NUL character (\\u0000)"


@pytest.fixture
def draft(cast):
    return actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest("acme_list")
    )


def snapshot(integration: Integration) -> tuple:
    fresh = Integration.objects.get(pk=integration.pk)
    return fresh.config, fresh.revision, fresh.logo_id, fresh.display_name, fresh.status


def with_nul_help_text(manifest: dict) -> dict:
    manifest = copy.deepcopy(manifest)
    manifest["custom_fields"][0]["help_text"] = "a\x00b"
    return manifest


# --------------------------------------------------------------------------------------
# The walk (pure core)


def test_find_nul_gives_the_path_of_the_first_string_or_key_with_nul():
    assert find_nul({"a": ["x", {"b": "ok"}], "c": 1, "d": None}) is None
    assert find_nul({"a": ["x", {"b": "o\x00k"}]}) == ("a", 1, "b")
    assert find_nul({"a": {"k\x00": 1}}) == ("a", "k\x00")
    assert find_nul({"first": ["\x00"], "second": "\x00"}) == ("first", 0)
    assert find_nul("\x00") == ()


def test_find_nul_walks_deep_nesting_without_recursion():
    value: object = "\x00"
    for _ in range(50_000):
        value = [value]
    path = find_nul(value)
    assert path is not None and len(path) == 50_000


def test_check_manifest_reports_nul_with_the_field_path():
    diagnostics = check_manifest(with_nul_help_text(fixture_manifest("acme_list")))
    (nul,) = [d for d in diagnostics if d.code == NUL_CHARACTER]
    assert nul.is_error and nul.path == "custom_fields.0.help_text"
    assert nul.message == JSON_NUL_REFUSED
    assert not [d for d in check_manifest(fixture_manifest("acme_list")) if d.is_error]


# --------------------------------------------------------------------------------------
# Query parameters and the path (the middleware)


@pytest.mark.parametrize(
    "who, path, parameter",
    [
        ("alice", "/portal/?q=a%00b", "q"),
        ("alice", "/portal/new/check-name?display_name=a%00b", "display_name"),
        ("adam", "/platform/orgs/?q=a%00b", "q"),
        ("alice", "/portal/?a%00b=1", "a\\x00b"),
    ],
)
def test_a_query_parameter_with_nul_is_a_400_page(cast, client_for, who, path, parameter):
    response = client_for(getattr(cast, who)).get(path)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert f'The parameter "{parameter}" {NUL_REFUSED}' in response.content.decode()


@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/api/v1/integrations/?q=a%00b", "q"),
        ("/api/v1/audit-log/?action=a%00b", "action"),
        ("/api/v1/access-requests/?status=a%00b", "status"),
    ],
)
def test_a_query_parameter_with_nul_is_a_json_400_in_the_api(cast, alice_api, path, parameter):
    response = alice_api.get(path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith(f'The parameter "{parameter}" {NUL_REFUSED}')
    assert error["fields"] == {parameter: [error["message"]]}


def test_a_path_with_nul_is_a_400(cast, client_for, alice_api):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="VIPs"
    )
    page = client_for(cast.alice).get(f"/cohorts/{cohort.public_id}%00/")
    assert page.status_code == 400
    assert "The URL path contains a NUL character" in page.content.decode()
    answer = alice_api.get(f"/api/v1/cohorts/{cohort.public_id}%00/")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("The URL path contains a NUL character")
    assert alice_api.get("/api/v1/cohorts/a%00b/").status_code == 400


# --------------------------------------------------------------------------------------
# Form posts (the middleware)


def test_editor_save_with_nul_in_the_note_changes_nothing(client_for, cast, draft):
    alice = client_for(cast.alice)
    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    before = snapshot(draft)
    response = alice.post(
        f"/portal/integrations/{draft.pk}/save",
        {**state_post(state, base_revision=draft.revision), "note": "a\x00b"},
    )
    assert response.status_code == 400
    assert f'The parameter "note" {NUL_REFUSED}' in response.content.decode()
    assert snapshot(draft) == before


def test_a_urlencoded_post_with_nul_in_a_field_name_is_refused(client_for, cast, draft):
    before = snapshot(draft)
    response = client_for(cast.alice).post(
        f"/portal/integrations/{draft.pk}/save",
        "a%00b=1&note=fine",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert f'The parameter "a\\x00b" {NUL_REFUSED}' in response.content.decode()
    assert snapshot(draft) == before


def test_test_settings_with_nul_in_the_cohort_id_change_nothing(cast, client_for):
    integration = make_draft(cast, list_manifest("https://api.partner.example"))
    response = client_for(cast.alice).post(
        f"/portal/integrations/{integration.pk}/test/settings",
        {
            "project_id": str(cast.acme_project.public_id),
            "api_key": cast.acme_project.api_key,
            "users_source": "cohort",
            "cohort_id": "a\x00b",
        },
    )
    assert response.status_code == 400
    assert f'The parameter "cohort_id" {NUL_REFUSED}' in response.content.decode()
    assert not TestSettings.objects.exists()


def test_submit_with_nul_in_the_note_changes_nothing(cast, client_for, tested_draft):
    integration = tested_draft
    before = snapshot(integration)
    response = client_for(cast.alice).post(
        f"/portal/integrations/{integration.pk}/submit/send", {"note": "please\x00"}
    )
    assert response.status_code == 400
    assert f'The parameter "note" {NUL_REFUSED}' in response.content.decode()
    assert snapshot(integration) == before
    assert not IntegrationVersion.objects.exists()


def test_review_comment_and_decision_with_nul_change_nothing(cast, client_for, submitted_version):
    rita = client_for(cast.rita)
    comment = rita.post(f"/review/{submitted_version.pk}/comment", {"body": "looks\x00 good"})
    assert comment.status_code == 400
    assert f'The parameter "body" {NUL_REFUSED}' in comment.content.decode()
    assert not ReviewComment.objects.exists()
    audit_rows = AuditEvent.objects.count()
    decide = rita.post(
        f"/review/{submitted_version.pk}/decide", {"decision": "approve", "message": "ok\x00"}
    )
    assert decide.status_code == 400
    assert f'The parameter "message" {NUL_REFUSED}' in decide.content.decode()
    submitted_version.refresh_from_db()
    assert submitted_version.state == "in_review"
    assert AuditEvent.objects.count() == audit_rows


# --------------------------------------------------------------------------------------
# JSON text inside a form field: the editor's state (the actions)


def editor_state_with_nul(client, integration) -> dict[str, str]:
    state = form_values(
        client.get(f"/portal/integrations/{integration.pk}/configure").content.decode()
    )
    state["custom_fields.0.help_text"] = "a\x00b"
    return state


@pytest.mark.parametrize("autosave", ["1", "0"])
def test_editor_state_with_an_escaped_nul_is_refused_naming_the_field(
    cast, client_for, draft, autosave
):
    alice = client_for(cast.alice)
    posted = state_post(
        editor_state_with_nul(alice, draft), base_revision=draft.revision, autosave=autosave
    )
    assert "\x00" not in posted["state"] and "\\u0000" in posted["state"]
    before = snapshot(draft)
    response = alice.post(
        f"/portal/integrations/{draft.pk}/save", posted, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith(f"custom_fields.0.help_text: {JSON_NUL_REFUSED}")
    assert error["field"] == "manifest"
    assert snapshot(draft) == before


def test_editor_state_with_nul_without_javascript_says_not_saved(cast, client_for, draft):
    alice = client_for(cast.alice)
    posted = state_post(editor_state_with_nul(alice, draft), base_revision=draft.revision)
    before = snapshot(draft)
    response = alice.post(f"/portal/integrations/{draft.pk}/save", posted, follow=True)
    assert f"Not saved. custom_fields.0.help_text: {JSON_NUL_REFUSED}" in response.content.decode()
    assert snapshot(draft) == before


# --------------------------------------------------------------------------------------
# Manifests: files, the API, the actions


def manifest_file(manifest: dict) -> SimpleUploadedFile:
    return SimpleUploadedFile("m.json", json.dumps(manifest).encode(), "application/json")


def test_importing_a_manifest_file_with_nul_creates_nothing(cast, client_for, draft):
    manifest = with_nul_help_text(fixture_manifest("property_basic"))
    response = client_for(cast.alice).post(
        "/portal/import", {"file": manifest_file(manifest)}, follow=True
    )
    html = response.content.decode()
    assert f"Nothing was imported. custom_fields.0.help_text: {JSON_NUL_REFUSED}" in html
    assert Integration.objects.count() == 1


def test_uploading_a_manifest_with_nul_into_a_draft_changes_nothing(cast, client_for, draft):
    before = snapshot(draft)
    response = client_for(cast.alice).post(
        f"/portal/integrations/{draft.pk}/import",
        {"file": manifest_file(with_nul_help_text(fixture_manifest("acme_list")))},
        follow=True,
    )
    assert "custom_fields.0.help_text: " + JSON_NUL_REFUSED in response.content.decode()
    assert snapshot(draft) == before


def test_api_import_with_nul_is_a_400_naming_the_json_path(cast, alice_api, draft):
    manifest = with_nul_help_text(fixture_manifest("property_basic"))
    response = alice_api.post("/api/v1/integrations/import", manifest, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "parse_error",
        "message": f"custom_fields[0].help_text: {JSON_NUL_REFUSED}",
    }
    assert Integration.objects.count() == 1


def test_api_manifest_replace_with_nul_changes_nothing(cast, alice_api, draft):
    before = snapshot(draft)
    response = alice_api.put(
        f"/api/v1/integrations/{draft.pk}/manifest",
        with_nul_help_text(fixture_manifest("acme_list")),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "parse_error",
        "message": f"custom_fields[0].help_text: {JSON_NUL_REFUSED}",
    }
    assert snapshot(draft) == before


def test_the_actions_refuse_nul_before_storing_anything(cast, draft):
    before = snapshot(draft)
    with pytest.raises(ActionError, match=r"custom_fields\.0\.help_text: text must not"):
        actions.integration_save(
            acting_user=cast.alice,
            integration=draft,
            manifest=with_nul_help_text(fixture_manifest("acme_list")),
            autosave=True,
        )
    with pytest.raises(ActionError, match="display name must not contain"):
        actions.integration_create(
            acting_user=cast.alice, org=cast.acme, display_name="a\x00b", integration_type="list"
        )
    key_with_nul = {**fixture_manifest("property_basic"), "x\x00": 1}
    with pytest.raises(ActionError, match=r"x\\u0000: text must not"):
        actions.integration_import(acting_user=cast.alice, org=cast.acme, manifest=key_with_nul)
    assert snapshot(draft) == before
    assert Integration.objects.count() == 1


# --------------------------------------------------------------------------------------
# JSON bodies (the API's parsers): cohort members


@pytest.fixture
def cohort(cast):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="VIPs"
    )
    portal_actions.cohort_members_add(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": "keep-me"}]
    )
    return cohort


def members(cohort) -> list[str]:
    return list(CohortMember.objects.filter(cohort=cohort).values_list("member_key", flat=True))


@pytest.mark.parametrize(
    "method, suffix, body, path",
    [
        ("put", "", {"members": [{"user_id": "a\x00b"}]}, "members[0].user_id"),
        (
            "post",
            "add",
            {"members": [{"user_id": "ok"}, {"user_id": "c", "plan": "x\x00"}]},
            "members[1].plan",
        ),
        ("post", "add", {"members": [{"user_id": "c", "pl\x00an": "x"}]}, "members[0].pl\\u0000an"),
    ],
)
def test_members_api_with_nul_is_a_400_naming_the_json_path(
    alice_api, cohort, method, suffix, body, path
):
    url = f"/api/v1/cohorts/{cohort.public_id}/members/{suffix}"
    response = getattr(alice_api, method)(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "parse_error",
        "message": f"{path}: {JSON_NUL_REFUSED}",
    }
    assert members(cohort) == ["u:keep-me"]


def test_a_form_body_with_nul_is_refused_by_the_api_parser_too(alice_api, cohort):
    # PUT bodies are not in request.POST, so the middleware does not see them.
    response = alice_api.put(
        f"/api/v1/cohorts/{cohort.public_id}/members/",
        "members=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert f'The parameter "members" {NUL_REFUSED}' in response.json()["error"]["message"]
    assert members(cohort) == ["u:keep-me"]
