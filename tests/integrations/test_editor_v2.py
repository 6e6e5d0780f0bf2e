"""The editor with a version-2 draft: saving the form loses none of what it does not edit,
and the Testing Integration panel shows every request the draft makes."""

from __future__ import annotations

import json
from pathlib import Path

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


# --------------------------------------------------------------------------------------
# Building version-2 constructs through the editor's live calls

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "cookbook"


def cookbook(name: str) -> dict:
    return json.loads((COOKBOOK / f"{name}.json").read_text())


@pytest.fixture
def intercom_draft(cast):
    """The Intercom cookbook draft whose remove endpoint is still version 1."""
    manifest = cookbook("intercom-tags")
    manifest["endpoints"]["remove_users"] = {
        "method": "POST",
        "url": "https://api.intercom.io/tags",
        "headers": {"Intercom-Version": "2.11"},
        "payload": '{"users": $items}',
        "item_template": '{"email": "$email"}',
    }
    return actions.integration_import(acting_user=cast.alice, org=cast.acme, manifest=manifest)


def add_part(client, integration, state, path) -> dict[str, str]:
    """The inputs of the part the editor fetches for `path`, as the form would post them."""
    response = client.post(url(integration, "part"), state_post(state, path=path))
    assert response.status_code == 200, response.content
    html = response.content.decode()
    return form_values(f'<form id="editor-form">{html}</form>')


def preview(client, integration, state) -> dict:
    response = client.post(url(integration, "preview"), state_post(state))
    assert response.status_code == 200, response.content
    return response.json()


def test_a_lookup_added_in_the_editor_starts_from_the_draft_and_is_previewed(alice, intercom_draft):
    state = rendered_state(alice, intercom_draft)
    assert "endpoints.remove_users.lookup.present" not in state
    lookup = add_part(alice, intercom_draft, state, "endpoints.remove_users.lookup")

    prefix = "endpoints.remove_users.lookup"
    assert lookup[f"{prefix}.present"] == "1"
    assert lookup[f"{prefix}.key"] == "$email"  # the draft's first mapping field
    assert lookup[f"{prefix}.item_template"] == '"$email"'
    assert lookup[f"{prefix}.url"] == "https://api.intercom.io/search"  # the endpoint's host
    assert (lookup[f"{prefix}.headers.0.name"], lookup[f"{prefix}.headers.0.value"]) == (
        "Intercom-Version",
        "2.11",
    )
    assert lookup[f"{prefix}.not_found"] == "skip"
    assert unchanged_config(intercom_draft)  # fetching a part saves nothing

    state.update(lookup)
    state["endpoints.remove_users.item_template"] = '{"id": "$partner_id"}'
    body = preview(alice, intercom_draft, state)
    assert 'id="tp-req-remove_users-lookup"' in body["panel"]
    remove_request = body["panel"].split('id="tp-req-remove_users"', 1)[1]
    assert "sample-partner-id-3" in remove_request
    saved = save(alice, intercom_draft, state)
    assert saved.config["endpoints"]["remove_users"]["lookup"]["key"] == "$email"


def unchanged_config(integration: Integration) -> bool:
    fresh = Integration.objects.get(pk=integration.pk)
    return (fresh.config, fresh.revision) == (integration.config, integration.revision)


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("endpoints.add_users.lookup.create", "endpoints.add_users.lookup.create.mode", "per_user"),
        ("endpoints.create_list.find", "endpoints.create_list.find.match", "$cohort_name"),
        ("endpoints.create_list.find", "endpoints.create_list.find.method", "GET"),
        ("endpoints.remove_users.auth", "endpoints.remove_users.auth.method", "bearer"),
        (
            "endpoints.add_users.lookup.auth",
            "endpoints.add_users.lookup.auth.token_variable",
            "access_token",
        ),
    ],
)
def test_every_kind_of_part_can_be_added(alice, intercom_draft, path, name, value):
    part = add_part(alice, intercom_draft, rendered_state(alice, intercom_draft), path)
    assert part[f"{path}.present"] == "1"
    assert part[name] == value


@pytest.mark.parametrize(
    "path",
    [
        "",
        "endpoints.create_list.lookup",
        "endpoints.add_users.find",
        "endpoints.add_users.lookup.lookup",
        "endpoints.update_users.auth.auth",
        "endpoints.nope.lookup",
        "custom_fields.0",
        "auth",
    ],
)
def test_a_part_where_none_can_go_is_refused_and_changes_nothing(alice, intercom_draft, path):
    state = rendered_state(alice, intercom_draft)
    response = alice.post(url(intercom_draft, "part"), state_post(state, path=path))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "path"
    assert unchanged_config(intercom_draft)


