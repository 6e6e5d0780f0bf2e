"""Compiling a manifest and building partner requests."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from syncengine.core.compiler import (
    CompiledIntegration,
    ManifestError,
    RenderError,
    compile_manifest,
    compile_manifest_partially,
)
from syncengine.core.types import PreparedRequest, RenderContext
from syncengine.core.users import generate_users

FIXTURES = Path(__file__).parent / "fixtures"
ALICE = {"user_id": "alice", "email": "alice@example.com", "amplitude_id": 1}
BOB = {"user_id": "bob", "email": "bob@example.com", "amplitude_id": 2}


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def acme_context(**overrides: Any) -> RenderContext:
    settings: dict[str, Any] = {
        "values": {"bearer_token": "tok_live_123", "region": "eu"},
        "mapping": {"user_id_field_amplitude": "user_id"},
        "cohort_id": "c42",
        "cohort_name": "Power users",
        "list_id": "L-7",
    }
    return RenderContext(**(settings | overrides))


def acme() -> CompiledIntegration:
    return compile_manifest(fixture("acme_list"))


def body(request: PreparedRequest) -> Any:
    assert request.body is not None
    return json.loads(request.body)


# -- the integration -------------------------------------------------------------------


def test_it_describes_the_integration():
    integration = acme()
    assert integration.integration_type == "list"
    assert integration.endpoint_names == ("create_list", "add_users", "remove_users")
    assert integration.list_id_path == "data.id"
    assert integration.batch_size("add_users") == 10_000
    assert integration.delivery == {
        "max_concurrency": 4,
        "requests_per_second": None,
        "sign_requests": False,
    }


def test_a_property_integration_has_no_list_id_path():
    integration = compile_manifest(fixture("property_basic"))
    assert integration.list_id_path is None
    assert integration.endpoint_names == ("update_users",)
    assert integration.batch_size("update_users") == 500


def test_error_classifications_are_a_copy():
    integration = compile_manifest(fixture("jsonapi_list"))
    classifications = integration.error_classifications("remove_users")
    assert classifications[0]["sub_code_path"] == "errors.0.code"
    classifications.clear()
    assert len(integration.error_classifications("remove_users")) == 1


def test_unknown_endpoints_and_non_batch_sizes_are_programming_errors():
    integration = acme()
    with pytest.raises(ValueError, match="no endpoint 'update_users'"):
        integration.batch_size("update_users")
    with pytest.raises(ValueError, match="does not send batches"):
        integration.batch_size("create_list")


def test_it_refuses_a_manifest_with_errors():
    doc = fixture("acme_list")
    doc["endpoints"]["add_users"]["batch_size"] = 0
    with pytest.raises(ManifestError) as caught:
        compile_manifest(doc)
    assert [d.path for d in caught.value.diagnostics] == ["endpoints.add_users.batch_size"]
    assert "endpoints.add_users.batch_size" in str(caught.value)


def test_warnings_do_not_prevent_compiling():
    doc = fixture("acme_list")
    doc["custom_fields"].append({"variable": "unused", "display_name": "Unused"})
    assert compile_manifest(doc).endpoint_names


# -- requests --------------------------------------------------------------------------


def test_it_builds_the_design_example_requests():
    integration = acme()
    create = integration.build_request("create_list", context=acme_context())
    assert (create.method, create.url) == ("POST", "https://api.acme.test/eu/lists")
    assert body(create) == {"name": "Power users"}
    assert create.item_count == 0

    add = integration.build_request(
        "add_users", context=acme_context(), users=[ALICE, BOB], batch_id="b-1"
    )
    assert add.url == "https://api.acme.test/eu/lists/L-7/add"
    assert add.body == b'{"userIds":["alice","bob"]}'
    assert (add.endpoint, add.batch_id, add.item_count) == ("add_users", "b-1", 2)


def test_the_auth_header_comes_first_then_content_type_then_the_endpoint_headers():
    doc = fixture("acme_list")
    doc["endpoints"]["add_users"]["headers"] = {"X-Api-Version": "2024-01", "X-Region": "$region"}
    request = compile_manifest(doc).build_request(
        "add_users", context=acme_context(), users=[ALICE], batch_id="b"
    )
    assert request.headers == (
        ("Authorization", "Bearer tok_live_123"),
        ("Content-Type", "application/json"),
        ("X-Api-Version", "2024-01"),
        ("X-Region", "eu"),
    )


def test_it_adds_no_client_headers():
    request = acme().build_request("add_users", context=acme_context(), users=[ALICE])
    names = {name.lower() for name, _ in request.headers}
    assert names.isdisjoint({"idempotency-key", "user-agent", "x-signature"})


def test_a_partner_content_type_replaces_the_default():
    integration = compile_manifest(fixture("jsonapi_list"))
    context = RenderContext(
        values={"api_key": "pk_9"}, mapping={"email_field": "email"}, cohort_name="x", list_id="Y"
    )
    request = integration.build_request("add_users", context=context, users=[ALICE])
    content_types = [value for name, value in request.headers if name.lower() == "content-type"]
    assert content_types == ["application/vnd.api+json"]


def test_an_empty_create_list_payload_sends_no_body_and_no_content_type():
    doc = fixture("acme_list")
    doc["endpoints"]["create_list"]["payload"] = ""
    request = compile_manifest(doc).build_request("create_list", context=acme_context())
    assert request.body is None
    assert [name for name, _ in request.headers] == ["Authorization"]


def test_delete_with_a_json_api_body():
    integration = compile_manifest(fixture("jsonapi_list"))
    context = RenderContext(
        values={"api_key": "pk_9"}, mapping={"email_field": "email"}, list_id="XyZ"
    )
    request = integration.build_request("remove_users", context=context, users=[ALICE, BOB])
    assert request.method == "DELETE"
    assert request.url == "https://a.klaviyo.test/api/lists/XyZ/relationships/profiles"
    assert body(request) == {
        "data": [
            {"type": "profile", "id": "alice@example.com"},
            {"type": "profile", "id": "bob@example.com"},
        ]
    }
    assert ("Authorization", "Klaviyo-API-Key pk_9") in request.headers
    assert ("revision", "2024-10-15") in request.headers


def test_the_amplitude_cohort_name_is_slugified_when_asked():
    integration = compile_manifest(fixture("jsonapi_list"))
    context = RenderContext(values={"api_key": "k"}, cohort_name="Saturday's cohort & héllo")
    request = integration.build_request("create_list", context=context)
    assert body(request)["data"]["attributes"]["name"] == "Saturday-s-cohort-he-llo"


def test_the_amplitude_cohort_name_is_the_cohort_name_otherwise():
    doc = fixture("acme_list")
    doc["endpoints"]["create_list"]["payload"] = '{"name": "$amplitude_cohort_name"}'
    context = acme_context(cohort_name="Saturday's cohort")
    request = compile_manifest(doc).build_request("create_list", context=context)
    assert body(request) == {"name": "Saturday's cohort"}


# -- update_users and $in_cohort -------------------------------------------------------


def tagger_context() -> RenderContext:
    return RenderContext(
        values={"api_key": "ak", "secret_key": "sk", "workspace": "acme corp/1"},
        mapping={"user_key": "user_id"},
        cohort_id="c9",
        cohort_name='He said "hi"',
    )


def test_update_users_sends_in_cohort_per_batch():
    integration = compile_manifest(fixture("property_basic"))
    entering = integration.build_request(
        "update_users", context=tagger_context(), users=[ALICE], in_cohort=True, batch_id="b/7"
    )
    leaving = integration.build_request(
        "update_users", context=tagger_context(), users=[BOB], in_cohort=False, batch_id="b8"
    )
    assert body(entering) == {
        "cohort": {"id": "c9", "name": 'He said "hi"'},
        "contacts": [{"key": "alice", "tag": "amp_c9", "in_cohort": True}],
    }
    assert body(leaving)["contacts"] == [{"key": "bob", "tag": "amp_c9", "in_cohort": False}]
    assert entering.method == "PATCH"
    assert entering.url == (
        "https://live.tagger.test/v2/workspaces/acme%20corp%2F1/contacts?batch=b/7"
    )


def test_update_users_needs_in_cohort_when_the_template_uses_it():
    integration = compile_manifest(fixture("property_basic"))
    with pytest.raises(RenderError, match="needs in_cohort") as caught:
        integration.build_request("update_users", context=tagger_context(), batch_id="b")
    assert caught.value.path == "endpoints.update_users"


def test_in_cohort_is_fixed_for_add_and_remove():
    doc = fixture("acme_list")
    for name in ("add_users", "remove_users"):
        doc["endpoints"][name]["item_template"] = (
            '{"id": "$user_id_field_amplitude", "in": $in_cohort}'
        )
    integration = compile_manifest(doc)
    add = integration.build_request("add_users", context=acme_context(), users=[ALICE])
    remove = integration.build_request("remove_users", context=acme_context(), users=[ALICE])
    assert body(add)["userIds"] == [{"id": "alice", "in": True}]
    assert body(remove)["userIds"] == [{"id": "alice", "in": False}]
    with pytest.raises(ValueError, match="always False"):
        integration.build_request("remove_users", context=acme_context(), in_cohort=True)


# -- values ----------------------------------------------------------------------------


def test_a_missing_list_id_is_a_clear_render_error():
    with pytest.raises(RenderError) as caught:
        acme().build_request("add_users", context=acme_context(list_id=None), users=[ALICE])
    assert caught.value.message == (
        "$list_id has no value yet: create_list has not returned a list id"
    )
    assert caught.value.path == "endpoints.add_users"


def test_a_missing_batch_id_is_an_error_only_when_used():
    doc = fixture("acme_list")
    doc["endpoints"]["add_users"]["payload"] = '{"userIds": $items, "batch": "$batch_id"}'
    integration = compile_manifest(doc)
    with pytest.raises(RenderError, match="needs a batch id"):
        integration.build_request("add_users", context=acme_context(), users=[ALICE])
    assert acme().build_request("add_users", context=acme_context(), users=[ALICE])


def test_a_user_without_the_mapped_property_gets_null():
    request = acme().build_request(
        "add_users", context=acme_context(), users=[ALICE, {"email": "x@example.com"}]
    )
    assert body(request) == {"userIds": ["alice", None]}


def test_a_required_mapping_without_a_chosen_property_is_an_error():
    with pytest.raises(RenderError, match="no user property is chosen") as caught:
        acme().build_request("add_users", context=acme_context(mapping={}), users=[ALICE])
    assert caught.value.path == "endpoints.add_users.item_template"


def test_an_optional_mapping_without_a_chosen_property_gives_null():
    doc = fixture("acme_list")
    doc["mapping_fields"][0]["required"] = False
    request = compile_manifest(doc).build_request(
        "add_users", context=acme_context(mapping={}), users=[ALICE]
    )
    assert body(request) == {"userIds": [None]}


def test_typed_user_values_stay_typed():
    doc = fixture("acme_list")
    doc["endpoints"]["add_users"]["item_template"] = (
        '{"id": $user_id_field_amplitude, "s": "#${user_id_field_amplitude}"}'
    )
    context = acme_context(mapping={"user_id_field_amplitude": "amplitude_id"})
    request = compile_manifest(doc).build_request("add_users", context=context, users=[ALICE])
    assert body(request) == {"userIds": [{"id": 1, "s": "#1"}]}


def test_an_unset_field_uses_its_default_then_empty_text():
    doc = fixture("property_basic")
    doc["endpoints"]["update_users"]["headers"] = {"X-Secret-Len": "[$secret_key]"}
    context = RenderContext(
        values={"api_key": "a", "workspace": "w"}, mapping={"user_key": "user_id"}
    )
    request = compile_manifest(doc).build_request(
        "update_users", context=context, users=[], in_cohort=True, batch_id="b"
    )
    assert request.url == "https://live.tagger.test/v2/workspaces/w/contacts?batch=b"
    assert ("X-Secret-Len", "[]") in request.headers


def test_a_required_field_without_a_value_is_an_error():
    context = RenderContext(values={"api_key": "a"}, mapping={"user_key": "user_id"})
    integration = compile_manifest(fixture("property_basic"))
    with pytest.raises(RenderError, match=r"\$workspace is a required field") as caught:
        integration.build_request("update_users", context=context, in_cohort=True, batch_id="b")
    assert caught.value.path == "custom_fields.2"


def test_a_header_value_with_a_line_break_is_refused():
    doc = fixture("acme_list")
    doc["endpoints"]["create_list"]["headers"] = {"X-Cohort": "$cohort_name"}
    with pytest.raises(RenderError, match="line break") as caught:
        compile_manifest(doc).build_request(
            "create_list", context=acme_context(cohort_name="a\r\nX-Evil: 1")
        )
    assert caught.value.path == "endpoints.create_list.headers.X-Cohort"


def test_a_bearer_token_with_a_line_break_is_refused():
    context = acme_context(values={"bearer_token": "tok\nX-Evil: 1", "region": "eu"})
    with pytest.raises(RenderError, match="line break") as caught:
        acme().build_request("create_list", context=context)
    assert caught.value.path == "auth.token_variable"


def test_a_host_value_that_is_not_a_host_name_is_refused():
    integration = compile_manifest(fixture("property_basic"))
    context = RenderContext(
        values={"api_key": "a", "workspace": "w", "env": "evil.test/x?"},
        mapping={"user_key": "user_id"},
    )
    with pytest.raises(RenderError, match="host name") as caught:
        integration.build_request("update_users", context=context, in_cohort=True, batch_id="b")
    assert caught.value.path == "endpoints.update_users.url"


def test_a_path_value_cannot_escape_its_segment():
    request = acme().build_request(
        "add_users", context=acme_context(list_id="../../admin?x=1#"), users=[ALICE]
    )
    assert request.url == "https://api.acme.test/eu/lists/..%2F..%2Fadmin%3Fx%3D1%23/add"


# -- auth and secrets ------------------------------------------------------------------


def test_basic_auth_sends_base64_of_user_and_password():
    integration = compile_manifest(fixture("property_basic"))
    request = integration.build_request(
        "update_users", context=tagger_context(), in_cohort=True, batch_id="b"
    )
    assert request.headers[0] == ("Authorization", "Basic " + base64.b64encode(b"ak:sk").decode())


def test_basic_auth_without_a_password_variable_sends_an_empty_password():
    doc = fixture("property_basic")
    doc["auth"]["password_variable"] = None
    doc["custom_fields"] = [f for f in doc["custom_fields"] if f["variable"] != "secret_key"]
    request = compile_manifest(doc).build_request(
        "update_users", context=tagger_context(), in_cohort=True, batch_id="b"
    )
    assert request.headers[0] == ("Authorization", "Basic " + base64.b64encode(b"ak:").decode())


def test_no_auth_sends_no_authorization_header():
    integration = compile_manifest(fixture("no_auth_minimal"))
    context = RenderContext(mapping={"uid": "user_id"}, list_id="1")
    request = integration.build_request("add_users", context=context, users=[ALICE])
    assert request.headers == (("Content-Type", "application/json"),)
    assert request.body == b'["alice"]'
    assert request.secrets == ()


def test_secrets_include_auth_values_and_derived_credentials():
    integration = compile_manifest(fixture("property_basic"))
    secrets = integration.secret_values(tagger_context())
    credential = base64.b64encode(b"ak:sk").decode()
    assert set(secrets) == {"ak", "sk", "ak:sk", credential}
    request = integration.build_request(
        "update_users", context=tagger_context(), in_cohort=True, batch_id="b"
    )
    assert request.secrets == secrets


def test_auth_values_are_secret_even_if_the_field_is_not_marked_secret():
    doc = fixture("acme_list")
    doc["custom_fields"][0]["secret"] = False
    assert compile_manifest(doc).secret_values(acme_context()) == ("tok_live_123",)


def test_an_api_key_header_value_is_a_secret_too():
    integration = compile_manifest(fixture("jsonapi_list"))
    secrets = integration.secret_values(RenderContext(values={"api_key": "pk_9"}))
    assert secrets == ("pk_9", "Klaviyo-API-Key pk_9")


def test_empty_secrets_are_left_out():
    integration = compile_manifest(fixture("property_basic"))
    secrets = integration.secret_values(RenderContext(values={"api_key": "ak"}))
    assert "" not in secrets
    assert "ak" in secrets


def test_non_auth_secret_fields_are_secrets():
    doc = fixture("acme_list")
    doc["custom_fields"][1] = {
        "variable": "region",
        "display_name": "Signing secret",
        "secret": True,
    }
    secrets = compile_manifest(doc).secret_values(acme_context())
    assert set(secrets) == {"tok_live_123", "eu"}


# -- a big batch -----------------------------------------------------------------------


def test_a_10000_user_batch_matches_hand_written_code():
    doc = fixture("acme_list")
    doc["mapping_fields"].append(
        {
            "variable": "email_map",
            "display_name": "Email",
            "type": "single_select",
            "options": ["email"],
        }
    )
    doc["endpoints"]["add_users"]["item_template"] = (
        '{"id": "$user_id_field_amplitude", "email": $email_map, '
        '"label": "[Amplitude] ${cohort_name}: ${user_id_field_amplitude}"}'
    )
    doc["endpoints"]["remove_users"]["item_template"] = '"$email_map"'
    users = generate_users(10_000)
    context = acme_context(mapping={"user_id_field_amplitude": "user_id", "email_map": "email"})
    request = compile_manifest(doc).build_request("add_users", context=context, users=users)
    expected = orjson.dumps(
        {
            "userIds": [
                {
                    "id": user["user_id"],
                    "email": user["email"],
                    "label": f"[Amplitude] Power users: {user['user_id']}",
                }
                for user in users
            ]
        }
    )
    assert request.body == expected
    assert request.item_count == 10_000


# -- partial compilation ---------------------------------------------------------------


def test_partial_compilation_keeps_the_endpoints_without_errors():
    doc = fixture("acme_list")
    doc["endpoints"]["add_users"]["payload"] = '{"userIds": $items'
    integration, blocked = compile_manifest_partially(doc)
    assert integration.endpoint_names == ("create_list", "remove_users")
    assert [d.code for d in blocked["add_users"]] == ["invalid_json"]


def test_auth_errors_block_every_endpoint():
    doc = fixture("acme_list")
    doc["auth"]["token_variable"] = "nope"
    integration, blocked = compile_manifest_partially(doc)
    assert integration.endpoint_names == ()
    assert set(blocked) == {"create_list", "add_users", "remove_users"}
    assert blocked["create_list"][0].path == "auth.token_variable"


@pytest.mark.parametrize("doc", [None, [], {}, {"endpoints": 3}, {"endpoints": {"x": 1}}])
def test_partial_compilation_never_raises(doc):
    integration, blocked = compile_manifest_partially(doc)
    assert integration.endpoint_names == ()
    assert blocked == {}


def test_basic_auth_with_an_undeclared_password_sends_an_empty_one():
    doc = fixture("property_basic")
    doc["custom_fields"] = [f for f in doc["custom_fields"] if f["variable"] != "secret_key"]
    integration = compile_manifest(doc)
    request = integration.build_request(
        "update_users", context=tagger_context(), in_cohort=True, batch_id="b"
    )
    assert request.headers[0] == ("Authorization", "Basic " + base64.b64encode(b"ak:").decode())
    assert "ak" in integration.secret_values(tagger_context())
