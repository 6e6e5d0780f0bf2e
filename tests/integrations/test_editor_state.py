"""The editor's form state <-> manifest translation and the panels' data (pure, no database)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# A module, not the function: pytest would collect `testing_panel` as a test.
from integrations.editor import panel as editor_panel
from integrations.editor.auth_switch import auth_settings, switch_auth
from integrations.editor.completions import variable_suggestions
from integrations.editor.form_rows import editor_form
from integrations.editor.form_state import FormStateError, manifest_from_form, read_form_state
from integrations.editor.modal import connect_modal
from integrations.editor.panel import example_list_response
from integrations.editor.paths import describe_path, input_path
from integrations.editor.revision_diff import revision_diff
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import normalize_manifest, starter_manifest
from syncengine.core.manifest_diff import manifest_diff
from tests.integrations.conftest import fixture_manifest


def build(state: dict, kind: str = "list", **options) -> dict:
    return manifest_from_form(state, display_name="Acme", integration_type=kind, **options)


def form_state_of(manifest: dict) -> dict[str, str]:
    """What the editor form posts for a manifest (mirrors the template's inputs)."""
    form = editor_form(manifest)
    state: dict[str, str] = {"auth.method": form["auth"]["method"]}
    if form["auth"]["method"] == "api_key_header":
        state["auth.header_name"] = form["auth"]["header_name"]
        state["auth.value_template"] = form["auth"]["value_template"]
    for key, value in form["auth"]["hidden"].items():
        state[f"auth.{key}"] = value
    for i, field in enumerate(form["custom_fields"]):
        p = f"custom_fields.{i}"
        state.update(
            {
                f"{p}.variable": field["variable"],
                f"{p}.display_name": field["display_name"],
                f"{p}.type": field["type"],
                f"{p}.help_text": field["help_text"],
                f"{p}.default": field["default_text"],
                f"{p}.auth_role": field["auth_role"],
                f"{p}.default_option": field["default_choice"],
            }
        )
        if field["required"]:
            state[f"{p}.required"] = "on"
        if field["secret"]:
            state[f"{p}.secret"] = "on"
        for j, option in enumerate(field["options"]):
            state[f"{p}.options.{j}.value"] = option["value"]
            state[f"{p}.options.{j}.label"] = option["label"]
    for i, field in enumerate(form["mapping_fields"]):
        p = f"mapping_fields.{i}"
        state.update(
            {
                f"{p}.variable": field["variable"],
                f"{p}.display_name": field["display_name"],
                f"{p}.type": field["type"],
                f"{p}.help_text": field["help_text"],
            }
        )
        if field["required"]:
            state[f"{p}.required"] = "on"
        for j, option in enumerate(field["options"]):
            state[f"{p}.options.{j}"] = option
    for endpoint in form["endpoints"]:
        p = f"endpoints.{endpoint['name']}"
        state.update(
            {
                f"{p}.present": "1",
                f"{p}.method": endpoint["method"],
                f"{p}.url": endpoint["url"],
                f"{p}.payload": endpoint["payload"],
            }
        )
        if endpoint["is_batch"]:
            state[f"{p}.item_template"] = endpoint["item_template"]
            state[f"{p}.batch_size"] = endpoint["batch_size"]
        else:
            state[f"{p}.list_id_path"] = endpoint["list_id_path"]
        for j, header in enumerate(endpoint["headers"]):
            state[f"{p}.headers.{j}.name"] = header["name"]
            state[f"{p}.headers.{j}.value"] = header["value"]
        for j, error in enumerate(endpoint["errors"]):
            for key in ("status", "sub_code", "sub_code_path", "reason", "message", "action"):
                state[f"{p}.errors.{j}.{key}"] = error[key]
    if form["slugify_cohort_name"]:
        state["slugify_cohort_name"] = "on"
    state["delivery.max_concurrency"] = form["delivery"]["max_concurrency"]
    state["delivery.requests_per_second"] = form["delivery"]["requests_per_second"]
    if form["delivery"]["sign_requests"]:
        state["delivery.sign_requests"] = "on"
    return state


# --------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("name", ["acme_list", "jsonapi_list", "property_basic", "no_auth_minimal"])
def test_every_fixture_survives_the_form(name):
    manifest = normalize_manifest(fixture_manifest(name))
    manifest.pop("logo_png_base64")
    again = manifest_from_form(
        form_state_of(manifest),
        display_name=manifest["display_name"],
        integration_type=manifest["integration_type"],
    )
    again.pop("logo_png_base64")
    assert again == manifest, manifest_diff(manifest, again)


@pytest.mark.parametrize("kind", ["list", "property"])
def test_a_starter_draft_survives_the_form(kind):
    manifest = starter_manifest(kind, "Acme")
    assert build(form_state_of(manifest), kind) == manifest


def test_a_half_typed_draft_keeps_what_the_checks_must_report():
    state = {
        "auth.method": "none",
        "endpoints.update_users.present": "1",
        "endpoints.update_users.url": "https://x.test",
        "endpoints.update_users.payload": '{"u": $items',
        "endpoints.update_users.batch_size": "12a",
        "endpoints.update_users.errors.0.status": "",
        "delivery.max_concurrency": "9",
        "delivery.requests_per_second": "fast",
    }
    manifest = build(state, "property")
    endpoint = manifest["endpoints"]["update_users"]
    assert endpoint["batch_size"] == "12a"
    assert endpoint["errors"][0]["status"] == ""
    assert manifest["delivery"] == {
        "max_concurrency": 9,
        "requests_per_second": "fast",
        "sign_requests": False,
    }
    paths = {d.path for d in check_manifest(manifest) if d.is_error}
    assert {
        "endpoints.update_users.payload",
        "endpoints.update_users.batch_size",
        "endpoints.update_users.errors.0.status",
        "delivery.max_concurrency",
        "delivery.requests_per_second",
    } <= paths


# --------------------------------------------------------------------------------------
# Reading single inputs


def test_numbers_are_typed_and_empty_values_mean_the_default():
    state = {
        "endpoints.add_users.present": "1",
        "endpoints.add_users.batch_size": " 500 ",
        "endpoints.create_list.present": "1",
        "endpoints.create_list.list_id_path": "",
        "delivery.requests_per_second": "2.5",
    }
    manifest = build(state)
    assert manifest["endpoints"]["add_users"]["batch_size"] == 500
    assert manifest["endpoints"]["create_list"]["list_id_path"] == "listId"
    assert manifest["delivery"]["requests_per_second"] == 2.5
    assert build({"endpoints.add_users.present": "1"})["endpoints"]["add_users"]["batch_size"] == (
        10_000
    )


def test_rows_are_read_in_index_order_and_blank_header_rows_are_dropped():
    state = {
        "custom_fields.10.variable": "second",
        "custom_fields.2.variable": "first",
        "endpoints.add_users.headers.0.name": "X-Version",
        "endpoints.add_users.headers.0.value": "2",
        "endpoints.add_users.headers.1.name": "",
        "endpoints.add_users.headers.1.value": "",
    }
    manifest = build(state)
    assert [f["variable"] for f in manifest["custom_fields"]] == ["first", "second"]
    assert manifest["endpoints"]["add_users"]["headers"] == {"X-Version": "2"}


def test_select_defaults_come_from_the_chosen_option_row():
    base = {
        "custom_fields.0.variable": "region",
        "custom_fields.0.type": "single_select",
        "custom_fields.0.options.0.value": "us",
        "custom_fields.0.options.1.value": "eu",
        "custom_fields.0.options.1.label": "Europe",
    }
    chosen = build({**base, "custom_fields.0.default_option": "custom_fields.0.options.1"})
    field = chosen["custom_fields"][0]
    assert field["default"] == "eu"
    assert field["options"] == [{"value": "us", "label": "us"}, {"value": "eu", "label": "Europe"}]
    assert build(base)["custom_fields"][0]["default"] is None
    raw = build({**base, "custom_fields.0.default_option": "raw:gone"})
    assert raw["custom_fields"][0]["default"] == "gone"


def test_options_and_secrets_follow_the_field_type():
    state = {
        "custom_fields.0.variable": "token",
        "custom_fields.0.type": "string",
        "custom_fields.0.secret": "on",
        "custom_fields.0.options.0.value": "left over from a select",
        "custom_fields.1.variable": "env",
        "custom_fields.1.type": "button_group",
        "custom_fields.1.secret": "on",
        "custom_fields.1.options.0.value": "live",
    }
    token, env = build(state)["custom_fields"]
    assert token["secret"] is True and "options" not in token
    assert env["secret"] is False and env["options"] == [{"value": "live", "label": "live"}]


def test_renaming_an_auth_field_renames_what_auth_reads():
    state = {
        "auth.method": "basic",
        "custom_fields.0.variable": "key",
        "custom_fields.0.auth_role": "username_variable",
    }
    auth = build(state)["auth"]
    # The optional secret field was removed: Basic auth then sends no password.
    assert auth == {"method": "basic", "username_variable": "key", "password_variable": None}


def test_the_form_state_is_read_from_json_or_from_a_plain_post():
    assert read_form_state({"state": json.dumps({"a": "1"})}) == {"a": "1"}
    assert read_form_state({"a": "1"}) == {"a": "1"}
    for bad in ("{", "[]", json.dumps({"a": 1})):
        with pytest.raises(FormStateError):
            read_form_state({"state": bad})


# --------------------------------------------------------------------------------------
# Switching the auth method


def variables(manifest: dict) -> list[str]:
    return [field["variable"] for field in manifest["custom_fields"]]


def test_bearer_to_basic_renames_the_token_and_adds_the_secret():
    manifest = fixture_manifest("acme_list")  # bearer_token, region
    switched = switch_auth(manifest, "basic")
    assert variables(switched) == ["api_key", "secret_key", "region"]
    assert switched["auth"] == {
        "method": "basic",
        "username_variable": "api_key",
        "password_variable": "secret_key",
    }


def test_basic_to_bearer_replaces_both_fields_by_one():
    switched = switch_auth(fixture_manifest("property_basic"), "bearer")
    assert variables(switched) == ["bearer_token", "workspace", "env"]


def test_none_to_bearer_adds_the_field_first_and_back_removes_it():
    manifest = {**fixture_manifest("acme_list"), "auth": {"method": "none"}}
    manifest["custom_fields"] = manifest["custom_fields"][1:]
    bearer = switch_auth(manifest, "bearer")
    assert variables(bearer) == ["bearer_token", "region"]
    assert variables(switch_auth(bearer, "none")) == ["region"]


def test_switching_never_declares_a_variable_twice():
    manifest = fixture_manifest("jsonapi_list")  # api_key read by the header template
    manifest["custom_fields"].append({"variable": "secret_key", "display_name": "Mine"})
    switched = switch_auth(manifest, "basic")
    assert variables(switched) == ["api_key", "secret_key"]
    assert switched["custom_fields"][1]["display_name"] == "Mine"
    assert not [d for d in check_manifest(switched) if d.code == "duplicate_variable"]


def test_coming_back_to_a_method_restores_its_fields_as_the_partner_left_them():
    manifest = fixture_manifest("acme_list")  # bearer_token, region
    manifest["custom_fields"][0].update(display_name="API token", help_text="From Settings")
    left = auth_settings(manifest)
    assert left["auth"]["method"] == "bearer" and len(left["fields"]) == 1

    basic = switch_auth(manifest, "basic")
    back = switch_auth(basic, "bearer", left)
    assert back == normalize_manifest(manifest)
    # What was remembered for another method, or is malformed, gives the defaults.
    assert (
        switch_auth(basic, "bearer", {"auth": {"method": "basic"}, "fields": []})["custom_fields"][
            0
        ]["display_name"]
        == "Bearer Token"
    )
    assert variables(switch_auth(basic, "bearer", "junk")) == ["bearer_token", "region"]


def test_an_unknown_auth_method_is_refused():
    with pytest.raises(ValueError, match="unknown auth method"):
        switch_auth(fixture_manifest("acme_list"), "oauth")


# --------------------------------------------------------------------------------------
# Presenting diagnostics, the tracker and the previews


def test_paths_are_described_in_words():
    manifest = fixture_manifest("acme_list")
    assert (
        describe_path("custom_fields.1.variable", manifest) == "Custom field 2 (Region) › variable"
    )
    assert describe_path("endpoints.add_users.item_template") == ("Add users › item template")
    assert describe_path("endpoints.create_list.errors.0.status") == (
        "Create list › error classification 1 › status"
    )
    assert describe_path("delivery.max_concurrency") == "Delivery › max concurrency"


def test_header_diagnostics_point_at_their_row():
    manifest = normalize_manifest(fixture_manifest("jsonapi_list"))
    path = "endpoints.add_users.headers.Content-Type"
    assert input_path(path, manifest) == "endpoints.add_users.headers.1.value"
    assert input_path(path, manifest, "reserved_header") == ("endpoints.add_users.headers.1.name")
    assert input_path("auth.token_variable", manifest) == "auth"


def test_an_undeclared_variable_is_a_tracker_problem_with_a_link_to_its_use():
    manifest = fixture_manifest("acme_list")
    manifest["endpoints"]["create_list"]["url"] = "https://api.acme.test/$regoin/lists"
    panel = editor_panel.testing_panel(manifest)
    row = next(r for r in panel["tracker_rows"] if r["variable"] == "regoin")
    assert row["status"] == "error" and row["declared"] is None
    assert row["uses"][0]["target"] == "endpoints.create_list.url"
    assert "Did you mean $region?" in row["messages"][0]
    assert panel["tracker_rows"][0] is row  # problems first
    problem = next(p for p in panel["problems"] if p["code"] == "undeclared_variable")
    assert problem["where"] == "Create list › URL, line 1, column 23"


def test_completions_offer_what_has_a_value_where_the_caret_is():
    suggestions = variable_suggestions(normalize_manifest(fixture_manifest("acme_list")))
    names = {key: {item["name"] for item in items} for key, items in suggestions.items()}
    assert "items" in names["endpoints.add_users.payload"]
    assert "items" not in names["endpoints.create_list.payload"]
    assert "list_id" not in names["endpoints.create_list.url"]
    assert "user_id_field_amplitude" in names["endpoints.add_users.item_template"]
    assert "user_id_field_amplitude" not in names["endpoints.add_users.payload"]
    assert "region" in names["endpoints.add_users.url"]
    assert "in_cohort" in names["endpoints.add_users.item_template"]


def test_the_connect_modal_lists_every_field_with_its_widget():
    modal = connect_modal(normalize_manifest(fixture_manifest("property_basic")))
    assert [(f["variable"], f["type"], f["secret"]) for f in modal["fields"]] == [
        ("api_key", "string", True),
        ("secret_key", "string", True),
        ("workspace", "string", False),
        ("env", "button_group", False),
    ]
    assert modal["fields"][3]["options"] == [("live", "Live"), ("sandbox", "Sandbox")]
    assert modal["mappings"][0]["type"] == "string"


def test_the_panel_never_shows_a_secret():
    manifest = fixture_manifest("acme_list")
    panel = editor_panel.testing_panel(manifest)
    shown = json.dumps(panel, default=str, ensure_ascii=False)
    assert "sample-bearer-token" not in shown
    assert "Bearer ••••••" in shown


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data.id", {"data": {"id": "L1"}}),
        ("lists.1.id", {"lists": [{}, {"id": "L1"}]}),
        ("listId", {"listId": "L1"}),
    ],
)
def test_the_example_list_response_carries_the_id_at_the_path(path, expected):
    assert json.loads(example_list_response(path, "L1")) == expected


