"""Normalisation, canonical JSON, loading and the defaults a new draft starts from."""

from __future__ import annotations

import pytest

from syncengine.core.manifest.checks import check_manifest, manifest_errors
from syncengine.core.manifest.normalize import (
    ManifestError,
    canonical_json,
    copy_error_classifications,
    default_auth,
    default_auth_fields,
    load_manifest,
    normalize_manifest,
    starter_manifest,
)
from syncengine.core.manifest.schema import (
    DEFAULT_BATCH_SIZE,
    MANIFEST_VERSION,
    TOP_LEVEL_KEYS,
)
from tests.syncengine.core.manifest.conftest import (
    VALID_FIXTURES,
    acme,
    classification,
    codes_at,
    fixture,
)


def test_a_missing_manifest_version_means_version_1():
    doc = acme()
    del doc["manifest_version"]
    assert check_manifest(doc) == []
    assert normalize_manifest(doc)["manifest_version"] == MANIFEST_VERSION


def test_an_option_label_defaults_to_its_value():
    doc = acme()
    doc["custom_fields"][1]["options"] = [{"value": "us"}]
    assert normalize_manifest(doc)["custom_fields"][1]["options"] == [
        {"value": "us", "label": "us"}
    ]


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


def test_batch_size_defaults_to_the_maximum():
    doc = acme()
    del doc["endpoints"]["add_users"]["batch_size"]
    assert normalize_manifest(doc)["endpoints"]["add_users"]["batch_size"] == DEFAULT_BATCH_SIZE


def test_list_id_path_defaults_to_list_id():
    doc = acme()
    del doc["endpoints"]["create_list"]["list_id_path"]
    assert normalize_manifest(doc)["endpoints"]["create_list"]["list_id_path"] == "listId"


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


def test_delivery_defaults():
    assert normalize_manifest(acme())["delivery"] == {
        "max_concurrency": 4,
        "requests_per_second": None,
        "sign_requests": False,
    }


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


@pytest.mark.parametrize("integration_type", ["list", "property"])
def test_a_starter_manifest_only_lacks_what_the_partner_must_write(integration_type):
    starter = starter_manifest(integration_type, "New")
    paths = {d.path.rsplit(".", 1)[-1] for d in manifest_errors(starter)}
    assert paths <= {"url", "item_template"}
