"""Building the requests of a version-2 manifest: lookups, creates, per-user requests,
typed values, missing values and auth overrides, request by request."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from syncengine.core.compiler import compile_manifest
from syncengine.core.template.errors import RenderError
from syncengine.core.types import RenderContext
from tests.syncengine.core.manifest.conftest import fixture

CONTEXT = RenderContext(
    values={"bearer_token": "tok-1"},
    mapping={"email": "email"},
    cohort_id="c1",
    cohort_name="Power users",
    list_id="L 1/2",
)
ALICE = {"user_id": "alice", "email": "alice@example.test", "seats": "3", "plan": ""}
BOB = {"user_id": "bob", "email": "bob@example.test", "seats": "many"}


def directory(**changes: Any) -> dict[str, Any]:
    doc = fixture("directory_list")
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return doc


def body(request) -> Any:
    return json.loads(request.body)


def test_the_lookup_sends_the_batch_of_keys():
    integration = compile_manifest(directory())
    request = integration.build_request(
        "add_users.lookup", context=CONTEXT, users=[ALICE, BOB], batch_id="lk-1"
    )
    assert request.endpoint == "add_users.lookup"
    assert (request.method, request.url) == ("POST", "https://api.directory.test/people/search")
    assert body(request) == {"emails": ["alice@example.test", "bob@example.test"]}
    assert request.item_count == 2 and request.batch_id == "lk-1"
    assert ("Authorization", "Bearer tok-1") in request.headers


def test_partner_ids_fill_the_item_template_in_order():
    integration = compile_manifest(directory())
    request = integration.build_request(
        "add_users", context=CONTEXT, users=[ALICE, BOB], batch_id="b", partner_ids=["P7", "P9"]
    )
    assert body(request) == {"ids": ["P7", "P9"]}
    assert request.url == "https://api.directory.test/lists/L%201%2F2/members"


def test_a_per_user_request_puts_the_users_values_in_its_url_encoded_for_the_path():
    integration = compile_manifest(directory())
    request = integration.build_request(
        "remove_users", context=CONTEXT, users=[ALICE], batch_id="u1", partner_ids=["P/../1?x"]
    )
    assert request.method == "DELETE" and request.body is None
    assert request.url == "https://api.directory.test/lists/L%201%2F2/members/P%2F..%2F1%3Fx"
    with pytest.raises(ValueError, match="one request per user"):
        integration.build_request(
            "remove_users", context=CONTEXT, users=[ALICE, BOB], partner_ids=["1", "2"]
        )


def test_a_per_user_payload_gets_item_and_the_users_values():
    doc = directory()
    create = doc["endpoints"]["add_users"]["lookup"]["create"]
    create["item_template"] = '{"email": "$email", "seats": "${seats:number}"}'
    create["payload"] = '{"data": $item, "who": "is ${email:json}", "raw": "${email:json}"}'
    doc["mapping_fields"].append({"variable": "seats", "display_name": "Seats"})
    integration = compile_manifest(doc)
    context = RenderContext(values=CONTEXT.values, mapping={"email": "email", "seats": "seats"})
    request = integration.build_request("add_users.create", context=context, users=[ALICE])
    assert body(request) == {
        "data": {"email": "alice@example.test", "seats": 3},
        "who": 'is "alice@example.test"',
        # A whole-string placeholder is a JSON value already: json changes nothing there.
        "raw": "alice@example.test",
    }


def test_the_batch_joins_into_a_query_parameter():
    doc = directory()
    remove = doc["endpoints"]["remove_users"]
    remove.update(
        mode="batch",
        method="DELETE",
        url="https://api.directory.test/lists/$list_id/members?ids=${items:join(,)}",
        item_template='"$partner_id"',
        errors=[],
    )
    integration = compile_manifest(doc)
    request = integration.build_request(
        "remove_users",
        context=CONTEXT,
        users=[ALICE, BOB],
        batch_id="b",
        partner_ids=["a,b", "c&d"],
    )
    assert request.url.endswith("/members?ids=a%2Cb,c%26d")
    assert request.body is None


# --- screening users -----------------------------------------------------------------------


def test_screening_skips_missing_values_under_skip_and_refused_types():
    doc = directory()
    doc["mapping_fields"].append({"variable": "seats", "display_name": "Seats"})
    doc["endpoints"]["add_users"]["item_template"] = (
        '{"id": "$partner_id", "seats": "${seats:number}"}'
    )
    integration = compile_manifest(doc)
    context = RenderContext(values=CONTEXT.values, mapping={"email": "email", "seats": "seats"})
    batch = [ALICE, BOB, {"user_id": "x", "seats": "1"}]
    skipped = integration.screen_users("add_users", batch, context)
    assert list(skipped) == [1]
    assert skipped[1].reason == "invalid_value" and "'many' is not a number" in skipped[1].message
    # The email is read by the lookup: a user without one cannot be looked up.
    unfound = integration.screen_users("add_users.lookup", batch, context)
    assert list(unfound) == [2]
    assert unfound[2].reason == "missing_value" and "$email" in unfound[2].message


def test_omit_drops_the_member_and_skips_users_whose_value_stands_in_the_url():
    doc = directory()
    doc["mapping_fields"].append(
        {"variable": "plan", "display_name": "Plan", "if_missing": "omit", "required": False}
    )
    doc["endpoints"]["add_users"]["item_template"] = '{"id": "$partner_id", "plan": "$plan"}'
    doc["endpoints"]["remove_users"]["url"] += "?plan=$plan"
    integration = compile_manifest(doc)
    context = RenderContext(
        values=CONTEXT.values, mapping={"email": "email", "plan": "plan"}, list_id="L1"
    )
    users = [ALICE, {**BOB, "plan": "pro"}]
    assert integration.screen_users("add_users", users, context) == {}
    request = integration.build_request(
        "add_users", context=context, users=users, batch_id="b", partner_ids=["1", "2"]
    )
    assert body(request) == {"ids": [{"id": "1"}, {"id": "2", "plan": "pro"}]}
    assert list(integration.screen_users("remove_users", users, context)) == [0]


def test_a_mapping_default_and_a_custom_field_left_out():
    doc = directory()
    doc["mapping_fields"].append(
        {"variable": "plan", "display_name": "Plan", "if_missing": "default", "default": "free"}
    )
    doc["custom_fields"].append(
        {"variable": "source", "display_name": "Source", "if_missing": "omit"}
    )
    doc["endpoints"]["add_users"]["item_template"] = '{"id": "$partner_id", "plan": "$plan"}'
    doc["endpoints"]["add_users"]["payload"] = '{"ids": $items, "source": "$source"}'
    integration = compile_manifest(doc)
    context = RenderContext(
        values=CONTEXT.values, mapping={"email": "email", "plan": "plan"}, list_id="L1"
    )
    request = integration.build_request(
        "add_users", context=context, users=[ALICE], batch_id="b", partner_ids=["1"]
    )
    assert body(request) == {"ids": [{"id": "1", "plan": "free"}]}
    with_source = RenderContext(
        values={**CONTEXT.values, "source": "crm"}, mapping=context.mapping, list_id="L1"
    )
    request = integration.build_request(
        "add_users", context=with_source, users=[ALICE], batch_id="b", partner_ids=["1"]
    )
    assert body(request)["source"] == "crm"


def test_lookup_keys_render_per_user():
    integration = compile_manifest(directory())
    assert integration.lookup_keys("add_users", [ALICE, BOB], CONTEXT) == [
        "alice@example.test",
        "bob@example.test",
    ]


# --- auth --------------------------------------------------------------------------------


def with_override(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["custom_fields"] += [
        {"variable": "site_id", "display_name": "Site ID"},
        {"variable": "site_key", "display_name": "Site key"},
    ]
    doc["endpoints"]["remove_users"]["auth"] = {
        "method": "basic",
        "username_variable": "site_id",
        "password_variable": "site_key",
    }
    return doc


def test_an_auth_override_replaces_the_integrations_auth_for_its_endpoint_and_lookup():
    integration = compile_manifest(with_override(directory()))
    context = RenderContext(
        values={"bearer_token": "tok-1", "site_id": "s1", "site_key": "k:2"},
        mapping={"email": "email"},
        list_id="L1",
    )
    basic = "Basic " + base64.b64encode(b"s1:k:2").decode()
    remove = integration.build_request(
        "remove_users", context=context, users=[ALICE], batch_id="b", partner_ids=["1"]
    )
    lookup = integration.build_request("remove_users.lookup", context=context, users=[ALICE])
    add = integration.build_request(
        "add_users", context=context, users=[ALICE], batch_id="b", partner_ids=["1"]
    )
    assert dict(remove.headers)["Authorization"] == basic
    assert dict(lookup.headers)["Authorization"] == basic
    assert dict(add.headers)["Authorization"] == "Bearer tok-1"
    # Fields read by any auth are secrets, with what is derived from them.
    assert {"k:2", "s1:k:2", base64.b64encode(b"s1:k:2").decode()} <= set(remove.secrets)


def test_the_list_name_to_match():
    integration = compile_manifest(directory())
    assert integration.list_name_to_match(CONTEXT) == "Power users"
    request = integration.build_request("create_list.find", context=CONTEXT)
    assert (request.method, request.body) == ("GET", None)


def test_a_required_mapping_choice_is_still_required():
    integration = compile_manifest(directory())
    with pytest.raises(RenderError, match=r"mapping field \$email"):
        integration.build_request(
            "add_users.lookup", context=RenderContext(values=CONTEXT.values), users=[ALICE]
        )