def test_no_example_for_a_broken_path():
    assert example_list_response("data..id", "L1") is None


def test_revision_diffs_read_like_a_review():
    before = normalize_manifest(fixture_manifest("acme_list"))
    after = json.loads(json.dumps(before))
    after["endpoints"]["add_users"]["payload"] = '{\n  "userIds": $items,\n  "v": 2\n}'
    after["custom_fields"][1]["display_name"] = "Data region"
    rows = revision_diff(manifest_diff(before, after), after, logo_changed=True)
    assert rows[0]["where"] == "Logo"
    region = next(r for r in rows if r["path"] == "custom_fields.1.display_name")
    assert (region["before"], region["after"]) == ("Region", "Data region")
    assert region["where"] == "Custom field 2 (Data region) › display name"
    payload = next(r for r in rows if r["path"] == "endpoints.add_users.payload")
    assert ("added", '  "v": 2') in payload["lines"]
    assert ("removed", '{"userIds": $items}') in payload["lines"]


# --------------------------------------------------------------------------------------
# Whatever the browser sends, the editor answers


def test_numbers_too_long_or_infinite_stay_text_for_the_checks():
    state = {
        "endpoints.add_users.present": "1",
        "endpoints.add_users.batch_size": "9" * 5000,
        "delivery.requests_per_second": "1e999",
    }
    manifest = build(state)
    assert manifest["endpoints"]["add_users"]["batch_size"] == "9" * 5000
    assert manifest["delivery"]["requests_per_second"] == "1e999"
    json.dumps(manifest, allow_nan=False)
    paths = {d.path for d in check_manifest(manifest) if d.is_error}
    assert {"endpoints.add_users.batch_size", "delivery.requests_per_second"} <= paths


