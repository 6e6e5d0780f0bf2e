"""The integration manifest (DESIGN §4) and the static checks of §5."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine.core.manifest import (
    DEFAULT_BATCH_SIZE,
    MANIFEST_VERSION,
    MAX_BATCH_SIZE,
    TOP_LEVEL_KEYS,
    ManifestError,
    canonical_json,
    check_manifest,
    copy_error_classifications,
    default_auth,
    default_auth_fields,
    load_manifest,
    manifest_errors,
    normalize_manifest,
    starter_manifest,
)
from syncengine.core.types import Diagnostic

FIXTURES = Path(__file__).parent / "fixtures"
VALID_FIXTURES = ["acme_list", "jsonapi_list", "property_basic", "no_auth_minimal"]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def acme() -> dict[str, Any]:
    """The example of DESIGN §4: a valid list integration with bearer auth."""
    return fixture("acme_list")


def problems(doc: Any) -> set[tuple[str, str, str, int | None, int | None]]:
    return {(d.severity, d.code, d.path, d.line, d.column) for d in check_manifest(doc)}


def only(doc: Any, path: str) -> Diagnostic:
    """The one diagnostic at `path` (fails if there are none or several)."""
    found = [d for d in check_manifest(doc) if d.path == path]
    assert len(found) == 1, found
    return found[0]


def codes_at(doc: Any, path: str) -> list[str]:
    return [d.code for d in check_manifest(doc) if d.path == path]


# -- fixtures --------------------------------------------------------------------------


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


# -- top level -------------------------------------------------------------------------


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


def test_it_refuses_other_manifest_versions():
    doc = acme()
    doc["manifest_version"] = 2
    assert only(doc, "manifest_version").message == "manifest_version must be 1"


def test_a_missing_manifest_version_means_version_1():
    doc = acme()
    del doc["manifest_version"]
    assert check_manifest(doc) == []
    assert normalize_manifest(doc)["manifest_version"] == MANIFEST_VERSION


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


# -- fields ----------------------------------------------------------------------------


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


def test_an_option_label_defaults_to_its_value():
    doc = acme()
    doc["custom_fields"][1]["options"] = [{"value": "us"}]
    assert normalize_manifest(doc)["custom_fields"][1]["options"] == [
        {"value": "us", "label": "us"}
    ]


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
    doc["mapping_fields"][0]["type"] = "button_group"
    assert codes_at(doc, "custom_fields.1.type") == ["invalid_value"]
    assert codes_at(doc, "mapping_fields.0.type") == ["invalid_value"]


def test_mapping_options_are_user_property_names():
    doc = acme()
    doc["mapping_fields"][0]["options"] = ["user_id", "user_id", 3]
    assert codes_at(doc, "mapping_fields.0.options.1") == ["invalid_options"]
    assert codes_at(doc, "mapping_fields.0.options.2") == ["invalid_type"]


# -- auth ------------------------------------------------------------------------------


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


def test_basic_auth_defaults_to_api_key_and_secret_key():
    doc = acme()
    doc["auth"] = {"method": "basic"}
    assert normalize_manifest(doc)["auth"] == default_auth("basic")
    assert default_auth("basic") == {
        "method": "basic",
        "username_variable": "api_key",
        "password_variable": "secret_key",
    }
    assert codes_at(doc, "auth.username_variable") == ["auth_variable_missing"]


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


@pytest.mark.parametrize(
    ("method", "variables"),
    [
        ("none", []),
        ("basic", ["api_key", "secret_key"]),
        ("bearer", ["bearer_token"]),
        ("api_key_header", ["api_key"]),
    ],
)
def test_each_auth_method_declares_its_default_fields(method, variables):
    fields = default_auth_fields(method)
    assert [field["variable"] for field in fields] == variables
    assert all(field["secret"] and field["type"] == "string" for field in fields)


def test_basic_auth_secret_key_is_optional_and_labelled():
    api_key, secret_key = default_auth_fields("basic")
    assert (api_key["display_name"], api_key["required"]) == ("API Key", True)
    assert (secret_key["display_name"], secret_key["required"]) == ("Secret Key", False)


def test_default_auth_fields_pass_the_checks_with_their_method():
    for method in ("none", "basic", "bearer", "api_key_header"):
        doc = acme()
        doc["auth"] = default_auth(method)
        doc["custom_fields"] = [*default_auth_fields(method), doc["custom_fields"][1]]
        assert manifest_errors(doc) == [], method


# -- endpoints -------------------------------------------------------------------------


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


def test_batch_size_defaults_to_the_maximum():
    doc = acme()
    del doc["endpoints"]["add_users"]["batch_size"]
    assert normalize_manifest(doc)["endpoints"]["add_users"]["batch_size"] == DEFAULT_BATCH_SIZE


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


def test_list_id_path_defaults_to_list_id():
    doc = acme()
    del doc["endpoints"]["create_list"]["list_id_path"]
    assert normalize_manifest(doc)["endpoints"]["create_list"]["list_id_path"] == "listId"


# -- error classifications -------------------------------------------------------------


def classification(**overrides: Any) -> dict[str, Any]:
    base = {"status": 401, "reason": "Unauthorized", "message": "Check your key", "action": "fail"}
    return base | overrides


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


def test_error_classification_defaults():
    doc = acme()
    doc["endpoints"]["add_users"]["errors"] = [{"status": 500}]
    assert check_manifest(doc) == []
    assert normalize_manifest(doc)["endpoints"]["add_users"]["errors"] == [
        {
            "status": 500,
            "sub_code": None,
            "sub_code_path": None,
            "reason": "",
            "message": "",
            "action": "fail",
        }
    ]


# -- delivery --------------------------------------------------------------------------


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


def test_delivery_defaults():
    assert normalize_manifest(acme())["delivery"] == {
        "max_concurrency": 4,
        "requests_per_second": None,
        "sign_requests": False,
    }


def test_a_fractional_rate_limit_is_allowed():
    doc = acme()
    doc["delivery"] = {"max_concurrency": 1, "requests_per_second": 0.5, "sign_requests": True}
    assert check_manifest(doc) == []


# -- variables -------------------------------------------------------------------------


def test_an_undeclared_variable_is_reported_where_it_is_used():
    doc = acme()
    doc["endpoints"]["add_users"]["payload"] = '{\n  "userIds": $items,\n  "src": "$source"\n}'
    diagnostic = only(doc, "endpoints.add_users.payload")
    assert diagnostic.code == "undeclared_variable"
    assert (diagnostic.line, diagnostic.column) == (3, 11)


def test_an_undeclared_variable_gets_a_suggestion():
    doc = acme()
    doc["endpoints"]["add_users"]["url"] = "https://api.acme.test/lists/$listId/add"
    message = only(doc, "endpoints.add_users.url").message
    assert message.endswith("Did you mean $list_id?")


@pytest.mark.parametrize(
    ("endpoint", "part", "template"),
    [
        ("create_list", "url", "https://api.acme.test/$list_id"),
        ("create_list", "payload", '{"b": "$batch_id"}'),
        ("create_list", "payload", '{"i": $items}'),
        ("add_users", "item_template", '{"i": $items}'),
        ("add_users", "payload", '{"i": $items, "in": $in_cohort}'),
        ("add_users", "url", "https://api.acme.test/$user_id_field_amplitude"),
        ("add_users", "payload", '{"i": $items, "u": "$user_id_field_amplitude"}'),
    ],
)
def test_a_variable_used_where_it_has_no_value_is_reported(endpoint, part, template):
    doc = acme()
    doc["endpoints"][endpoint][part] = template
    assert "variable_not_available" in codes_at(doc, f"endpoints.{endpoint}.{part}")


@pytest.mark.parametrize(
    ("endpoint", "part", "template"),
    [
        ("add_users", "url", "https://api.acme.test/$list_id/$batch_id/$cohort_id"),
        ("add_users", "item_template", '{"u": "$user_id_field_amplitude", "in": $in_cohort}'),
        ("add_users", "item_template", '["$user_id_field_amplitude", "$list_id", "$batch_id"]'),
        ("create_list", "payload", '{"n": "$amplitude_cohort_name", "id": "$cohort_id"}'),
    ],
)
def test_pre_defined_variables_are_accepted_where_they_have_a_value(endpoint, part, template):
    doc = acme()
    doc["endpoints"][endpoint][part] = template
    assert manifest_errors(doc) == []


def test_a_declared_variable_used_nowhere_is_a_warning():
    doc = acme()
    doc["custom_fields"].append({"variable": "unused", "display_name": "Unused"})
    diagnostic = only(doc, "custom_fields.2.variable")
    assert (diagnostic.severity, diagnostic.code) == ("warning", "unused_variable")
    assert manifest_errors(doc) == []


def test_a_variable_used_only_by_auth_counts_as_used():
    assert [d for d in check_manifest(acme()) if d.code == "unused_variable"] == []


def test_check_manifest_does_not_modify_its_input():
    doc = acme()
    before = copy.deepcopy(doc)
    check_manifest(doc)
    normalize_manifest(doc)
    assert doc == before


# -- normalisation and canonical JSON --------------------------------------------------


def test_normalize_fills_defaults_in_the_documented_order():
    normalized = normalize_manifest({"display_name": "X", "integration_type": "list"})
    assert list(normalized) == list(TOP_LEVEL_KEYS)
    assert normalized["auth"] == {"method": "none"}
    assert normalized["logo_png_base64"] is None


def test_normalize_keeps_unknown_keys_sorted_after_known_ones():
    normalized = normalize_manifest({"zeta": 1, "display_name": "X", "alpha": [1]})
    assert list(normalized)[-2:] == ["alpha", "zeta"]


def test_normalize_orders_endpoints_and_their_keys():
    doc = acme()
    doc["endpoints"] = dict(reversed(list(doc["endpoints"].items())))
    doc["endpoints"]["add_users"] = dict(reversed(list(doc["endpoints"]["add_users"].items())))
    endpoints = normalize_manifest(doc)["endpoints"]
    assert list(endpoints) == ["create_list", "add_users", "remove_users"]
    assert list(endpoints["add_users"]) == [
        "method",
        "url",
        "headers",
        "payload",
        "item_template",
        "batch_size",
        "errors",
    ]


@pytest.mark.parametrize("name", [*VALID_FIXTURES, "broken"])
def test_export_import_export_is_byte_identical(name):
    exported = canonical_json(fixture(name))
    assert canonical_json(load_manifest(exported)) == exported
    assert exported.endswith(b"}\n")
    assert exported.startswith(b'{\n  "manifest_version": 1,\n')


def test_canonical_json_keeps_non_ascii_readable():
    doc = acme()
    doc["display_name"] = "Café Audiences"
    assert "Café Audiences".encode() in canonical_json(doc)


def test_canonical_json_escapes_a_lone_surrogate_so_the_output_is_valid_utf8():
    doc = acme()
    doc["display_name"] = "bad \ud800"
    exported = canonical_json(doc)
    exported.decode("utf-8")
    assert b"\\ud800" in exported
    assert canonical_json(load_manifest(exported)) == exported


def test_normalize_is_idempotent_on_the_fixtures():
    for name in [*VALID_FIXTURES, "broken"]:
        once = normalize_manifest(fixture(name))
        assert normalize_manifest(once) == once


# -- loading ---------------------------------------------------------------------------


def test_load_manifest_reports_syntax_errors_with_line_and_column():
    with pytest.raises(ManifestError) as caught:
        load_manifest('{\n  "display_name": "x",\n  oops\n}')
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("invalid_json", 3, 3)


def test_load_manifest_refuses_duplicate_keys_and_nan():
    with pytest.raises(ManifestError, match="duplicate key 'a'"):
        load_manifest('{"a": 1, "a": 2}')
    with pytest.raises(ManifestError, match="NaN is not valid JSON"):
        load_manifest('{"a": NaN}')


def test_load_manifest_refuses_non_utf8():
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(b'{"a": "\xff"}')


# -- copying error classifications -----------------------------------------------------


def test_copy_error_classifications_merges_by_status_and_sub_code():
    doc = fixture("jsonapi_list")
    doc["endpoints"]["add_users"]["errors"] = [classification(message="mine")]
    copied = copy_error_classifications(doc, source="create_list", target="add_users")
    errors = copied["endpoints"]["add_users"]["errors"]
    assert [(e["status"], e["message"]) for e in errors] == [
        (401, "mine"),
        (429, "Klaviyo asked us to slow down"),
    ]
    assert doc["endpoints"]["add_users"]["errors"] == [classification(message="mine")]


def test_copy_error_classifications_can_replace():
    doc = fixture("jsonapi_list")
    copied = copy_error_classifications(
        doc, source="remove_users", target="create_list", replace=True
    )
    assert [e["status"] for e in copied["endpoints"]["create_list"]["errors"]] == [404]
    assert (
        copied["endpoints"]["remove_users"]["errors"]
        is not (copied["endpoints"]["create_list"]["errors"])
    )


def test_copy_error_classifications_needs_both_endpoints():
    with pytest.raises(KeyError):
        copy_error_classifications(acme(), source="update_users", target="add_users")


# -- starter ---------------------------------------------------------------------------


@pytest.mark.parametrize("integration_type", ["list", "property"])
def test_a_starter_manifest_only_lacks_what_the_partner_must_write(integration_type):
    starter = starter_manifest(integration_type, "New")
    paths = {d.path.rsplit(".", 1)[-1] for d in manifest_errors(starter)}
    assert paths <= {"url", "item_template"}


# -- robustness ------------------------------------------------------------------------

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
