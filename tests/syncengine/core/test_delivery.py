"""deliver_batch and ensure_list against a real loopback partner that needs every
version-2 construct (tests/fakes/directory.py): lookups, creates, per-user requests,
find-or-create, deferrals instead of long sleeps."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncengine.core.compiler import CompiledIntegration, compile_manifest
from syncengine.core.delivery import (
    batch_id_for,
    deliver_batch,
    ensure_list,
    user_request_id,
)
from syncengine.core.errors import AttemptRecord
from syncengine.core.http import OutboundClient
from syncengine.core.retry import RetryPolicy
from syncengine.core.types import RenderContext
from tests.fakes.directory import TOKEN, DirectoryApi

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "directory_list.json"
VENDOR = "https://api.directory.test"
FAST = RetryPolicy(max_attempts=4, base_delay=0.001, jitter=0)


def manifest_for(base: str) -> dict[str, Any]:
    """The fixture manifest with the vendor's origin pointed at the fake."""
    return json.loads(FIXTURE.read_text().replace(VENDOR, base))


def users(*names: str, domain: str = "example.test") -> list[dict[str, str]]:
    return [{"user_id": name, "email": f"{name}@{domain}"} for name in names]


@pytest.fixture
def api() -> Iterator[DirectoryApi]:
    with DirectoryApi() as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    with OutboundClient(allow_private_networks=True, read_timeout=5, deadline=10) as outbound:
        yield outbound


@pytest.fixture
def integration(api: DirectoryApi) -> CompiledIntegration:
    return compile_manifest(manifest_for(api.base_url))


def context(list_id: str | None = None, **mapping: str) -> RenderContext:
    return RenderContext(
        values={"bearer_token": TOKEN},
        mapping=mapping or {"email": "email"},
        cohort_id="c1",
        cohort_name="Power users",
        list_id=list_id,
    )


def make_list(api: DirectoryApi, name: str = "Power users") -> str:
    list_id = "L-existing"
    api.lists[list_id] = {"name": name, "members": set()}
    return list_id


def deliver(integration, client, endpoint, batch, list_id, **options):
    keys = options.pop("keys", [user["user_id"] for user in batch])
    return deliver_batch(
        integration,
        client,
        endpoint=endpoint,
        users=batch,
        keys=keys,
        context=options.pop("context", context(list_id)),
        batch_id=options.pop("batch_id", "batch-1"),
        policy=options.pop("policy", FAST),
        **options,
    )


# --- lookups and creates -----------------------------------------------------------------


def test_add_looks_users_up_creates_the_unknown_and_sends_their_ids(api, client, integration):
    list_id = make_list(api)
    known = {email: api.add_person(email) for email in ("BOB@example.test", "dana@example.test")}
    batch = users("alice", "bob", "charlie", "dana")
    records: list[AttemptRecord] = []

    outcome = deliver(integration, client, "add_users", batch, list_id, on_attempt=records.append)

    assert outcome.ok and outcome.status == "delivered", outcome.error
    assert outcome.delivered == ("alice", "bob", "charlie", "dana")
    assert set(outcome.created) == {"alice", "charlie"}
    # Matched by key (case-insensitively), although the fake answers in reverse order.
    assert outcome.partner_ids["bob"] == known["BOB@example.test"]
    assert outcome.partner_ids["dana"] == known["dana@example.test"]
    assert api.members(list_id) == set(outcome.partner_ids.values())
    # One lookup for the batch, one create per unknown user, then the batch itself.
    assert [record.endpoint for record in records] == [
        "add_users.lookup",
        "add_users.create",
        "add_users.create",
        "add_users",
    ]
    added = api.calls_to("POST", f"/lists/{list_id}/members")[0]
    assert added.json() == {"ids": [outcome.partner_ids[u["user_id"]] for u in batch]}
    assert added.header("idempotency-key") == "batch-1"


def test_lookups_go_in_requests_of_their_own_batch_size(api, client, integration):
    list_id = make_list(api)
    batch = [{"user_id": f"u{i:03d}", "email": f"u{i:03d}@example.test"} for i in range(120)]
    for user in batch:
        api.add_person(user["email"])

    outcome = deliver(integration, client, "add_users", batch, list_id)

    assert outcome.ok
    searches = api.calls_to("POST", "/people/search")
    assert [len(call.json()["emails"]) for call in searches] == [50, 50, 20]
    assert len(api.members(list_id)) == 120


def test_known_partner_ids_are_not_looked_up_again(api, client, integration):
    list_id = make_list(api)
    alice = api.add_person("alice@example.test")
    bob = api.add_person("bob@example.test")

    outcome = deliver(
        integration,
        client,
        "add_users",
        users("alice", "bob"),
        list_id,
        known_partner_ids={"alice": alice},
    )

    assert outcome.ok
    (search,) = api.calls_to("POST", "/people/search")
    assert search.json() == {"emails": ["bob@example.test"]}
    assert outcome.partner_ids == {"alice": alice, "bob": bob}
    assert api.members(list_id) == {alice, bob}


