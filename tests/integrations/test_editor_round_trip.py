"""The editor's form and the manifest, both ways: every cookbook manifest (and every
version-1 example) rendered into the editor page and read back from the inputs the page
has is the manifest again, with every version-2 construct shown in an input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations import actions
from integrations.editor.form_state import manifest_from_form
from syncengine.core.manifest.normalize import normalize_manifest, starter_manifest
from syncengine.core.manifest_diff import manifest_diff
from tests.integrations.conftest import fixture_manifest
from tests.integrations.forms import form_values

COOKBOOK = sorted((Path(__file__).resolve().parents[2] / "docs" / "cookbook").glob("*.json"))
VERSION_1 = ["acme_list", "jsonapi_list", "property_basic", "no_auth_minimal"]


def cookbook(path: Path) -> dict:
    return json.loads(path.read_text())


def editor_state(client, manifest: dict, org) -> tuple[dict[str, str], object]:
    """The inputs of the editor page of a draft imported from `manifest`."""
    draft = actions.integration_import(acting_user=None, org=org, manifest=manifest)
    page = client.get(f"/portal/integrations/{draft.pk}/configure")
    assert page.status_code == 200
    return form_values(page.content.decode()), draft


def read_back(state: dict[str, str], manifest: dict, kept=None) -> dict:
    return manifest_from_form(
        state,
        display_name=manifest["display_name"],
        integration_type=manifest["integration_type"],
        kept=kept,
    )


def intercom() -> dict:
    return normalize_manifest(cookbook(next(p for p in COOKBOOK if p.stem == "intercom-tags")))


def without_logo(manifest: dict) -> dict:
    return {key: value for key, value in manifest.items() if key != "logo_png_base64"}


@pytest.mark.parametrize("path", COOKBOOK, ids=lambda path: path.stem)
def test_a_cookbook_manifest_survives_the_editor_form_alone(alice, cast, path):
    manifest = normalize_manifest(cookbook(path))
    state, _ = editor_state(alice, manifest, cast.acme)

    # Nothing is taken from the stored draft: the inputs alone carry every construct.
    again = read_back(state, manifest)

    assert without_logo(again) == without_logo(manifest), manifest_diff(manifest, again)
    assert again["manifest_version"] == 2


@pytest.mark.parametrize("path", COOKBOOK, ids=lambda path: path.stem)
def test_saving_a_cookbook_draft_unchanged_changes_nothing(alice, cast, path):
    manifest = normalize_manifest(cookbook(path))
    state, draft = editor_state(alice, manifest, cast.acme)
    assert without_logo(read_back(state, manifest, kept=draft.config)) == without_logo(manifest)


@pytest.mark.parametrize("name", VERSION_1)
def test_a_version_1_manifest_stays_version_1(alice, cast, name):
    manifest = normalize_manifest(fixture_manifest(name))
    state, draft = editor_state(alice, manifest, cast.acme)
    for kept in (None, draft.config):
        again = read_back(state, manifest, kept=kept)
        assert without_logo(again) == without_logo(manifest), manifest_diff(manifest, again)
        assert again["manifest_version"] == 1
    # A version-1 page offers the parts without holding any of them.
    assert not [key for key in state if key.endswith(".present") and key.count(".") > 2]


def test_every_version_2_construct_of_the_intercom_manifest_has_its_input(alice, cast):
    manifest = intercom()
    state, _ = editor_state(alice, manifest, cast.acme)
    assert state["mapping_fields.0.if_missing"] == "skip"
    assert state["endpoints.remove_users.mode"] == "per_user"
    assert state["endpoints.remove_users.url"] == (
        "https://api.intercom.io/contacts/$partner_id/tags/$list_id"
    )
    assert state["endpoints.remove_users.lookup.key"] == "$email"
    assert state["endpoints.remove_users.lookup.results_path"] == "data"
    assert state["endpoints.remove_users.lookup.not_found"] == "skip"
    assert state["endpoints.add_users.lookup.not_found"] == "create"
    assert state["endpoints.add_users.lookup.create.mode"] == "per_user"
    assert state["endpoints.add_users.lookup.create.partner_id_path"] == "id"
    assert state["endpoints.add_users.lookup.ignore_case"] == "on"
    assert state["endpoints.remove_users.errors.0.status"] == "404"


def test_the_form_makes_version_2_of_a_version_1_draft_as_soon_as_a_construct_is_used():
    manifest = normalize_manifest(starter_manifest("property", "Acme"))
    base = {
        "endpoints.update_users.present": "1",
        "endpoints.update_users.url": "https://api.acme.test/users",
        "endpoints.update_users.payload": '{"users": $items}',
        "endpoints.update_users.item_template": '{"member": "$in_cohort"}',
    }
    assert read_back(base, manifest, kept=manifest)["manifest_version"] == 1
    for change in (
        {"endpoints.update_users.item_template": '{"member": "${in_cohort:string}"}'},
        {"endpoints.update_users.mode": "per_user"},
        {"mapping_fields.0.variable": "email", "mapping_fields.0.if_missing": "omit"},
        {"endpoints.update_users.auth.present": "1", "endpoints.update_users.auth.method": "none"},
    ):
        assert read_back({**base, **change}, manifest, kept=manifest)["manifest_version"] == 2


def test_a_mapping_default_is_any_json_value_and_only_read_with_if_missing_default():
    manifest = normalize_manifest(starter_manifest("property", "Acme"))
    base = {"mapping_fields.0.variable": "plan", "mapping_fields.0.if_missing": "default"}
    for typed, value in (("free", "free"), ('"42"', "42"), ("42", 42), ("null", None)):
        field = read_back({**base, "mapping_fields.0.default": typed}, manifest)["mapping_fields"]
        assert field[0]["default"] == value
    skipped = read_back(
        {**base, "mapping_fields.0.if_missing": "skip", "mapping_fields.0.default": "free"},
        manifest,
    )
    assert "default" not in skipped["mapping_fields"][0]


def test_a_hidden_create_request_is_not_read_unless_not_found_says_create():
    manifest = intercom()
    state = {
        "endpoints.add_users.present": "1",
        "endpoints.add_users.lookup.present": "1",
        "endpoints.add_users.lookup.not_found": "skip",
        "endpoints.add_users.lookup.create.present": "1",
        "endpoints.add_users.lookup.create.url": "https://api.intercom.io/contacts",
    }
    lookup = read_back(state, manifest)["endpoints"]["add_users"]["lookup"]
    assert "create" not in lookup
    state["endpoints.add_users.lookup.not_found"] = "create"
    lookup = read_back(state, manifest)["endpoints"]["add_users"]["lookup"]
    assert lookup["create"]["url"] == "https://api.intercom.io/contacts"


def test_removing_a_part_in_the_form_removes_it_even_with_the_stored_draft_kept(alice, cast):
    manifest = intercom()
    state, draft = editor_state(alice, manifest, cast.acme)
    for key in [k for k in state if k.startswith("endpoints.remove_users.lookup.")]:
        del state[key]
    again = read_back(state, manifest, kept=draft.config)
    assert "lookup" not in again["endpoints"]["remove_users"]
    assert again["endpoints"]["add_users"]["lookup"]["not_found"] == "create"


def test_keys_no_version_knows_inside_a_lookup_are_kept_from_the_stored_draft(alice, cast):
    manifest = intercom()
    state, draft = editor_state(alice, manifest, cast.acme)
    stored = json.loads(json.dumps(draft.config))
    stored["endpoints"]["add_users"]["lookup"]["x_note"] = "kept"
    stored["endpoints"]["add_users"]["lookup"]["create"]["x_note"] = "kept too"
    lookup = read_back(state, manifest, kept=stored)["endpoints"]["add_users"]["lookup"]
    assert lookup["x_note"] == "kept" and lookup["create"]["x_note"] == "kept too"