FIELD_NAMES = [
    "auth.method",
    "auth.header_name",
    "auth.value_template",
    "custom_fields.0.variable",
    "custom_fields.0.type",
    "custom_fields.0.default",
    "custom_fields.0.default_option",
    "custom_fields.0.auth_role",
    "custom_fields.0.options.0.value",
    "custom_fields.1.variable",
    "custom_fields.1.secret",
    "mapping_fields.0.variable",
    "mapping_fields.0.type",
    "mapping_fields.0.options.0",
    "endpoints.create_list.url",
    "endpoints.create_list.payload",
    "endpoints.create_list.list_id_path",
    "endpoints.add_users.method",
    "endpoints.add_users.url",
    "endpoints.add_users.payload",
    "endpoints.add_users.item_template",
    "endpoints.add_users.batch_size",
    "endpoints.add_users.headers.0.name",
    "endpoints.add_users.headers.0.value",
    "endpoints.add_users.errors.0.status",
    "endpoints.add_users.errors.0.sub_code",
    "endpoints.update_users.url",
    "delivery.max_concurrency",
    "delivery.requests_per_second",
    "slugify_cohort_name",
    # version 2
    "custom_fields.0.if_missing",
    "mapping_fields.0.if_missing",
    "mapping_fields.0.default",
    "endpoints.add_users.mode",
    "endpoints.add_users.auth.present",
    "endpoints.add_users.auth.method",
    "endpoints.add_users.auth.token_variable",
    "endpoints.add_users.lookup.present",
    "endpoints.add_users.lookup.method",
    "endpoints.add_users.lookup.url",
    "endpoints.add_users.lookup.key",
    "endpoints.add_users.lookup.results_path",
    "endpoints.add_users.lookup.batch_size",
    "endpoints.add_users.lookup.not_found",
    "endpoints.add_users.lookup.headers.0.name",
    "endpoints.add_users.lookup.create.present",
    "endpoints.add_users.lookup.create.mode",
    "endpoints.add_users.lookup.create.partner_id_path",
    "endpoints.create_list.find.present",
    "endpoints.create_list.find.match",
    "endpoints.create_list.find.results_path",
]
TEXTS = st.one_of(
    st.sampled_from(
        [
            "",
            "1e999",
            "9" * 400,
            "-1",
            "2.5",
            "$items",
            "${",
            "$$",
            '{"a": $b',
            "single_select",
            "button_group",
            "basic",
            "api_key_header",
            "raw:x",
            "custom_fields.0.options.0",
            "token_variable",
            "https://x.test/$list_id",
            "Content-Length",
            "\r\n",
            "null",
            "1",
            "per_user",
            "create",
            "default",
            "skip",
            "omit",
            "bearer",
            "${in_cohort:string}",
            "${items:join(,)}",
            "$partner_id",
            "data..id",
        ]
    ),
    st.text(max_size=40),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    state=st.dictionaries(st.sampled_from(FIELD_NAMES), TEXTS),
    kind=st.sampled_from(["list", "property"]),
)
def test_any_form_state_gives_a_manifest_and_a_panel(state, kind):
    from django.template.loader import render_to_string

    from integrations.models import Integration

    manifest = build(state, kind)
    json.dumps(manifest, allow_nan=False)  # storable as JSON
    panel = editor_panel.testing_panel(manifest)
    integration = Integration(pk=1, display_name="Acme", integration_type=kind)
    keys = editor_panel.section_keys(panel, name="Acme", logo_url=None)
    context = {"integration": integration, "panel": panel, "section_keys": keys}
    render_to_string("integrations/_testing.html", context)
    render_to_string("integrations/_summary.html", context)
    form = editor_form(manifest)
    assert form["integration_type"] == kind
    # Every part of the form renders too, the version-2 parts included.
    from django.template import engines

    macros = engines["jinja2"].env.get_template("integrations/_editor_macros.html")
    module = macros.make_module({"form": form})
    for endpoint in form["endpoints"]:
        assert f'id="f-{endpoint["prefix"]}"' in str(module.endpoint_section(endpoint, form))


def test_the_list_response_example_stays_small_for_a_large_index():
    import json

    from integrations.editor.panel import example_list_response

    assert json.loads(example_list_response("lists.1.id", "L")) == {"lists": [{}, {"id": "L"}]}
    # A large index would make a huge example (it once exhausted memory): none is shown.
    assert example_list_response("lists.9999.id", "L") is None