def test_users_the_lookup_does_not_find_are_skipped_and_counted(api, client, integration):
    list_id = make_list(api)
    bob = api.add_person("bob@example.test")
    api.members(list_id).add(bob)
    records: list[AttemptRecord] = []

    outcome = deliver(
        integration,
        client,
        "remove_users",
        users("alice", "bob"),
        list_id,
        on_attempt=records.append,
    )

    assert outcome.ok and outcome.delivered == ("bob",)
    assert outcome.skipped["alice"].reason == "not_found"
    assert "alice@example.test" in outcome.skipped["alice"].message
    assert api.members(list_id) == set()
    # One request per user, with the user's own Idempotency-Key and partner id in the path.
    (removal,) = api.calls_to("DELETE", r"/lists/.+/members/.+")
    assert removal.path == f"/lists/{list_id}/members/{bob}"
    assert removal.header("idempotency-key") == user_request_id("batch-1", "bob")
    assert [r.endpoint for r in records] == ["remove_users.lookup", "remove_users"]


def test_a_lookup_that_fails_the_batch_when_not_found(api, client, integration):
    manifest = manifest_for(api.base_url)
    manifest["endpoints"]["add_users"]["lookup"]["not_found"] = "fail"
    del manifest["endpoints"]["add_users"]["lookup"]["create"]
    strict = compile_manifest(manifest)
    list_id = make_list(api)

    outcome = deliver(strict, client, "add_users", users("alice"), list_id)

    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error.kind == "not_found" and outcome.error.permanent
    assert "alice@example.test" in outcome.error.message
    assert outcome.pending == ("alice",)
    assert api.calls_to("POST", f"/lists/{list_id}/members") == []


def test_users_without_the_mapped_value_are_skipped_before_anything_is_sent(
    api, client, integration
):
    list_id = make_list(api)
    batch = [{"user_id": "nomail"}, {"user_id": "blank", "email": ""}]

    outcome = deliver(integration, client, "add_users", batch, list_id)

    assert outcome.status == "skipped" and outcome.ok
    assert {key: s.reason for key, s in outcome.skipped.items()} == {
        "nomail": "missing_value",
        "blank": "missing_value",
    }
    assert "$email (the user property email)" in outcome.skipped["nomail"].message
    assert api.calls == []


def test_lookups_obey_retries_and_the_ssrf_guard(api, integration):
    list_id = make_list(api)
    api.fail_next(503)
    with OutboundClient(allow_private_networks=True) as open_client:
        records: list[AttemptRecord] = []
        outcome = deliver(
            integration, open_client, "add_users", users("zoe"), list_id, on_attempt=records.append
        )
    assert outcome.ok
    assert [(r.endpoint, r.outcome) for r in records[:2]] == [
        ("add_users.lookup", "retrying"),
        ("add_users.lookup", "success"),
    ]
    with OutboundClient() as guarded:
        blocked = deliver(integration, guarded, "add_users", users("yves"), list_id)
    assert blocked.error is not None and blocked.error.kind == "blocked_address"


def test_throttle_is_called_before_every_attempt_including_lookups(api, client, integration):
    list_id = make_list(api)
    calls: list[int] = []

    outcome = deliver(
        integration,
        client,
        "add_users",
        users("a", "b"),
        list_id,
        throttle=lambda: calls.append(1),
    )

    assert outcome.ok
    assert len(calls) == len(api.calls) == 4  # lookup, two creates, the batch


# --- per-user requests -------------------------------------------------------------------


def test_a_per_user_batch_may_be_delivered_in_part(api, client, integration):
    manifest = manifest_for(api.base_url)
    manifest["endpoints"]["remove_users"]["errors"] = []
    manifest["delivery"]["max_concurrency"] = 1
    strict = compile_manifest(manifest)
    list_id = make_list(api)
    ids = {name: api.add_person(f"{name}@example.test") for name in ("a", "b", "c")}
    api.members(list_id).update(ids.values())
    # The fake forgets b between the lookup and the removal: its removal gets a 404.
    original = api.search

    def search_then_forget(call, match):
        answer = original(call, match)
        api.people.pop("b@example.test")
        return answer

    api._routes = [
        (method, pattern, search_then_forget if handler == original else handler)
        for method, pattern, handler in api._routes
    ]

    outcome = deliver(strict, client, "remove_users", users("a", "b", "c"), list_id)

    assert outcome.status == "partial"
    assert outcome.delivered == ("a",)
    assert outcome.error is not None and outcome.error.status == 404
    assert outcome.pending == ("b", "c")
    assert api.members(list_id) == {ids["b"], ids["c"]}


