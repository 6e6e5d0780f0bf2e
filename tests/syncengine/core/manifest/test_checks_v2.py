"""The checks of manifest version 2: each construct, its mistakes, and version 1 untouched."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import canonical_json, load_manifest, normalize_manifest
from tests.syncengine.core.manifest.conftest import (
    VALID_FIXTURES,
    acme,
    codes_at,
    fixture,
    only,
)


def directory() -> dict[str, Any]:
    return fixture("directory_list")


def errors(doc: Any) -> list[tuple[str, str]]:
    return [(d.code, d.path) for d in check_manifest(doc) if d.is_error]


def test_the_version_2_example_is_valid_without_warnings():
    assert check_manifest(directory()) == []


@pytest.mark.parametrize("name", VALID_FIXTURES)
def test_version_1_manifests_export_exactly_as_before(name):
    """Normalising adds none of the version-2 keys, so exports stay byte-identical."""
    doc = fixture(name)
    exported = canonical_json(doc)
    assert canonical_json(load_manifest(exported)) == exported
    for key in ("mode", "lookup", "auth", "find", "if_missing"):
        assert f'"{key}"' not in exported.decode() or key == "auth"
    normalized = normalize_manifest(doc)
    for endpoint in normalized["endpoints"].values():
        assert not {"mode", "lookup", "auth", "find"} & endpoint.keys()


def test_a_version_2_manifest_round_trips_with_its_defaults_filled_in():
    exported = canonical_json(directory())
    reloaded = load_manifest(exported)
    assert canonical_json(reloaded) == exported
    lookup = reloaded["endpoints"]["remove_users"]["lookup"]
    assert lookup["mode"] == "batch" and lookup["errors"] == [] and lookup["headers"] == {}
    create = reloaded["endpoints"]["add_users"]["lookup"]["create"]
    assert create["batch_size"] == 100 and create["result_key_path"] is None


# --- version 1 may not use them ----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["endpoints"]["add_users"].update(mode="per_user"), "endpoints.add_users.mode"),
        (
            lambda d: d["endpoints"]["add_users"].update(auth={"method": "none"}),
            "endpoints.add_users.auth",
        ),
        (
            lambda d: d["mapping_fields"][0].update(if_missing="skip"),
            "mapping_fields.0.if_missing",
        ),
        (
            lambda d: d["endpoints"]["create_list"].update(payload='{"n": "${cohort_id:number}"}'),
            "endpoints.create_list.payload",
        ),
    ],
)
def test_each_construct_needs_version_2(change, path):
    doc = acme()
    change(doc)
    assert ("needs_manifest_version_2", path) in errors(doc)
    doc["manifest_version"] = 2
    assert ("needs_manifest_version_2", path) not in errors(doc)


def test_a_version_1_manifest_cannot_use_the_new_variables():
    doc = acme()
    doc["endpoints"]["add_users"]["item_template"] = '"$partner_id"'
    assert ("needs_manifest_version_2", "endpoints.add_users.item_template") in errors(doc)


def test_a_version_1_batch_payload_still_needs_items_even_with_items_in_the_url():
    doc = acme()
    add = doc["endpoints"]["add_users"]
    add["url"] += "?ids=${items:join(,)}"
    add["payload"] = ""
    assert ("missing_items", "endpoints.add_users.payload") in errors(doc)
    doc["manifest_version"] = 2
    assert ("missing_items", "endpoints.add_users.payload") not in errors(doc)


# --- lookups --------------------------------------------------------------------------------


def lookup_of(doc: dict[str, Any], endpoint: str = "add_users") -> dict[str, Any]:
    lookup: dict[str, Any] = doc["endpoints"][endpoint]["lookup"]
    return lookup


def test_a_lookup_needs_a_key_that_uses_a_mapping_field():
    doc = directory()
    del lookup_of(doc)["key"]
    assert codes_at(doc, "endpoints.add_users.lookup.key") == ["required"]
    doc = directory()
    lookup_of(doc)["key"] = "$cohort_id"
    assert "must use a mapping field" in only(doc, "endpoints.add_users.lookup.key").message


def test_a_batch_lookup_needs_where_its_results_are():
    doc = directory()
    del lookup_of(doc)["results_path"]
    assert codes_at(doc, "endpoints.add_users.lookup.results_path") == ["required"]
    lookup_of(doc)["results_path"] = "people..x"
    assert codes_at(doc, "endpoints.add_users.lookup.results_path") == ["invalid_path"]


def test_a_per_user_lookup_may_read_the_whole_answer():
    doc = directory()
    lookup = lookup_of(doc, "remove_users")
    lookup.update(
        mode="per_user",
        method="GET",
        url=lookup["url"].replace("/people/search", "/people?email=$email"),
        payload="",
        item_template="",
        results_path=None,
        result_key_path=None,
    )
    del lookup["results_path"]
    assert errors(doc) == []


def test_create_goes_with_not_found_create_only():
    doc = directory()
    del lookup_of(doc)["create"]
    assert codes_at(doc, "endpoints.add_users.lookup.create") == ["required"]
    doc = directory()
    lookup_of(doc)["not_found"] = "skip"
    assert codes_at(doc, "endpoints.add_users.lookup.create") == ["invalid_value"]
    lookup_of(doc)["not_found"] = "later"
    assert codes_at(doc, "endpoints.add_users.lookup.not_found") == ["invalid_value"]


def test_a_get_lookup_has_no_body():
    doc = directory()
    lookup_of(doc)["method"] = "GET"
    assert codes_at(doc, "endpoints.add_users.lookup.payload") == ["body_not_allowed"]


def test_partner_id_needs_a_lookup_and_a_lookup_needs_partner_id():
    doc = directory()
    del doc["endpoints"]["add_users"]["lookup"]
    problem = only(doc, "endpoints.add_users.item_template")
    assert problem.code == "variable_not_available" and (problem.line, problem.column) == (1, 2)
    doc = directory()
    doc["endpoints"]["add_users"]["item_template"] = '"$email"'
    warning = only(doc, "endpoints.add_users.lookup")
    assert (warning.severity, warning.code) == ("warning", "lookup_unused")


# --- per-user requests and the batch in a URL ---------------------------------------------


def test_a_per_user_request_may_use_mapping_fields_anywhere_but_not_items():
    doc = directory()
    remove = doc["endpoints"]["remove_users"]
    remove["headers"] = {"X-User": "$email"}
    assert errors(doc) == []
    remove["payload"] = '{"ids": $items}'
    assert ("variable_not_available", "endpoints.remove_users.payload") in errors(doc)


def test_a_batch_request_keeps_mapping_fields_out_of_its_url():
    doc = directory()
    doc["endpoints"]["add_users"]["url"] += "?who=$email"
    assert ("variable_not_available", "endpoints.add_users.url") in errors(doc)


def test_items_in_a_url_need_a_list_modifier():
    doc = directory()
    add = doc["endpoints"]["add_users"]
    add["payload"] = ""
    add["url"] += "?ids=$items"
    problem = next(d for d in check_manifest(doc) if d.path == "endpoints.add_users.url")
    assert problem.code == "invalid_url" and "${items:join(,)}" in problem.message
    assert problem.column == len(add["url"]) - len("$items") + 1
    add["url"] = add["url"].replace("$items", "${items:join(,)}")
    assert errors(doc) == []


def test_a_url_separator_that_would_add_a_parameter_is_refused():
    doc = directory()
    add = doc["endpoints"]["add_users"]
    add["payload"] = ""
    add["url"] += "?ids=${items:join(&)}"
    assert codes_at(doc, "endpoints.add_users.url") == ["invalid_url"]


def test_an_unknown_modifier_is_reported_with_its_place():
    doc = directory()
    doc["endpoints"]["add_users"]["item_template"] = '{\n  "id": "${partner_id:int}"\n}'
    problem = only(doc, "endpoints.add_users.item_template")
    assert problem.code == "invalid_placeholder"
    assert (problem.line, problem.column) == (2, 10)


# --- missing values -----------------------------------------------------------------------


def test_if_missing_choices_differ_between_mapping_and_custom_fields():
    doc = directory()
    doc["custom_fields"][0]["if_missing"] = "skip"
    assert codes_at(doc, "custom_fields.0.if_missing") == ["invalid_value"]
    doc["custom_fields"][0]["if_missing"] = "omit"
    assert codes_at(doc, "custom_fields.0.if_missing") == []


def test_a_default_goes_with_if_missing_default():
    doc = directory()
    field = doc["mapping_fields"][0]
    field["if_missing"] = "default"
    assert codes_at(doc, "mapping_fields.0.default") == ["required"]
    field["default"] = "unknown@example.test"
    assert errors(doc) == []
    field["if_missing"] = "null"
    assert codes_at(doc, "mapping_fields.0.default") == ["invalid_value"]


# --- find-or-create and auth overrides ------------------------------------------------------


def test_find_needs_match_path_and_match_with_results_path():
    doc = directory()
    find = doc["endpoints"]["create_list"]["find"]
    del find["match"]
    assert codes_at(doc, "endpoints.create_list.find.match") == ["required"]
    find["results_path"] = None
    del find["match_path"]
    assert errors(doc) == []


def test_an_endpoint_auth_override_reads_declared_fields():
    doc = directory()
    doc["endpoints"]["remove_users"]["auth"] = {"method": "bearer", "token_variable": "admin"}
    assert codes_at(doc, "endpoints.remove_users.auth.token_variable") == ["auth_variable_missing"]
    doc["custom_fields"].append(
        {"variable": "admin", "display_name": "Admin token", "secret": True}
    )
    assert errors(doc) == []


def test_a_header_may_not_collide_with_the_overriding_auth_header():
    doc = directory()
    remove = doc["endpoints"]["remove_users"]
    remove["auth"] = {"method": "api_key_header", "header_name": "X-Key"}
    doc["custom_fields"].append({"variable": "api_key", "display_name": "Key", "secret": True})
    remove["headers"] = {"x-key": "v", "Authorization": "Bearer also-allowed-now"}
    assert codes_at(doc, "endpoints.remove_users.headers.x-key") == ["reserved_header"]
    assert codes_at(doc, "endpoints.remove_users.headers.Authorization") == []
    # The lookup inherits the endpoint's auth, so the same header is reserved there.
    lookup_of(doc, "remove_users")["headers"] = {"X-KEY": "v"}
    assert codes_at(doc, "endpoints.remove_users.lookup.headers.X-KEY") == ["reserved_header"]


def test_checks_never_raise_on_malformed_version_2_parts():
    doc = directory()
    broken = copy.deepcopy(doc)
    broken["endpoints"]["add_users"]["lookup"] = ["not", "an", "object"]
    broken["endpoints"]["create_list"]["find"] = 3
    broken["endpoints"]["remove_users"]["auth"] = "bearer"
    broken["mapping_fields"][0]["if_missing"] = {"x": 1}
    found = {code for code, _ in errors(broken)}
    assert found >= {"invalid_type", "invalid_value"}
