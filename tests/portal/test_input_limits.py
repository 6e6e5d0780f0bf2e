"""Input past the platform's limits is a 400 (or 413) that says where, and changes nothing:
JSON nested deeper than 64 levels wherever JSON enters (the API's parser, manifest files
and the actions, the editor's state), bodies larger than their address accepts (judged by
Content-Length before the body is read), both CSV fields of the test settings; a refused
CSRF token is the normal 403 page, and an API page whose session check drops the user
still renders."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory

from integrations import actions
from integrations.models import Integration
from portal import actions as portal_actions
from portal.errors import ActionError
from portal.middleware_input import body_limit
from portal.models import CohortMember
from syncengine.core.diagnostic_codes import TOO_DEEP
from syncengine.core.json_depth import MAX_JSON_DEPTH, TOO_DEEP_MESSAGE, find_too_deep
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import ManifestError, load_manifest
from syncengine.models import TestSettings
from tests.integrations.conftest import fixture_manifest, png_bytes
from tests.integrations.forms import form_values, state_post

# Past what Python's JSON decoder follows (it stops with RecursionError near 1,000).
DECODER_BREAKING = 5_000


def nested(levels: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def nested_text(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


@pytest.fixture
def draft(cast):
    return actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest("acme_list")
    )


def snapshot(integration: Integration) -> tuple:
    fresh = Integration.objects.get(pk=integration.pk)
    return fresh.config, fresh.revision, fresh.logo_id, fresh.display_name


# --------------------------------------------------------------------------------------
# The walk and the manifest checks (pure core)


def test_find_too_deep_names_the_first_level_too_many():
    assert find_too_deep(nested(MAX_JSON_DEPTH)) is None
    assert find_too_deep(nested(MAX_JSON_DEPTH + 1)) == (0,) * MAX_JSON_DEPTH
    assert find_too_deep({"a": nested(MAX_JSON_DEPTH - 1)}) is None
    assert find_too_deep({"ok": [1], "a": nested(MAX_JSON_DEPTH)}) == ("a", *[0] * 63)


def test_check_manifest_reports_deep_nesting_instead_of_raising():
    manifest = {**fixture_manifest("acme_list"), "extra": nested(2_000)}
    (problem,) = check_manifest(manifest)
    assert problem.code == TOO_DEEP and problem.path == "extra" + ".0" * 63
    assert problem.message == TOO_DEEP_MESSAGE


@pytest.mark.parametrize("levels", [100, DECODER_BREAKING])
def test_a_deep_manifest_file_is_refused_with_the_place(levels):
    text = json.dumps({"display_name": "x", "extra": "PLACEHOLDER"})
    with pytest.raises(ManifestError) as caught:
        load_manifest(text.replace('"PLACEHOLDER"', nested_text(levels)))
    (problem,) = caught.value.diagnostics
    assert problem.code == TOO_DEEP and TOO_DEEP_MESSAGE in problem.message
    if levels == 100:
        assert problem.path == "extra" + ".0" * 63


# --------------------------------------------------------------------------------------
# The API's JSON parser


@pytest.mark.parametrize("levels", [100, DECODER_BREAKING])
def test_api_import_of_deep_json_is_a_400_naming_the_place(cast, alice_api, draft, levels):
    body = json.dumps({**fixture_manifest("property_basic"), "extra": "PLACEHOLDER"})
    body = body.replace('"PLACEHOLDER"', nested_text(levels))
    response = alice_api.post("/api/v1/integrations/import", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parse_error"
    expected_place = "extra" + "[0]" * 63 if levels == 100 else "(body)"
    assert error["message"] == f"{expected_place}: {TOO_DEEP_MESSAGE}"
    assert Integration.objects.count() == 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("put", "/api/v1/integrations/{draft}/manifest"),
        ("post", "/api/v1/integrations/{draft}/validate"),
        ("post", "/api/v1/integrations/{draft}/preview"),
        ("put", "/api/v1/integrations/{draft}/test-settings"),
    ],
)
def test_every_json_api_operation_refuses_deep_json(cast, alice_api, draft, method, path):
    before = snapshot(draft)
    response = getattr(alice_api, method)(
        path.format(draft=draft.pk), nested_text(DECODER_BREAKING), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"(body): {TOO_DEEP_MESSAGE}"
    assert snapshot(draft) == before
    assert not TestSettings.objects.exists()


def test_members_api_refuses_deep_json(cast, alice_api):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="VIPs"
    )
    body = {"members": [{"user_id": "a", "plan": nested(200)}]}
    response = alice_api.post(
        f"/api/v1/cohorts/{cohort.public_id}/members/add", body, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("members[0].plan[0][0]")
    assert not CohortMember.objects.exists()


def test_multipart_test_settings_values_refuse_deep_json_text(cast, alice_api, draft):
    response = alice_api.put(
        f"/api/v1/integrations/{draft.pk}/test-settings",
        {"values": json.dumps({"x": nested(100)})},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["values"] == [f"{TOO_DEEP_MESSAGE}."]
    assert not TestSettings.objects.exists()


# --------------------------------------------------------------------------------------
# Manifest files on the pages, and the actions


def test_importing_a_deep_manifest_file_creates_nothing(cast, client_for, draft):
    text = json.dumps({**fixture_manifest("property_basic"), "extra": "PLACEHOLDER"})
    upload = SimpleUploadedFile(
        "m.json", text.replace('"PLACEHOLDER"', nested_text(DECODER_BREAKING)).encode()
    )
    response = client_for(cast.alice).post("/portal/import", {"file": upload}, follow=True)
    assert TOO_DEEP_MESSAGE in response.content.decode()
    assert Integration.objects.count() == 1


def test_the_actions_refuse_a_deep_manifest_naming_the_path(cast, draft):
    before = snapshot(draft)
    deep = {**fixture_manifest("acme_list"), "extra": nested(600)}
    with pytest.raises(ActionError) as caught:
        actions.integration_save(
            acting_user=cast.alice, integration=draft, manifest=deep, autosave=True
        )
    assert caught.value.message.startswith("extra.0.0.0") and TOO_DEEP_MESSAGE in (
        caught.value.message
    )
    with pytest.raises(ActionError, match="must not nest"):
        actions.integration_import(acting_user=cast.alice, org=cast.acme, manifest=deep)
    assert snapshot(draft) == before
    assert Integration.objects.count() == 1


# --------------------------------------------------------------------------------------
# The editor's form state


@pytest.mark.parametrize("call", ["save", "preview", "copy-errors"])
def test_an_editor_state_nested_too_deep_is_a_400_naming_the_state(cast, client_for, draft, call):
    before = snapshot(draft)
    response = client_for(cast.alice).post(
        f"/portal/integrations/{draft.pk}/{call}",
        {"state": nested_text(DECODER_BREAKING), "base_revision": str(draft.revision)},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "state" and TOO_DEEP_MESSAGE in error["message"]
    assert snapshot(draft) == before


def test_remembered_auth_settings_nested_too_deep_are_refused(cast, client_for, draft):
    alice = client_for(cast.alice)
    state = form_values(alice.get(f"/portal/integrations/{draft.pk}/configure").content.decode())
    response = alice.post(
        f"/portal/integrations/{draft.pk}/auth-method",
        {**state_post(state), "remembered": nested_text(DECODER_BREAKING)},
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "remembered"


# --------------------------------------------------------------------------------------
# Body sizes


def raw_request(server_url: str, head: str, first_bytes: bytes) -> bytes:
    """Send a request's head and the first bytes of its body, then read what the server
    answers without sending the rest."""
    address = urlsplit(server_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(head.encode() + first_bytes)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.django_db(transaction=True)
def test_a_50_mb_logo_is_refused_by_its_length_before_it_is_sent(cast, live_server, client_for):
    alice = client_for(cast.alice)
    draft = actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest("acme_list")
    )
    session = alice.cookies["sessionid"].value
    declared = 50 * 1024 * 1024
    head = (
        f"POST /api/v1/integrations/{draft.pk}/logo HTTP/1.1\r\n"
        f"Host: {urlsplit(live_server.url).netloc}\r\n"
        f"Cookie: sessionid={session}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    # Only the first kilobyte is ever sent: the answer comes without the rest.
    answer = raw_request(live_server.url, head, b"--xyz\r\n" + b"\x89PNG" + b"0" * 1024)
    status_line = answer.partition(b"\r\n")[0]
    assert status_line.split()[1] == b"413", answer[:300]
    assert Integration.objects.get(pk=draft.pk).logo_id is None


def test_each_address_has_its_body_limit(cast, client_for, draft):
    alice = client_for(cast.alice)
    logo = SimpleUploadedFile("logo.png", png_bytes(128, 128), "image/png")
    # Declared sizes only: the middleware answers before reading.
    too_big_logo = alice.post(
        f"/portal/integrations/{draft.pk}/logo", {"logo": logo}, CONTENT_LENGTH=str(2 * 1024**2)
    )
    assert too_big_logo.status_code == 413
    assert "accepts at most 1.1 MB" in too_big_logo.content.decode()
    too_big_form = alice.post(
        f"/portal/integrations/{draft.pk}/save",
        {"state": "{}"},
        CONTENT_LENGTH=str(11 * 1024**2),
    )
    assert too_big_form.status_code == 413
    # A cohort CSV may be far larger than a form.
    assert body_limit(RequestFactory().post("/cohorts/abc/upload")) > 200 * 1024**2
    api = alice.post(
        "/api/v1/integrations/import", "{}", "application/json", CONTENT_LENGTH=str(20 * 1024**2)
    )
    assert api.status_code == 413
    assert api.json()["error"]["code"] == "too_large"
    assert snapshot(draft)[2] is None


def test_a_logo_of_normal_size_is_still_taken(cast, client_for, draft):
    logo = SimpleUploadedFile("logo.png", png_bytes(128, 128), "image/png")
    response = client_for(cast.alice).post(f"/portal/integrations/{draft.pk}/logo", {"logo": logo})
    assert response.status_code == 302
    assert Integration.objects.get(pk=draft.pk).logo_id is not None


# --------------------------------------------------------------------------------------
# Smaller 500s: both CSV fields, CSRF failures, the API docs page


def test_test_settings_with_both_csv_fields_is_a_400(cast, alice_api, draft):
    csv = SimpleUploadedFile("users.csv", b"user_id,operation\na,add\n", "text/csv")
    response = alice_api.put(
        f"/api/v1/integrations/{draft.pk}/test-settings",
        {"csv": csv, "csv_text": "user_id,operation\nb,add\n", "users_source": "csv"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "not both" in response.json()["error"]["fields"]["csv_text"][0]
    assert not TestSettings.objects.exists()


def test_a_post_without_its_csrf_token_is_the_normal_403_page(cast):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.alice)
    response = browser.post("/org/invite", {"email": "new@acme.test", "role": "member"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>No access</h1>" in html and "security token is missing or out of date" in html
    assert "Acme Audiences" in html  # the page's own layout, with the navigation


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_api_docs_refuse_a_session_post_without_csrf_without_a_500(cast, method):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.alice)
    response = getattr(browser, method)("/api/docs/")
    assert response.status_code in (403, 405)
