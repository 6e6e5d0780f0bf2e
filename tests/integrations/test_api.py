"""The integrations REST API: drafts, manifest import/export, validation, previews, logo,
revisions — and every refusal."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from integrations.models import Integration, StoredLogo
from portal.models import AuditEvent
from syncengine.core.manifest.normalize import canonical_json
from tests.integrations.conftest import fixture_manifest, png_bytes

BASE = "/api/v1/integrations/"


def create(api, name="Acme Audiences", kind="list") -> dict:
    response = api.post(BASE, {"display_name": name, "integration_type": kind}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_list_and_get(alice_api):
    created = create(alice_api)
    assert created["status"] == "draft" and created["revision"] == 1
    listed = alice_api.get(BASE).json()
    assert [item["display_name"] for item in listed["results"]] == ["Acme Audiences"]
    assert listed["count"] == 1
    assert alice_api.get(f"{BASE}{created['id']}/").json()["integration_type"] == "list"


def test_display_names_are_unique_case_insensitively_across_orgs(cast, alice_api, api_for):
    create(alice_api, "Acme Audiences")
    from portal import actions
    from portal.flags import DEVELOPER_PORTAL

    actions.flag_set(acting_user=cast.adam, org=cast.globex, flag=DEVELOPER_PORTAL, enabled=True)
    bob = api_for(cast.bob, cast.globex)
    response = bob.post(
        BASE, {"display_name": "ACME audiences", "integration_type": "list"}, format="json"
    )
    # A conflict with another integration, not bad input: the same body may pass tomorrow.
    assert response.status_code == 409
    error = response.json()["error"]
    assert "already the name of another integration" in error["message"]
    assert "display_name" in error["fields"]
    assert Integration.objects.count() == 1


def test_create_refuses_an_unknown_type(alice_api):
    response = alice_api.post(
        BASE, {"display_name": "X", "integration_type": "webhook"}, format="json"
    )
    assert response.status_code == 400
    assert "integration_type" in response.json()["error"]["fields"]


def test_filter_by_status(alice_api):
    create(alice_api)
    assert alice_api.get(BASE, {"status": "draft"}).json()["count"] == 1
    assert alice_api.get(BASE, {"status": "approved"}).json()["count"] == 0
    bad = alice_api.get(BASE, {"status": "sideways"})
    assert bad.status_code == 400
    assert "status must be one of" in bad.json()["error"]["message"]


def test_manifest_import_then_export_is_byte_identical(alice_api):
    draft = create(alice_api)
    manifest = fixture_manifest()
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    url = f"{BASE}{draft['id']}/manifest"
    saved = alice_api.put(url, manifest, format="json")
    assert saved.status_code == 200, saved.content
    assert saved.json()["valid"] is True
    exported = alice_api.get(url).content
    again = alice_api.put(url, json.loads(exported), format="json")
    assert again.status_code == 200
    assert alice_api.get(url).content == exported
    assert exported == canonical_json(json.loads(exported))
    assert json.loads(exported)["logo_png_base64"]


def test_import_as_new_draft(alice_api):
    response = alice_api.post(f"{BASE}import", fixture_manifest("property_basic"), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["integration_type"] == "property"


def test_a_malformed_manifest_is_refused_with_json_paths_and_changes_nothing(alice_api):
    draft = create(alice_api)
    url = f"{BASE}{draft['id']}/manifest"
    before = alice_api.get(url).content
    manifest = fixture_manifest()
    manifest["custom_fields"][0]["required"] = "yes"
    manifest["endpoints"]["add_users"]["colour"] = "blue"
    response = alice_api.put(url, manifest, format="json")
    assert response.status_code == 400
    paths = {detail["path"] for detail in response.json()["error"]["details"]}
    assert {"custom_fields.0.required", "endpoints.add_users.colour"} <= paths
    assert alice_api.get(url).content == before
    assert Integration.objects.get(pk=draft["id"]).revision == 1


def test_a_draft_with_template_problems_is_saved_and_reported(alice_api):
    draft = create(alice_api)
    manifest = fixture_manifest()
    manifest["endpoints"]["add_users"]["payload"] = '{"userIds": $items, "tag": "$tagg"}'
    response = alice_api.put(f"{BASE}{draft['id']}/manifest", manifest, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and body["revision"] == 2
    problem = next(d for d in body["diagnostics"] if d["code"] == "undeclared_variable")
    assert problem["path"] == "endpoints.add_users.payload"
    assert (problem["line"], problem["column"]) == (1, 29)


def test_validate_returns_diagnostics_and_tracker_and_can_try_unsaved_text(alice_api):
    draft = create(alice_api)
    alice_api.put(f"{BASE}{draft['id']}/manifest", fixture_manifest(), format="json")
    stored = alice_api.get(f"{BASE}{draft['id']}/validate").json()
    assert stored["valid"] is True
    declared = {row["variable"]: row["status"] for row in stored["tracker"]["declared"]}
    assert declared["region"] == "ok"
    trial = fixture_manifest()
    trial["endpoints"]["create_list"]["payload"] = '{"name": "$list_id"}'
    tried = alice_api.post(
        f"{BASE}{draft['id']}/validate", {"manifest": trial}, format="json"
    ).json()
    assert any(d["code"] == "variable_not_available" for d in tried["diagnostics"])
    assert Integration.objects.get(pk=draft["id"]).revision == 2  # nothing saved


def test_preview_masks_secrets_unless_revealed(alice_api):
    draft = create(alice_api)
    alice_api.put(f"{BASE}{draft['id']}/manifest", fixture_manifest(), format="json")
    url = f"{BASE}{draft['id']}/preview"
    masked = alice_api.post(
        url, {"values": {"bearer_token": "tok-123", "region": "eu"}}, format="json"
    ).json()
    create_list = next(e for e in masked["endpoints"] if e["endpoint"] == "create_list")
    assert create_list["url"] == "https://api.acme.test/eu/lists"
    assert ["Authorization", "Bearer ••••••"] in create_list["headers"]
    assert "tok-123" not in json.dumps(masked)
    assert create_list["curl"].startswith("curl")
    revealed = alice_api.post(
        url, {"values": {"bearer_token": "tok-123"}, "reveal": True}, format="json"
    ).json()
    assert (
        "tok-123"
        in next(e for e in revealed["endpoints"] if e["endpoint"] == "create_list")["curl"]
    )
    add = next(e for e in masked["endpoints"] if e["endpoint"] == "add_users")
    assert json.loads(add["body"])["userIds"][0] == masked["users"][0]["user_id"]


def test_logo_upload_and_refusal(alice_api):
    draft = create(alice_api)
    url = f"{BASE}{draft['id']}/logo"
    from django.core.files.uploadedfile import SimpleUploadedFile

    jpeg = SimpleUploadedFile("logo.png", b"\xff\xd8\xff\xe0" + b"\0" * 64, "image/png")
    refused = alice_api.put(url, {"file": jpeg}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "This file is a JPEG image, not a PNG. Export your logo as PNG."
    )
    assert not StoredLogo.objects.exists()
    good = SimpleUploadedFile("logo.png", png_bytes(200, 200), "image/png")
    uploaded = alice_api.put(url, {"file": good}, format="multipart")
    assert uploaded.status_code == 200
    tile = alice_api.get(uploaded.json()["logo_tile_url"])
    assert tile.status_code == 200 and tile["Content-Type"] == "image/png"


def test_revisions_diff_and_restore(alice_api):
    draft = create(alice_api)
    base = f"{BASE}{draft['id']}"
    alice_api.put(f"{base}/manifest", fixture_manifest(), format="json")
    renamed = alice_api.patch(f"{base}/", {"display_name": "Acme Audiences 2"}, format="json")
    assert renamed.json()["revision"] == 3
    revisions = alice_api.get(f"{base}/revisions/").json()["results"]
    assert [r["number"] for r in revisions] == [3, 2, 1]
    diff = alice_api.get(f"{base}/diff", {"from": 2, "to": 3}).json()["changes"]
    assert diff == [
        {
            "path": "display_name",
            "kind": "changed",
            "before": "Acme Audiences",
            "after": "Acme Audiences 2",
            "text_diff": [],
        }
    ]
    restored = alice_api.post(f"{base}/revisions/2/restore")
    assert restored.status_code == 200 and restored.json()["revision"] == 4
    assert alice_api.get(f"{base}/").json()["display_name"] == "Acme Audiences"
    assert alice_api.get(f"{base}/diff", {"from": 99}).status_code == 404


def test_a_stale_editor_cannot_overwrite_newer_work(alice_api):
    draft = create(alice_api)
    base = f"{BASE}{draft['id']}"
    alice_api.patch(f"{base}/", {"display_name": "Newer"}, format="json")
    stale = alice_api.patch(
        f"{base}/", {"display_name": "Older", "base_revision": 1}, format="json"
    )
    assert stale.status_code == 409
    assert "Reload" in stale.json()["error"]["message"]
    assert alice_api.get(f"{base}/").json()["display_name"] == "Newer"


def test_copy_error_classifications_between_endpoints(alice_api):
    draft = create(alice_api)
    base = f"{BASE}{draft['id']}"
    manifest = fixture_manifest()
    manifest["endpoints"]["add_users"]["errors"] = [
        {
            "status": 401,
            "sub_code": None,
            "sub_code_path": None,
            "reason": "Unauthorized",
            "message": "Check your API key",
            "action": "fail",
        }
    ]
    alice_api.put(f"{base}/manifest", manifest, format="json")
    copied = alice_api.post(
        f"{base}/copy-errors", {"source": "add_users", "target": "remove_users"}, format="json"
    )
    assert copied.status_code == 200
    exported = json.loads(alice_api.get(f"{base}/manifest").content)
    assert exported["endpoints"]["remove_users"]["errors"][0]["message"] == "Check your API key"
    missing = alice_api.post(
        f"{base}/copy-errors", {"source": "add_users", "target": "update_users"}, format="json"
    )
    assert missing.status_code == 400


def test_duplicate_and_delete(alice_api):
    draft = create(alice_api)
    copy_ = alice_api.post(f"{BASE}{draft['id']}/duplicate").json()
    assert copy_["display_name"] == "Acme Audiences (copy)"
    assert alice_api.post(f"{BASE}{draft['id']}/duplicate").json()["display_name"] == (
        "Acme Audiences (copy 2)"
    )
    assert alice_api.delete(f"{BASE}{copy_['id']}/").status_code == 204
    assert not Integration.objects.filter(pk=copy_["id"]).exists()
    assert AuditEvent.objects.filter(action="integration.deleted").count() == 1


@pytest.mark.parametrize("who", ["bob", "alan", "rita"])
def test_people_without_portal_access_are_refused(cast, api_for, who):
    user = getattr(cast, who)
    org = {"bob": cast.globex, "alan": cast.acme, "rita": None}[who]
    response = api_for(user, org).get(BASE)
    assert response.status_code == 403


def test_unauthenticated_calls_are_401():
    from rest_framework.test import APIClient

    assert APIClient().get(BASE).status_code == 401


def test_manifest_fixtures_are_not_mutated(alice_api):
    manifest = fixture_manifest()
    original = copy.deepcopy(manifest)
    draft = create(alice_api)
    alice_api.put(f"{BASE}{draft['id']}/manifest", manifest, format="json")
    assert manifest == original


def test_the_fingerprint_changes_with_any_edit_and_only_then(alice_api):
    from integrations.manifests import config_fingerprint

    draft = create(alice_api)
    integration = Integration.objects.get(pk=draft["id"])
    first = config_fingerprint(integration)
    assert first == config_fingerprint(Integration.objects.get(pk=draft["id"]))
    alice_api.patch(f"{BASE}{draft['id']}/", {"display_name": "Acme 2"}, format="json")
    assert config_fingerprint(Integration.objects.get(pk=draft["id"])) != first


def test_names_equal_under_the_unique_constraint_are_refused_not_a_crash(alice_api):
    # U+212A KELVIN SIGN lowercases to "k": the uniqueness check must agree with the
    # LOWER() of the database constraint, whatever Unicode case rules say.
    create(alice_api, "kelvin")
    response = alice_api.post(
        BASE, {"display_name": "\u212aelvin", "integration_type": "list"}, format="json"
    )
    assert response.status_code == 409
    assert "already the name of another integration" in response.json()["error"]["message"]


# --- the schema and the server agree ----------------------------------------------------


def test_a_patch_with_no_field_changes_nothing(alice_api):
    created = create(alice_api)
    response = alice_api.patch(f"{BASE}{created['id']}/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["revision"] == created["revision"]
    assert response.json()["display_name"] == "Acme Audiences"
    renamed = alice_api.patch(f"{BASE}{created['id']}/", {"display_name": "Acme Lists"})
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "Acme Lists"


@pytest.mark.parametrize(
    "query, field",
    [
        ("page_size=null", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=201", "page_size"),
        ("page_size=ten", "page_size"),
        ("page=null", "page"),
        ("page=-1", "page"),
        ("type=nonsense", "type"),
        ("status=nonsense", "status"),
    ],
)
def test_list_parameters_outside_the_schema_are_a_400(alice_api, query, field):
    create(alice_api)
    response = alice_api.get(f"{BASE}?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert alice_api.get(f"{BASE}?page_size=1&type=list").status_code == 200


@pytest.mark.parametrize("body", [None, {}, {"manifest": None}, {"manifest": [1]}])
def test_validating_needs_a_manifest_in_the_body(alice_api, body):
    created = create(alice_api)
    response = alice_api.post(f"{BASE}{created['id']}/validate", body, format="json")
    assert response.status_code == 400
    assert "manifest" in response.json()["error"]["fields"]
    assert alice_api.get(f"{BASE}{created['id']}/validate").status_code == 200
