"""Numbers typed into the Developer Portal's URLs and forms and the catalogue's: "²" passes
`str.isdigit()` but not `int()`, and a huge number passes `int()` but not the database.
Each is a clear 4xx (or an ignored filter, where the page ignores other bad values) and
changes nothing — never a 500. (The helpers are tested in tests/portal/test_params.py.)
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.models import Destination, Integration
from reviews import decisions
from tests.integrations.conftest import fixture_manifest
from tests.integrations.forms import form_values, state_post

SUPERSCRIPT_TWO = "²"


@pytest.fixture
def submitted(submitted_version):
    return submitted_version


def url(integration: Integration, suffix: str = "") -> str:
    return f"/portal/integrations/{integration.pk}/{suffix}"


def snapshot(integration: Integration) -> tuple:
    fresh = Integration.objects.get(pk=integration.pk)
    return (fresh.config, fresh.revision, fresh.logo_id, fresh.display_name)


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


# --- the catalogue ------------------------------------------------------------------------


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
