"""The editor with a version-2 draft: saving the form loses none of what it does not edit,
and the Testing Integration panel shows every request the draft makes."""

from __future__ import annotations

import json

import pytest

from integrations import actions
from integrations.editor.form_state import manifest_from_form
from integrations.models import Integration
from syncengine.core.manifest.normalize import normalize_manifest
from tests.integrations.conftest import fixture_manifest
from tests.integrations.forms import form_values, state_post


def url(integration: Integration, suffix: str = "") -> str:
    return f"/portal/integrations/{integration.pk}/{suffix}"


@pytest.fixture
def v2_draft(cast):
    return actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest("directory_list")
    )


def rendered_state(client, integration) -> dict[str, str]:
    return form_values(client.get(url(integration, "configure")).content.decode())


def save(client, integration, state) -> Integration:
    response = client.post(
        url(integration, "save"),
        state_post(state, base_revision=integration.revision),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200, response.content
    return Integration.objects.get(pk=integration.pk)


def test_saving_the_rendered_form_keeps_every_version_2_key(alice, v2_draft):
    before = normalize_manifest(v2_draft.config)

    saved = save(alice, v2_draft, rendered_state(alice, v2_draft))

    assert normalize_manifest(saved.config) == before
    assert saved.config["manifest_version"] == 2
    assert saved.config["endpoints"]["add_users"]["lookup"]["create"]["mode"] == "per_user"


def test_an_edit_in_the_form_keeps_the_lookup_and_the_missing_value_policy(alice, v2_draft):
    state = rendered_state(alice, v2_draft)
    state["endpoints.add_users.batch_size"] = "250"
    variable = next(k for k, v in state.items() if k.startswith("mapping_fields.") and v == "email")
    state[variable] = "email_address"  # renamed: its if_missing goes with it

    saved = save(alice, v2_draft, state)

    add = saved.config["endpoints"]["add_users"]
    assert add["batch_size"] == 250 and add["lookup"]["key"] == "$email"
    assert saved.config["mapping_fields"][0]["variable"] == "email_address"
    assert saved.config["mapping_fields"][0]["if_missing"] == "skip"
    # The lookup key still names the old variable: the checks now say so.
    fresh = Integration.objects.get(pk=v2_draft.pk)
    assert fresh.config["endpoints"]["remove_users"]["mode"] == "per_user"


def test_the_form_alone_carries_every_version_2_construct(alice, v2_draft):
    state = rendered_state(alice, v2_draft)
    alone = manifest_from_form(state, display_name="Directory Lists", integration_type="list")
    kept = manifest_from_form(
        state, display_name="Directory Lists", integration_type="list", kept=v2_draft.config
    )
    assert alone["manifest_version"] == 2 and "lookup" in alone["endpoints"]["add_users"]
    assert alone == kept


def test_a_removed_field_takes_its_policy_with_it(alice, v2_draft):
    config = json.loads(json.dumps(v2_draft.config))
    config["mapping_fields"].append(
        {"variable": "plan", "display_name": "Plan", "if_missing": "default", "default": "free"}
    )
    state_source = actions.integration_save(acting_user=None, integration=v2_draft, manifest=config)
    state = rendered_state(alice, state_source)
    for key in [k for k in state if k.startswith("mapping_fields.1.")]:
        del state[key]

    saved = save(alice, state_source, state)

    assert [f["variable"] for f in saved.config["mapping_fields"]] == ["email"]
    assert saved.config["mapping_fields"][0]["if_missing"] == "skip"


def test_the_panel_previews_every_request_in_the_order_they_are_sent(alice, v2_draft):
    body = alice.post(url(v2_draft, "preview"), state_post(rendered_state(alice, v2_draft)))
    assert body.status_code == 200
    panel = body.json()["panel"]
    order = [
        "tp-req-create_list-find",
        "tp-req-create_list",
        "tp-req-add_users-lookup",
        "tp-req-add_users-create",
        "tp-req-add_users",
        "tp-req-remove_users-lookup",
        "tp-req-remove_users",
    ]
    positions = [panel.index(f'id="{anchor}"') for anchor in order]
    assert positions == sorted(positions)
    assert "Add users endpoint › lookup" in panel
    assert "Sent once per user: 3 requests, one per sample user." in panel
    assert 'id="curl-add_users-lookup"' in panel
    assert "sample-partner-id-1" in panel


def test_the_connect_modal_says_what_a_missing_value_does_and_hides_override_credentials():
    from integrations.editor.modal import connect_modal

    manifest = fixture_manifest("directory_list")
    manifest["custom_fields"].append({"variable": "admin_token", "display_name": "Admin token"})
    manifest["endpoints"]["remove_users"]["auth"] = {
        "method": "bearer",
        "token_variable": "admin_token",
    }
    modal = connect_modal(normalize_manifest(manifest))
    (email,) = modal["mappings"]
    assert "Users without this property are not sent" in email["help_text"]
    admin = next(field for field in modal["fields"] if field["variable"] == "admin_token")
    assert admin["secret"] is True