def test_per_user_attempts_are_reported_on_the_calling_thread(api, client, integration):
    list_id = make_list(api)
    names = [f"p{i}" for i in range(12)]
    for name in names:
        api.members(list_id).add(api.add_person(f"{name}@example.test"))
    threads: set[int] = set()

    outcome = deliver(
        integration,
        client,
        "remove_users",
        users(*names),
        list_id,
        on_attempt=lambda record: threads.add(threading.get_ident()),
    )

    assert outcome.ok and outcome.delivered == tuple(names)
    assert threads == {threading.get_ident()}
    assert api.members(list_id) == set()


# --- deferral ----------------------------------------------------------------------------


def test_a_long_wait_defers_the_batch_and_a_later_call_resumes_its_attempts(
    api, client, integration
):
    list_id = make_list(api)
    api.fail_next(429, {"error": "slow down"}, {"Retry-After": "30"})
    records: list[AttemptRecord] = []
    slept: list[float] = []

    first = deliver(
        integration,
        client,
        "add_users",
        users("ann"),
        list_id,
        on_attempt=records.append,
        sleep=slept.append,
        max_wait=5,
        policy=RetryPolicy(),
    )

    assert first.status == "deferred" and first.deferred is not None
    assert first.deferred.after_seconds == 30
    assert first.deferred.attempts_used == 1
    assert first.deferred.request == "add_users.lookup"
    assert slept == [] and first.pending == ("ann",)

    again = deliver(
        integration,
        client,
        "add_users",
        users("ann"),
        list_id,
        on_attempt=records.append,
        start_attempt=first.deferred.attempts_used + 1,
        known_partner_ids=first.partner_ids,
        policy=RetryPolicy(),
    )

    assert again.ok
    assert [(r.endpoint, r.attempt) for r in records] == [
        ("add_users.lookup", 1),
        ("add_users.lookup", 2),
        ("add_users.create", 1),
        ("add_users", 1),
    ]


def test_idempotency_keys_are_stable_across_retries_and_redeliveries(api, client, integration):
    list_id = make_list(api)
    ids = {name: api.add_person(f"{name}@example.test") for name in ("a", "b")}
    api.members(list_id).update(ids.values())
    api.fail_next(500)

    for _ in range(2):
        deliver(integration, client, "remove_users", users("a", "b"), list_id, batch_id="b-9")

    keys = [call.header("idempotency-key") for call in api.calls if call.method == "DELETE"]
    assert sorted(set(keys)) == sorted({user_request_id("b-9", "a"), user_request_id("b-9", "b")})
    lookups = {call.header("idempotency-key") for call in api.calls_to("POST", "/people/search")}
    assert lookups == {
        batch_id_for("b-9", "lookup", ["a", "b"]),
    }


# --- the list ------------------------------------------------------------------------------


def test_the_list_is_found_by_name_before_one_is_created(api, client, integration):
    existing = make_list(api, "Power users")

    found = ensure_list(integration, client, context=context(), batch_id="cl-1", policy=FAST)

    assert found.list_id == existing and found.found and not found.created
    assert api.calls_to("POST", "/lists") == []


def test_a_list_not_found_is_created(api, client, integration):
    make_list(api, "Someone else's list")

    created = ensure_list(integration, client, context=context(), batch_id="cl-1", policy=FAST)

    assert created.created and created.list_id in api.lists
    assert api.lists[created.list_id]["name"] == "Power users"
    assert [call.method for call in api.calls] == ["GET", "POST"]


def test_a_render_problem_is_a_permanent_failure_naming_the_field(api, client, integration):
    outcome = deliver(
        integration,
        client,
        "add_users",
        users("a"),
        "L1",
        context=RenderContext(values={"bearer_token": TOKEN}, mapping={}, list_id="L1"),
    )
    assert outcome.error is not None and outcome.error.kind == "invalid_request"
    assert "no user property is chosen for the mapping field $email" in outcome.error.message
    assert api.calls == []


def test_a_signing_integration_signs_its_lookups_too(api, client):
    manifest = manifest_for(api.base_url)
    manifest["delivery"]["sign_requests"] = True
    signing = compile_manifest(manifest)
    list_id = make_list(api)
    with pytest.raises(ValueError, match="signing secret"):
        deliver(signing, client, "add_users", users("a"), list_id)
    assert api.calls == []

    outcome = deliver(signing, client, "add_users", users("a"), list_id, signing_secret="s3cret")

    assert outcome.ok
    assert all(call.header("x-signature") for call in api.calls)
    assert {call.path for call in api.calls} >= {"/people/search", "/people"}
