"""The manifest checks of DESIGN §4 and the static template checks of §5."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine.core.manifest.checks import check_manifest, manifest_errors
from syncengine.core.manifest.normalize import (
    canonical_json,
    load_manifest,
    normalize_manifest,
)
from syncengine.core.manifest.schema import (
    MAX_BATCH_SIZE,
    TOP_LEVEL_KEYS,
)
from syncengine.core.types import Diagnostic
from tests.syncengine.core.manifest.conftest import (
    VALID_FIXTURES,
    acme,
    classification,
    codes_at,
    fixture,
    only,
    problems,
)


@pytest.mark.parametrize("name", VALID_FIXTURES)
def test_the_example_manifests_are_clean(name):
    assert check_manifest(fixture(name)) == []


def test_the_broken_manifest_reports_every_problem_where_it_is():
    assert problems(fixture("broken")) == {
        ("error", "invalid_options", "custom_fields.0.options", None, None),
        ("error", "invalid_variable_name", "custom_fields.1.variable", None, None),
        ("error", "reserved_variable", "custom_fields.2.variable", None, None),
        ("error", "duplicate_variable", "mapping_fields.0.variable", None, None),
        ("error", "auth_variable_missing", "auth.token_variable", None, None),
        ("error", "missing_endpoint", "endpoints.remove_users", None, None),
        ("error", "unexpected_endpoint", "endpoints.update_users", None, None),
        ("error", "invalid_method", "endpoints.create_list.method", None, None),
        ("error", "invalid_json", "endpoints.create_list.payload", 3, 3),
        ("error", "invalid_list_id_path", "endpoints.create_list.list_id_path", None, None),
        ("error", "variable_not_available", "endpoints.create_list.url", 1, 31),
        ("error", "invalid_url", "endpoints.add_users.url", 1, 1),
        ("error", "missing_items", "endpoints.add_users.payload", None, None),
        ("error", "invalid_batch_size", "endpoints.add_users.batch_size", None, None),
        ("error", "undeclared_variable", "endpoints.add_users.item_template", 1, 9),
        ("warning", "item_without_user_data", "endpoints.add_users.item_template", None, None),
        ("warning", "item_without_user_data", "endpoints.update_users.item_template", None, None),
        ("error", "invalid_value", "delivery.max_concurrency", None, None),
        ("warning", "unused_variable", "custom_fields.0.variable", None, None),
        ("warning", "unused_variable", "custom_fields.3.variable", None, None),
    }


@pytest.mark.parametrize("doc", [None, [], "manifest", 3, True])
def test_a_manifest_must_be_an_object(doc):
    assert check_manifest(doc) == [
        Diagnostic("error", "invalid_type", "a manifest must be a JSON object", "")
    ]


def test_it_reports_unknown_keys_instead_of_dropping_them():
    doc = acme()
    doc["colour"] = "blue"
    doc["endpoints"]["add_users"]["retries"] = 3
    assert codes_at(doc, "colour") == ["unknown_key"]
    assert codes_at(doc, "endpoints.add_users.retries") == ["unknown_key"]


@pytest.mark.parametrize("version", [0, 3, "2", True])
def test_it_refuses_other_manifest_versions(version):
    doc = acme()
    doc["manifest_version"] = version
    assert only(doc, "manifest_version").message == "manifest_version must be 1 or 2"


def test_a_version_1_manifest_may_say_version_2():
    doc = acme()
    doc["manifest_version"] = 2
    assert [d for d in check_manifest(doc) if d.is_error] == []


@pytest.mark.parametrize(
    ("value", "code"), [(None, "invalid_type"), ("  ", "required"), ("x" * 101, "invalid_value")]
)
def test_display_name_must_be_a_short_non_empty_text(value, code):
    doc = acme()
    doc["display_name"] = value
    assert codes_at(doc, "display_name") == [code]


def test_integration_type_is_required():
    doc = acme()
    del doc["integration_type"]
    assert only(doc, "integration_type").code == "required"


def test_slugify_cohort_name_must_be_a_boolean():
    doc = acme()
    doc["slugify_cohort_name"] = "yes"
    assert only(doc, "slugify_cohort_name").message == "must be a boolean, not a string"


@pytest.mark.parametrize("name", ["Region", "1st", "my-var", "", "a" * 65])
def test_variable_names_are_lowercase_identifiers(name):
    doc = acme()
    doc["custom_fields"][1]["variable"] = name
    assert "invalid_variable_name" in codes_at(doc, "custom_fields.1.variable")


@pytest.mark.parametrize("name", ["items", "list_id", "cohort_id", "in_cohort", "batch_id"])
def test_variable_names_cannot_be_pre_defined_names(name):
    doc = acme()
    doc["custom_fields"][1]["variable"] = name
    assert codes_at(doc, "custom_fields.1.variable") == ["reserved_variable"]


def test_variable_names_are_unique_across_custom_and_mapping_fields():
    doc = acme()
    doc["mapping_fields"][0]["variable"] = "region"
    diagnostic = only(doc, "mapping_fields.0.variable")
    assert diagnostic.code == "duplicate_variable"
    assert diagnostic.message == "$region is already declared at custom_fields.1"


def test_select_options_must_be_non_empty_and_unique():
    doc = acme()
    doc["custom_fields"][1]["options"] = [{"value": "us"}, {"value": "us", "label": "Again"}]
    assert codes_at(doc, "custom_fields.1.options.1.value") == ["invalid_options"]
    doc["custom_fields"][1]["options"] = []
    assert codes_at(doc, "custom_fields.1.options") == ["invalid_options"]


def test_a_default_must_be_one_of_the_options():
    doc = acme()
    doc["custom_fields"][1]["default"] = "apac"
    assert only(doc, "custom_fields.1.default").message == "the default must be one of the options"
    doc["custom_fields"][1]["default"] = "eu"
    assert check_manifest(doc) == []


def test_options_only_apply_to_select_fields():
    doc = acme()
    doc["custom_fields"][0]["options"] = [{"value": "x", "label": "X"}]
    assert codes_at(doc, "custom_fields.0.options") == ["invalid_options"]


def test_only_string_fields_can_be_secret():
    doc = acme()
    doc["custom_fields"][1]["secret"] = True
    assert only(doc, "custom_fields.1.secret").message == "only string fields can be secret"


def test_field_type_must_be_known():
    doc = acme()
    doc["custom_fields"][1]["type"] = "checkbox"
    doc["mapping_fields"][0]["type"] = "radio"
    assert codes_at(doc, "custom_fields.1.type") == ["invalid_value"]
    assert codes_at(doc, "mapping_fields.0.type") == ["invalid_value"]


def test_a_mapping_field_may_be_a_button_group_of_user_properties():
    doc = acme()
    doc["mapping_fields"][0]["type"] = "button_group"
    assert check_manifest(doc) == []
    normalized = normalize_manifest(doc)
    assert normalized["mapping_fields"][0]["options"] == [
        "user_id",
        "email",
        "amplitude_id",
        "device_id",
    ]
    # Like a select, it lists the properties to pick from, each once.
    doc["mapping_fields"][0]["options"] = []
    assert codes_at(doc, "mapping_fields.0.options") == ["invalid_options"]
    doc["mapping_fields"][0]["options"] = ["email", "email"]
    assert codes_at(doc, "mapping_fields.0.options.1") == ["invalid_options"]
    # A text mapping field still takes no options.
    doc["mapping_fields"][0]["type"] = "string"
    assert only(doc, "mapping_fields.0.options").message == (
        "options only apply to single_select and button_group fields"
    )


def test_mapping_options_are_user_property_names():
    doc = acme()
    doc["mapping_fields"][0]["options"] = ["user_id", "user_id", 3]
    assert codes_at(doc, "mapping_fields.0.options.1") == ["invalid_options"]
    assert codes_at(doc, "mapping_fields.0.options.2") == ["invalid_type"]


def test_auth_must_refer_to_a_declared_custom_field():
    doc = acme()
    doc["custom_fields"][0]["variable"] = "token"
    diagnostic = only(doc, "auth.token_variable")
    assert diagnostic.code == "auth_variable_missing"
    assert diagnostic.message == "bearer auth reads $bearer_token, but no custom field declares it"


def test_auth_cannot_refer_to_a_mapping_field():
    doc = acme()
    doc["auth"]["token_variable"] = "user_id_field_amplitude"
    assert codes_at(doc, "auth.token_variable") == ["auth_variable_missing"]


def test_basic_auth_may_have_no_password():
    doc = acme()
    doc["auth"] = {
        "method": "basic",
        "username_variable": "bearer_token",
        "password_variable": None,
    }
    assert check_manifest(doc) == []


def test_auth_method_keys_are_checked_per_method():
    doc = acme()
    doc["auth"] = {"method": "bearer", "token_variable": "bearer_token", "header_name": "X"}
    assert codes_at(doc, "auth.header_name") == ["unknown_key"]
    doc["auth"] = {"method": "oauth"}
    assert codes_at(doc, "auth.method") == ["invalid_value"]


def test_api_key_header_auth_checks_its_header():
    doc = acme()
    doc["auth"] = {"method": "api_key_header", "header_name": "X Key", "value_template": "$nope"}
    assert codes_at(doc, "auth.header_name") == ["invalid_header_name"]
    assert codes_at(doc, "auth.value_template") == ["undeclared_variable"]


def test_the_auth_header_cannot_use_values_some_endpoints_lack():
    doc = acme()
    doc["auth"] = {
        "method": "api_key_header",
        "header_name": "X-Key",
        "value_template": "$bearer_token/$list_id",
    }
    diagnostic = only(doc, "auth.value_template")
    assert diagnostic.code == "variable_not_available"
    assert (diagnostic.line, diagnostic.column) == (1, 15)


def test_a_list_integration_needs_its_three_endpoints():
    doc = acme()
    del doc["endpoints"]["remove_users"]
    assert only(doc, "endpoints.remove_users").code == "missing_endpoint"


def test_a_property_integration_needs_update_users_and_no_list_endpoints():
    doc = fixture("property_basic")
    doc["endpoints"]["create_list"] = acme()["endpoints"]["create_list"]
    assert "unexpected_endpoint" in codes_at(doc, "endpoints.create_list")
    del doc["endpoints"]["update_users"]
    assert "missing_endpoint" in codes_at(doc, "endpoints.update_users")


def test_unknown_endpoints_are_reported():
    doc = acme()
    doc["endpoints"]["delete_list"] = {}
    assert codes_at(doc, "endpoints.delete_list") == ["unknown_key"]


@pytest.mark.parametrize(
    ("endpoint", "method", "valid"),
    [
        ("create_list", "POST", True),
        ("create_list", "PATCH", True),
        ("create_list", "PUT", True),
        ("create_list", "DELETE", False),
        ("create_list", "GET", False),
        ("add_users", "DELETE", True),
        ("remove_users", "PUT", True),
        ("add_users", "post", False),
        ("add_users", None, False),
    ],
)
def test_methods_per_endpoint(endpoint, method, valid):
    doc = acme()
    doc["endpoints"][endpoint]["method"] = method
    assert (codes_at(doc, f"endpoints.{endpoint}.method") == []) is valid


def test_the_url_is_required():
    doc = acme()
    del doc["endpoints"]["add_users"]["url"]
    assert codes_at(doc, "endpoints.add_users.url") == ["required"]


@pytest.mark.parametrize(
    ("url", "code", "column"),
    [
        ("api.acme.test/lists", "invalid_url", 1),
        ("$region/lists", "invalid_url", 1),
        ("https://api.acme.test/li sts", "invalid_url", 25),
        ("https://api.acme.test/$", "invalid_placeholder", 23),
        ("https://me:$bearer_token@api.acme.test/", "invalid_url", 25),
    ],
)
def test_bad_urls_are_reported_with_their_column(url, code, column):
    doc = acme()
    doc["endpoints"]["create_list"]["url"] = url
    diagnostic = only(doc, "endpoints.create_list.url")
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == (code, 1, column)


def test_a_url_that_can_never_be_valid_is_reported():
    doc = acme()
    doc["endpoints"]["create_list"]["url"] = "https://api.acme.test:http/lists"
    assert only(doc, "endpoints.create_list.url").code == "invalid_url"


def test_header_names_must_be_tokens_and_not_platform_headers():
    doc = acme()
    doc["endpoints"]["add_users"]["headers"] = {
        "X Version": "1",
        "User-Agent": "me",
        "Idempotency-Key": "$batch_id",
        "Content-Length": "1",
    }
    base = "endpoints.add_users.headers"
    assert codes_at(doc, f"{base}.X Version") == ["invalid_header_name"]
    assert codes_at(doc, f"{base}.User-Agent") == ["reserved_header"]
    assert codes_at(doc, f"{base}.Idempotency-Key") == ["reserved_header"]
    assert codes_at(doc, f"{base}.Content-Length") == ["reserved_header"]


def test_header_names_are_unique_ignoring_case():
    doc = acme()
    doc["endpoints"]["add_users"]["headers"] = {"X-Version": "1", "x-version": "2"}
    assert codes_at(doc, "endpoints.add_users.headers.x-version") == ["duplicate_header"]


def test_headers_cannot_fight_the_auth_header():
    doc = acme()
    doc["endpoints"]["add_users"]["headers"] = {"authorization": "Bearer x"}
    assert codes_at(doc, "endpoints.add_users.headers.authorization") == ["reserved_header"]
    doc["auth"] = {"method": "none"}
    doc["custom_fields"] = doc["custom_fields"][1:]
    assert codes_at(doc, "endpoints.add_users.headers.authorization") == []


def test_a_header_template_cannot_contain_a_line_break_or_non_ascii():
    doc = acme()
    doc["endpoints"]["add_users"]["headers"] = {"X-A": "a\r\nX-B: b", "X-C": "caf\u00e9"}
    line_break = only(doc, "endpoints.add_users.headers.X-A")
    assert (line_break.code, line_break.column) == ("invalid_header_value", 2)
    non_ascii = only(doc, "endpoints.add_users.headers.X-C")
    assert (non_ascii.code, non_ascii.column) == ("invalid_header_value", 4)


def test_a_partner_content_type_is_allowed():
    doc = acme()
    doc["endpoints"]["add_users"]["headers"] = {"Content-Type": "application/vnd.api+json"}
    assert check_manifest(doc) == []


def test_invalid_payload_json_is_reported_with_line_and_column():
    doc = acme()
    doc["endpoints"]["add_users"]["payload"] = '{\n  "userIds": $items,\n  "x": [1, 2\n}'
    diagnostic = only(doc, "endpoints.add_users.payload")
    assert diagnostic.code == "invalid_json"
    assert (diagnostic.line, diagnostic.column) == (4, 1)
    assert diagnostic.message == "expected ',' or ']' after array element, found '}'"


def test_a_batch_payload_must_contain_items():
    doc = acme()
    doc["endpoints"]["add_users"]["payload"] = '{"userIds": []}'
    assert only(doc, "endpoints.add_users.payload").code == "missing_items"
    doc["endpoints"]["add_users"]["payload"] = ""
    assert only(doc, "endpoints.add_users.payload").code == "missing_items"


def test_create_list_may_have_no_payload():
    doc = acme()
    doc["endpoints"]["create_list"]["payload"] = ""
    assert check_manifest(doc) == []


def test_a_batch_endpoint_needs_an_item_template():
    doc = acme()
    doc["endpoints"]["add_users"]["item_template"] = " "
    assert only(doc, "endpoints.add_users.item_template").code == "missing_item_template"


def test_create_list_has_no_item_template_or_batch_size():
    doc = acme()
    doc["endpoints"]["create_list"]["batch_size"] = 10
    assert codes_at(doc, "endpoints.create_list.batch_size") == ["unknown_key"]


@pytest.mark.parametrize(
    ("size", "valid"),
    [
        (1, True),
        (MAX_BATCH_SIZE, True),
        (0, False),
        (10_001, False),
        ("10", False),
        (True, False),
        (2.0, False),
    ],
)
def test_batch_size_is_a_whole_number_in_range(size, valid):
    doc = acme()
    doc["endpoints"]["add_users"]["batch_size"] = size
    assert (codes_at(doc, "endpoints.add_users.batch_size") == []) is valid


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("data.id", True),
        ("lists.0.id", True),
        ("id", True),
        ("", False),
        ("data..id", False),
        ("data id", False),
        (5, False),
    ],
)
def test_list_id_path_is_a_dotted_path(path, valid):
    doc = acme()
    doc["endpoints"]["create_list"]["list_id_path"] = path
    assert (codes_at(doc, "endpoints.create_list.list_id_path") == []) is valid


@pytest.mark.parametrize(
    ("overrides", "path", "code"),
    [
        ({"status": 200}, "status", "invalid_value"),
        ({"status": 600}, "status", "invalid_value"),
        ({"status": "401"}, "status", "invalid_value"),
        ({"action": "panic"}, "action", "invalid_value"),
        ({"sub_code": "E1"}, "sub_code_path", "required"),
        ({"sub_code_path": "error.code"}, "sub_code", "required"),
        (
            {"sub_code": "E1", "sub_code_path": "error..code"},
            "sub_code_path",
            "invalid_sub_code_path",
        ),
        ({"colour": 1}, "colour", "unknown_key"),
    ],
)
def test_error_classifications_are_checked(overrides, path, code):
    doc = acme()
    doc["endpoints"]["add_users"]["errors"] = [classification(**overrides)]
    assert code in codes_at(doc, f"endpoints.add_users.errors.0.{path}")


def test_an_error_classification_is_unique_per_status_and_sub_code():
    doc = acme()
    doc["endpoints"]["add_users"]["errors"] = [
        classification(),
        classification(sub_code="E1", sub_code_path="error.code"),
        classification(message="again"),
    ]
    diagnostic = only(doc, "endpoints.add_users.errors.2")
    assert diagnostic.code == "duplicate_error_classification"
    assert "endpoints.add_users.errors.0" in diagnostic.message


@pytest.mark.parametrize(
    ("delivery", "path"),
    [
        ({"max_concurrency": 0}, "delivery.max_concurrency"),
        ({"max_concurrency": 5}, "delivery.max_concurrency"),
        ({"requests_per_second": 0}, "delivery.requests_per_second"),
        ({"requests_per_second": -1}, "delivery.requests_per_second"),
        ({"requests_per_second": 0.001}, "delivery.requests_per_second"),
        ({"requests_per_second": "fast"}, "delivery.requests_per_second"),
        ({"sign_requests": "yes"}, "delivery.sign_requests"),
        ({"retries": 3}, "delivery.retries"),
    ],
)
def test_delivery_settings_are_checked(delivery, path):
    doc = acme()
    doc["delivery"] = delivery
    assert len(codes_at(doc, path)) == 1


def test_a_fractional_rate_limit_is_allowed():
    doc = acme()
    doc["delivery"] = {"max_concurrency": 1, "requests_per_second": 0.5, "sign_requests": True}
    assert check_manifest(doc) == []


def test_check_manifest_does_not_modify_its_input():
    doc = acme()
    before = copy.deepcopy(doc)
    check_manifest(doc)
    normalize_manifest(doc)
    assert doc == before


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


def replaced(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


KEY_TEXTS = st.sampled_from(
    [
        "",
        "$",
        "$items",
        '{"a": $x}',
        "https://$region.x.test/$list_id",
        "POST",
        "data.id",
        "string",
        "single_select",
        "basic",
        "api_key_header",
        "\r\n",
        "\ud800",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*TOP_LEVEL_KEYS, "x"]), json_values))
def test_check_manifest_never_raises_on_arbitrary_json(doc):
    for diagnostic in check_manifest(doc):
        assert isinstance(diagnostic, Diagnostic)
    canonical_json(load_manifest(canonical_json(doc)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_check_manifest_never_raises_on_a_mutated_valid_manifest(data):
    base = fixture(data.draw(st.sampled_from([*VALID_FIXTURES, "broken"])))
    path = data.draw(st.sampled_from(paths_of(base)))
    doc = replaced(base, path, data.draw(st.one_of(json_values, KEY_TEXTS)))
    diagnostics = check_manifest(doc)
    assert all(isinstance(d, Diagnostic) for d in diagnostics)
    normalized = normalize_manifest(doc) if isinstance(doc, dict) else None
    if normalized is not None:
        assert normalize_manifest(normalized) == normalized
        exported = canonical_json(doc)
        assert canonical_json(load_manifest(exported)) == exported


def test_basic_auth_with_an_undeclared_password_warns_and_sends_none():
    doc = acme()
    doc["auth"] = {"method": "basic", "username_variable": "bearer_token"}
    diagnostic = only(doc, "auth.password_variable")
    assert (diagnostic.severity, diagnostic.code) == ("warning", "auth_variable_missing")
    assert manifest_errors(doc) == []


def test_a_port_placeholder_is_accepted():
    doc = acme()
    doc["custom_fields"].append({"variable": "port", "display_name": "Port"})
    doc["endpoints"]["create_list"]["url"] = "https://api.acme.test:$port/$region/lists"
    assert check_manifest(doc) == []


def test_an_absurdly_long_number_is_a_diagnostic_not_a_crash():
    doc = {
        "display_name": "x",
        "integration_type": "list",
        "endpoints": {"create_list": {"url": "https://x.test", "payload": "9" * 5000}},
    }
    problems = [d for d in check_manifest(doc) if d.path == "endpoints.create_list.payload"]
    assert any("more than 4000 digits" in d.message for d in problems)