def test_a_malformed_state_for_a_part_is_refused(alice, intercom_draft):
    response = alice.post(
        url(intercom_draft, "part"), {"state": "{", "path": "endpoints.add_users.lookup"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "state"


def test_saving_version_2_constructs_from_the_form_makes_a_version_2_draft(alice, draft):
    state = rendered_state(alice, draft)
    assert draft.config["manifest_version"] == 1
    state["endpoints.remove_users.mode"] = "per_user"
    state["endpoints.remove_users.payload"] = '{"user": $item}'
    state["endpoints.add_users.item_template"] = '"${user_id_field_amplitude:string}"'
    mapping = next(k for k in state if k.endswith(".variable") and k.startswith("mapping_"))
    state[mapping.replace(".variable", ".if_missing")] = "skip"

    saved = save(alice, draft, state)

    assert saved.config["manifest_version"] == 2
    assert saved.config["endpoints"]["remove_users"]["mode"] == "per_user"
    assert saved.config["mapping_fields"][0]["if_missing"] == "skip"
    panel = preview(alice, saved, rendered_state(alice, saved))["panel"]
    assert panel.count('class="req-user"') == 3
    assert "per user × 3" in panel
    # The tracker names the modifier and the policy.
    assert ":string</code>" in panel and "if missing: skip" in panel


def test_diagnostics_of_a_lookup_land_on_its_inputs_with_line_and_column(alice, intercom_draft):
    state = rendered_state(alice, intercom_draft)
    prefix = "endpoints.add_users.lookup"
    state[f"{prefix}.payload"] = '{"query": {"value": $itemz}}'
    state[f"{prefix}.headers.1.name"] = "Content-Length"
    state[f"{prefix}.create.item_template"] = '{"n": "${email:strng}"}'
    state[f"{prefix}.create.mode"] = "batch"

    problems = preview(alice, intercom_draft, state)["data"]["problems"]
    by_target = {(p["target"], p["line"], p["column"]): p["message"] for p in problems}

    assert "$itemz" in by_target[(f"{prefix}.payload", 1, 21)]
    assert "set by the platform" in by_target[(f"{prefix}.headers.1.name", None, None)]
    assert "unknown modifier 'strng'" in by_target[(f"{prefix}.create.item_template", 1, 8)]
    summary = alice.post(url(intercom_draft, "preview"), state_post(state)).json()["summary"]
    assert "Add users › lookup › payload, line 1, column 21" in summary
    assert "Add users › lookup › create request › item template, line 1, column 8" in summary
    assert unchanged_config(intercom_draft)


def test_saving_refuses_nothing_the_checks_report_and_keeps_it_as_typed(alice, intercom_draft):
    state = rendered_state(alice, intercom_draft)
    state["endpoints.add_users.lookup.batch_size"] = "lots"
    saved = save(alice, intercom_draft, state)
    assert saved.config["endpoints"]["add_users"]["lookup"]["batch_size"] == "lots"
    problems = preview(alice, saved, rendered_state(alice, saved))["data"]["problems"]
    assert any(p["target"] == "endpoints.add_users.lookup.batch_size" for p in problems)


# --------------------------------------------------------------------------------------
# What the panel and the problem links make of version 2 (pure)


def test_paths_below_an_endpoint_are_described_in_words():
    from integrations.editor.paths import describe_path, input_path

    assert describe_path("endpoints.add_users.lookup.create.payload") == (
        "Add users › lookup › create request › payload"
    )
    assert describe_path("endpoints.create_list.find.errors.0.status") == (
        "Create list › find request › error classification 1 › status"
    )
    assert describe_path("endpoints.remove_users.auth.token_variable") == (
        "Remove users › own credentials › token variable"
    )
    manifest = normalize_manifest(cookbook("intercom-tags"))
    header = "endpoints.add_users.lookup.create.headers.Accept"
    assert input_path(header, manifest) == "endpoints.add_users.lookup.create.headers.1.value"
    assert input_path("endpoints.add_users.lookup.headers.Nope", manifest) == (
        "endpoints.add_users.lookup.headers"
    )
    # A header called like a request keeps its place.
    manifest["endpoints"]["add_users"]["headers"] = {"lookup": "1"}
    assert input_path("endpoints.add_users.headers.lookup", manifest) == (
        "endpoints.add_users.headers.0.value"
    )


def test_completions_reach_every_request_and_follow_its_mode():
    from integrations.editor.completions import variable_suggestions

    manifest = normalize_manifest(cookbook("intercom-tags"))
    manifest["endpoints"]["remove_users"]["auth"] = {
        "method": "api_key_header",
        "header_name": "Authorization",
        "value_template": "Basic ${access_token:base64}",
    }
    names = {
        key: {item["name"] for item in items}
        for key, items in variable_suggestions(manifest).items()
    }
    assert "email" in names["endpoints.add_users.lookup.key"]
    assert "items" in names["endpoints.add_users.lookup.payload"]
    assert "email" in names["endpoints.add_users.lookup.create.payload"]  # per user
    assert "email" not in names["endpoints.add_users.lookup.payload"]  # a batch
    assert "partner_id" in names["endpoints.remove_users.url"]  # per user, with a lookup
    assert "partner_id" not in names["endpoints.add_users.lookup.item_template"]
    assert "access_token" in names["endpoints.remove_users.auth.value_template"]
    assert "email" not in names["endpoints.remove_users.auth.value_template"]


def test_typed_placeholders_and_the_batch_in_a_url_render_in_the_preview_and_curl(alice, cast):
    import html

    sendgrid = actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=cookbook("sendgrid-lists")
    )
    panel = html.unescape(preview(alice, sendgrid, rendered_state(alice, sendgrid))["panel"])
    remove = panel.split('id="tp-req-remove_users"', 1)[1]
    joined = "contact_ids=sample-partner-id-1,sample-partner-id-2,sample-partner-id-3"
    assert f"/lists/sample-list-id-123/contacts?{joined}</code>" in remove
    assert (
        f"curl -X DELETE 'https://api.sendgrid.com/v3/marketing/lists/sample-list-id-123/contacts?{joined}'"
        in remove
    )
    assert ":join(,)</code>" in panel.split('data-variable="items"', 1)[1]  # the tracker

    hubspot = actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=cookbook("hubspot-contact-property")
    )
    state = rendered_state(alice, hubspot)
    assert state["endpoints.update_users.item_template"].count(":string}") == 2
    panel = html.unescape(preview(alice, hubspot, state)["panel"])
    update = panel.split('id="tp-req-update_users"', 1)[1]
    assert '"amplitude_cohort_member": "true"' in update  # a string, not true
    assert '"amplitude_cohort_member":"true"' in update  # the curl body
    assert ":string</code>" in panel  # the tracker shows the modifier
