"""The sync protocol end to end: compiled manifests, the real client, loopback partners.

Most tests run against the demo partner (a real HTTP service); the ones that need a
partner to misbehave in a precise way use pytest-httpserver handlers.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from demo_partner import DemoPartner
from demo_partner import manifests as demo_manifests
from syncengine.core.compiler import compile_manifest
from syncengine.core.errors import AttemptRecord
from syncengine.core.http import OutboundClient
from syncengine.core.protocol import (
    BATCH_ID_HEX_CHARS,
    batch_id_for,
    batches,
    diff_members,
    plan_batches,
    run_sync,
    users_by_key,
)
from syncengine.core.retry import RetryPolicy
from syncengine.core.types import RenderContext
from syncengine.core.users import GeneratedUsers

TOKEN = "demo-token"
CONTEXT = RenderContext(
    values={"bearer_token": TOKEN},
    mapping={"user_id_field": "user_id"},
    cohort_id="coh_1",
    cohort_name="Power users",
)
FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.001, jitter=0)


def delivered(**delivery: Any) -> dict[str, Any]:
    return {"max_concurrency": 4, "requests_per_second": None, "sign_requests": False} | delivery


def list_manifest(base: str, **delivery: Any) -> dict[str, Any]:
    """A list-based integration for the demo partner's list API."""
    return demo_manifests.list_manifest(base, name="Demo Lists", delivery=delivered(**delivery))


def property_manifest(base: str, **delivery: Any) -> dict[str, Any]:
    """A property-based integration for the demo partner's property API."""
    return demo_manifests.property_manifest(
        base, name="Demo Lists", batch_size=2, delivery=delivered(**delivery)
    )


def with_endpoint(manifest: dict[str, Any], endpoint: str, **settings: Any) -> dict[str, Any]:
    changed = copy.deepcopy(manifest)
    changed["endpoints"][endpoint].update(settings)
    return changed


def people(*names: str) -> dict[str, dict[str, str]]:
    return {name: {"user_id": name, "email": f"{name}@example.test"} for name in names}


def numbered(count: int) -> dict[str, dict[str, str]]:
    return people(*(f"user{i:06d}" for i in range(count)))


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    with OutboundClient(allow_private_networks=True, read_timeout=5, deadline=10) as outbound:
        yield outbound


class Recorder:
    """Collects every callback in the order the protocol made it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.attempts: list[AttemptRecord] = []
        self.delivered: dict[str, set[str]] = {}

    def on_list_id(self, list_id: str) -> None:
        self.events.append(("list_id", list_id))

    def on_attempt(self, record: AttemptRecord) -> None:
        self.attempts.append(record)
        self.events.append(("attempt", record.endpoint))

    def on_batch_delivered(self, endpoint: str, keys: tuple[str, ...]) -> None:
        self.delivered.setdefault(endpoint, set()).update(keys)
        self.events.append(("delivered", endpoint))

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_list_id": self.on_list_id,
            "on_attempt": self.on_attempt,
            "on_batch_delivered": self.on_batch_delivered,
        }


def api_requests(partner: DemoPartner, path_part: str = "") -> list[dict[str, Any]]:
    return [e for e in partner.state.log_entries() if path_part in e["path"]]


# --- pure helpers ---------------------------------------------------------------------


def test_diff_members_returns_sorted_additions_and_removals():
    assert diff_members(["c", "a", "b"], ["b", "d"]) == (["a", "c"], ["d"])
    assert diff_members([], []) == ([], [])


def test_batches_split_with_a_short_last_batch():
    assert [len(b) for b in batches(list(range(25_000)), 10_000)] == [10_000, 10_000, 5_000]
    assert list(batches([], 10)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(batches([1], 0))


def test_batch_ids_are_stable_and_distinct():
    first = batch_id_for("conn:coh:run1", "add_users", ["a", "b"])
    assert first == batch_id_for("conn:coh:run1", "add_users", ["a", "b"])
    assert len(first) == BATCH_ID_HEX_CHARS
    assert int(first, 16) >= 0
    others = {
        batch_id_for("conn:coh:run2", "add_users", ["a", "b"]),
        batch_id_for("conn:coh:run1", "remove_users", ["a", "b"]),
        batch_id_for("conn:coh:run1", "add_users", ["a", "c"]),
        batch_id_for("conn:coh:run1", "add_users", ["ab"]),
        batch_id_for("conn:coh:run1", "add_users", ["a", "b"], direction="leave"),
    }
    assert first not in others
    assert len(others) == 5


def test_plan_batches_sorts_users_and_ids_each_batch():
    planned = plan_batches("add_users", people("c", "a", "b"), size=2, scope="s")
    assert [batch.keys for batch in planned] == [("a", "b"), ("c",)]
    assert planned[0].users[0]["user_id"] == "a"
    assert planned[0].batch_id == batch_id_for("s", "add_users", ["a", "b"])


def test_batches_of_generated_users_are_those_of_the_same_users_in_a_dict():
    generated = GeneratedUsers(25, properties={"user_id", "email"})
    in_a_dict = dict(generated.items())
    made = plan_batches("update_users", generated, size=10, scope="s", in_cohort=False)
    built = plan_batches("update_users", in_a_dict, size=10, scope="s", in_cohort=False)
    assert len(made) == len(built) == 3
    assert list(made) == built
    assert (made[-1], made[0:2]) == (built[-1], built[0:2])
    with pytest.raises(IndexError):
        made[3]


def test_users_by_key_skips_users_without_the_key():
    users = [{"user_id": "a"}, {"user_id": ""}, {"email": "x@y"}, {"user_id": 7}]
    assert sorted(users_by_key(users, "user_id")) == ["7", "a"]


# --- list-based syncs against the demo partner ----------------------------------------


def test_a_first_sync_creates_the_list_then_adds_25000_users_in_three_batches(partner, client):
    integration = compile_manifest(list_manifest(partner.url))
    recorder = Recorder()
    users = numbered(25_000)

    result = run_sync(
        integration,
        client,
        context=CONTEXT,
        scope="conn:coh:1",
        to_add=users,
        **recorder.callbacks(),
    )

    assert result.ok, result.error
    assert result.list_created is True
    assert result.batches_planned == result.batches_delivered == 3
    assert result.delivered_users == {"add_users": 25_000}
    # The list id is reported before anything else happens.
    assert recorder.events[0] == ("attempt", "create_list")
    assert recorder.events[1] == ("list_id", result.list_id)
    adds = api_requests(partner, "/members")
    assert sorted(entry["item_count"] for entry in adds) == [5_000, 10_000, 10_000]
    assert partner.state.members_of(result.list_id) == set(users)
    assert recorder.delivered == {"add_users": set(users)}
    # Every request carried a distinct Idempotency-Key, create_list included.
    keys = [entry["idempotency_key"] for entry in api_requests(partner)]
    assert None not in keys
    assert len(set(keys)) == 4


class WatchedUsers(GeneratedUsers):
    """Generated users that note, whenever a run of them is made, how many add requests
    the partner had received by then."""

    def __init__(self, count: int, partner: DemoPartner):
        super().__init__(count, properties={"user_id"})
        self.partner = partner
        self.made: list[tuple[int, int]] = []

    def between(self, start: int, stop: int) -> list[dict[str, Any]]:
        self.made.append((start, len(api_requests(self.partner, "/members"))))
        return super().between(start, stop)


def test_generated_users_are_made_a_batch_at_a_time_as_the_batches_go(partner, client):
    integration = compile_manifest(list_manifest(partner.url, max_concurrency=1))
    users = WatchedUsers(25_000, partner)

    result = run_sync(integration, client, context=CONTEXT, scope="conn:coh:gen", to_add=users)

    assert result.ok, result.error
    assert result.delivered_users == {"add_users": 25_000}
    assert partner.state.members_of(result.list_id) == set(users)
    # One request at a time: each batch's users were made once the one before was sent.
    assert users.made == [(0, 0), (10_000, 1), (20_000, 2)]


def test_a_rerun_after_success_sends_nothing(partner, client):
    integration = compile_manifest(list_manifest(partner.url))
    current = people("alice", "bob")
    recorder = Recorder()
    first = run_sync(
        integration, client, context=CONTEXT, scope="s1", to_add=current, **recorder.callbacks()
    )
    delivered = recorder.delivered["add_users"]
    requests_before = len(api_requests(partner))

    to_add, to_remove = diff_members(current, delivered)
    second = run_sync(
        integration,
        client,
        context=_with_list_id(first.list_id),
        scope="s2",
        to_add={k: current[k] for k in to_add},
        to_remove={k: current[k] for k in to_remove},
    )
    assert (to_add, to_remove) == ([], [])
    assert second.ok
    assert second.batches_planned == 0
    assert len(api_requests(partner)) == requests_before


def test_removals_go_out_with_delete_and_leave_the_others(partner, client):
    integration = compile_manifest(list_manifest(partner.url))
    first = run_sync(integration, client, context=CONTEXT, scope="s1", to_add=people("a", "b", "c"))
    context = _with_list_id(first.list_id)
    recorder = Recorder()
    second = run_sync(
        integration,
        client,
        context=context,
        scope="s2",
        to_add=people("d"),
        to_remove=people("a", "b"),
        **recorder.callbacks(),
    )
    assert second.ok
    assert second.list_created is False
    assert partner.state.members_of(first.list_id) == {"c", "d"}
    assert recorder.delivered == {"add_users": {"d"}, "remove_users": {"a", "b"}}
    assert [e["method"] for e in api_requests(partner, "/members")][-2:] in (
        ["POST", "DELETE"],
        ["DELETE", "POST"],
    )


def _with_list_id(list_id: str | None) -> RenderContext:
    return RenderContext(
        values=CONTEXT.values,
        mapping=CONTEXT.mapping,
        cohort_id=CONTEXT.cohort_id,
        cohort_name=CONTEXT.cohort_name,
        list_id=list_id,
    )


def test_a_retryable_failure_is_retried_and_then_delivered(partner, client):
    integration = compile_manifest(list_manifest(partner.url))
    partner.state.set_faults(fail_next=2, status=503)
    recorder = Recorder()
    sleeps: list[float] = []
    result = run_sync(
        integration,
        client,
        context=CONTEXT,
        scope="s",
        to_add=people("a"),
        sleep=sleeps.append,
        **recorder.callbacks(),
    )
    assert result.ok
    assert [a.outcome for a in recorder.attempts] == ["retrying", "retrying", "success", "success"]
    assert len(sleeps) == 2
    assert recorder.delivered == {"add_users": {"a"}}


def test_a_429_with_retry_after_is_honoured(partner, client):
    integration = compile_manifest(list_manifest(partner.url))
    partner.state.set_faults(fail_next=1, status=429, retry_after="4")
    sleeps: list[float] = []
    result = run_sync(
        integration, client, context=CONTEXT, scope="s", to_add=people("a"), sleep=sleeps.append
    )
    assert result.ok
    assert sleeps == [4.0]


def test_the_401_fails_the_run_with_the_partners_message(partner, client):
    manifest = with_endpoint(
        list_manifest(partner.url),
        "create_list",
        errors=[
            {
                "status": 401,
                "sub_code": "E_AUTH",
                "sub_code_path": "error.code",
                "reason": "Unauthorized",
                "message": "Check the bearer token in the Connect modal",
                "action": "fail",
            }
        ],
    )
    integration = compile_manifest(manifest)
    wrong = RenderContext(values={"bearer_token": "not-the-token"}, mapping=CONTEXT.mapping)
    recorder = Recorder()
    result = run_sync(
        integration, client, context=wrong, scope="s", to_add=people("a"), **recorder.callbacks()
    )
    assert not result.ok
    assert result.error.status == 401
    assert result.diagnosis.message == "Check the bearer token in the Connect modal"
    assert ("list_id", result.list_id) not in recorder.events
    assert len(api_requests(partner)) == 1  # no retries, no adds
    shown = json.dumps([a.for_display() for a in recorder.attempts], ensure_ascii=False)
    assert "not-the-token" not in shown


def test_secrets_never_appear_in_attempt_records(partner, client):
    integration = compile_manifest(list_manifest(partner.url))
    recorder = Recorder()
    run_sync(
        integration,
        client,
        context=CONTEXT,
        scope="s",
        to_add=people("a"),
        **recorder.callbacks(),
    )
    shown = json.dumps([a.for_display() for a in recorder.attempts], ensure_ascii=False)
    assert TOKEN not in shown
    assert "Bearer ••••••" in shown
    # The partner did receive the real token.
    assert all(entry["status"] < 300 for entry in api_requests(partner))


def test_requests_are_signed_when_the_integration_opts_in(client):
    with DemoPartner(signing_secret="whsec_demo") as signed:
        integration = compile_manifest(list_manifest(signed.url, sign_requests=True))
        result = run_sync(
            integration,
            client,
            context=CONTEXT,
            scope="s",
            to_add=people("a"),
            signing_secret="whsec_demo",
        )
        assert result.ok, result.error
        assert {e["signature"] for e in api_requests(signed)} == {"valid"}
        with pytest.raises(ValueError, match="signing secret"):
            run_sync(integration, client, context=CONTEXT, scope="s", to_add=people("a"))


def test_concurrency_is_bounded_by_max_concurrency(partner, client):
    partner.state.set_faults(delay_ms=80)
    manifest = with_endpoint(list_manifest(partner.url), "add_users", batch_size=1)
    result = run_sync(
        compile_manifest(manifest),
        client,
        context=_with_list_id(partner.state.create_list("x").id),
        scope="s",
        to_add=numbered(12),
    )
    assert result.ok
    assert 2 <= _max_overlap(api_requests(partner, "/members")) <= 4


def test_max_concurrency_one_sends_one_at_a_time(partner, client):
    partner.state.set_faults(delay_ms=30)
    manifest = with_endpoint(
        list_manifest(partner.url, max_concurrency=1), "add_users", batch_size=1
    )
    run_sync(
        compile_manifest(manifest),
        client,
        context=_with_list_id(partner.state.create_list("x").id),
        scope="s",
        to_add=numbered(5),
    )
    assert _max_overlap(api_requests(partner, "/members")) == 1


def _max_overlap(entries: list[dict[str, Any]]) -> int:
    """The most requests the partner was handling at the same moment."""
    edges = []
    for entry in entries:
        start = entry["time"]  # when the partner began handling it
        edges += [(start, 1), (start + entry["duration_ms"] / 1000, -1)]
    busy = peak = 0
    for _, change in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        busy += change
        peak = max(peak, busy)
    return peak


def test_requests_per_second_spaces_the_requests(partner, client):
    manifest = with_endpoint(
        list_manifest(partner.url, requests_per_second=20), "add_users", batch_size=1
    )
    started = time.monotonic()
    result = run_sync(
        compile_manifest(manifest),
        client,
        context=_with_list_id(partner.state.create_list("x").id),
        scope="s",
        to_add=numbered(6),
    )
    elapsed = time.monotonic() - started
    assert result.ok
    # Six starts at 20 per second: at least five intervals of 50 ms.
    assert elapsed >= 0.24


# --- single steps ("Test endpoint") ---------------------------------------------------


def test_the_create_list_step_only_creates_the_list(partner, client):
    integration = compile_manifest(list_manifest(partner.url))
    recorder = Recorder()
    result = run_sync(
        integration,
        client,
        context=_with_list_id("lst_existing"),
        scope="s",
        to_add=people("a"),
        step="create_list",
        **recorder.callbacks(),
    )
    assert result.ok
    assert result.create_list_response.status == 201
    assert [e["path"] for e in api_requests(partner)] == ["/v1/lists"]
    assert recorder.events[-1] == ("list_id", result.list_id)


def test_the_add_step_sends_only_adds_to_the_given_list(partner, client):
    list_id = partner.state.create_list("given").id
    integration = compile_manifest(list_manifest(partner.url))
    result = run_sync(
        integration,
        client,
        context=_with_list_id(list_id),
        scope="s",
        to_add=people("a", "b"),
        to_remove=people("z"),
        step="add_users",
    )
    assert result.ok
    assert [(e["method"], e["path"]) for e in api_requests(partner)] == [
        ("POST", f"/v1/lists/{list_id}/members")
    ]
    assert partner.state.members_of(list_id) == {"a", "b"}


def test_the_remove_step_sends_only_removes(partner, client):
    list_id = partner.state.create_list("given").id
    partner.state.add_members(list_id, ["a", "b"])
    result = run_sync(
        compile_manifest(list_manifest(partner.url)),
        client,
        context=_with_list_id(list_id),
        scope="s",
        to_add=people("c"),
        to_remove=people("a"),
        step="remove_users",
    )
    assert result.ok
    assert [e["method"] for e in api_requests(partner)] == ["DELETE"]
    assert partner.state.members_of(list_id) == {"b"}


def test_the_add_step_without_a_list_id_explains_what_is_missing(partner, client):
    result = run_sync(
        compile_manifest(list_manifest(partner.url)),
        client,
        context=CONTEXT,
        scope="s",
        to_add=people("a"),
        step="add_users",
    )
    assert result.error.kind == "invalid_request"
    assert "$list_id" in result.diagnosis.message
    assert api_requests(partner) == []


def test_an_unknown_step_is_refused(partner, client):
    with pytest.raises(ValueError, match="unknown step"):
        run_sync(
            compile_manifest(list_manifest(partner.url)),
            client,
            context=CONTEXT,
            scope="s",
            step="delete_everything",  # type: ignore[arg-type]
        )


# --- property-based -------------------------------------------------------------------


def test_a_property_sync_sends_entering_then_leaving_users(partner, client):
    integration = compile_manifest(property_manifest(partner.url, max_concurrency=1))
    recorder = Recorder()
    result = run_sync(
        integration,
        client,
        context=CONTEXT,
        scope="s",
        to_add=people("a", "b", "c"),
        to_remove=people("x"),
        **recorder.callbacks(),
    )
    assert result.ok, result.error
    assert result.batches_planned == 3  # batch size 2: [a, b], [c], [x]
    assert partner.state.properties["a"]["in_cohort"] is True
    assert partner.state.properties["x"]["in_cohort"] is False
    bodies = [json.loads(e["body"]) for e in api_requests(partner, "/properties")]
    assert [[u["in_cohort"] for u in body["users"]] for body in bodies] == [
        [True, True],
        [True],
        [False],
    ]
    assert recorder.delivered == {"update_users": {"a", "b", "c", "x"}}


def test_a_property_integration_has_only_the_update_step(partner, client):
    integration = compile_manifest(property_manifest(partner.url))
    result = run_sync(
        integration, client, context=CONTEXT, scope="s", to_add=people("a"), step="update_users"
    )
    assert result.ok
    with pytest.raises(ValueError, match="no add_users step"):
        run_sync(integration, client, context=CONTEXT, scope="s", step="add_users")


# --- precise misbehaviour (pytest-httpserver) -----------------------------------------


def local_manifest(httpserver: HTTPServer, **delivery: Any) -> dict[str, Any]:
    return list_manifest(httpserver.url_for("").rstrip("/"), **delivery)


def test_a_nested_list_id_path_is_read(client, httpserver: HTTPServer):
    httpserver.expect_request("/v1/lists").respond_with_json(
        {"result": {"lists": [{"meta": {"id": 4711}}]}}, status=201
    )
    manifest = with_endpoint(
        local_manifest(httpserver), "create_list", list_id_path="result.lists.0.meta.id"
    )
    recorder = Recorder()
    result = run_sync(
        compile_manifest(manifest),
        client,
        context=CONTEXT,
        scope="s",
        step="create_list",
        **recorder.callbacks(),
    )
    assert result.list_id == "4711"
    assert ("list_id", "4711") in recorder.events


def test_a_missing_list_id_says_where_it_looked_and_what_came_back(client, httpserver: HTTPServer):
    httpserver.expect_request("/v1/lists").respond_with_data(
        '{"data": {"name": "x"}}', status=201, content_type="application/json"
    )
    recorder = Recorder()
    result = run_sync(
        compile_manifest(local_manifest(httpserver)),
        client,
        context=CONTEXT,
        scope="s",
        to_add=people("a"),
        **recorder.callbacks(),
    )
    assert result.error.kind == "list_id_missing"
    message = result.diagnosis.message
    assert "'data.id'" in message
    assert "no key 'id' at data" in message
    assert '{"data": {"name": "x"}}' in message
    assert not any(kind == "list_id" for kind, _ in recorder.events)
    assert len(httpserver.log) == 1  # no adds were attempted


def test_a_list_id_that_is_an_object_is_missing(client, httpserver: HTTPServer):
    httpserver.expect_request("/v1/lists").respond_with_json({"data": {"id": {"v": 1}}})
    result = run_sync(
        compile_manifest(local_manifest(httpserver)), client, context=CONTEXT, scope="s"
    )
    assert result.error.kind == "list_id_missing"
    assert "not a text or number id" in result.error.message


def test_a_non_json_create_list_response_is_non_json(client, httpserver: HTTPServer):
    httpserver.expect_request("/v1/lists").respond_with_data("<html>Created!</html>", status=201)
    result = run_sync(
        compile_manifest(local_manifest(httpserver)), client, context=CONTEXT, scope="s"
    )
    assert result.error.kind == "non_json"
    assert result.diagnosis.title == "Response is not JSON"


def test_delivered_callbacks_come_only_after_2xx_and_a_permanent_failure_stops_the_run(
    client, httpserver: HTTPServer
):
    calls: list[list[str]] = []

    def members(request: Request) -> Response:
        ids = json.loads(request.get_data())["userIds"]
        calls.append(ids)
        if len(calls) == 2:
            return Response('{"error": {"code": "E_BAD"}}', status=400)
        return Response("{}", status=200)

    httpserver.expect_request("/v1/lists/L1/members").respond_with_handler(members)
    manifest = with_endpoint(
        local_manifest(httpserver, max_concurrency=1), "add_users", batch_size=2
    )
    recorder = Recorder()
    result = run_sync(
        compile_manifest(manifest),
        client,
        context=_with_list_id("L1"),
        scope="s",
        to_add=people("a", "b", "c", "d", "e", "f"),
        **recorder.callbacks(),
    )
    assert calls == [["a", "b"], ["c", "d"]]  # the third batch never started
    assert recorder.delivered == {"add_users": {"a", "b"}}
    assert result.error.status == 400
    assert result.batches_delivered == 1
    assert [f.user_count for f in result.failed_batches] == [2]
    assert result.abandoned_batches == 1


def test_a_failure_abandons_batches_waiting_to_retry(client):
    server = HTTPServer(threaded=True)
    server.start()
    try:

        def members(request: Request) -> Response:
            ids = json.loads(request.get_data())["userIds"]
            if ids == ["a"]:
                return Response("", status=503)  # retryable: waits 30 s before attempt 2
            time.sleep(0.2)
            return Response("", status=400)  # permanent: stops the run

        server.expect_request("/v1/lists/L1/members").respond_with_handler(members)
        manifest = with_endpoint(
            list_manifest(server.url_for("").rstrip("/"), max_concurrency=2),
            "add_users",
            batch_size=1,
        )
        started = time.monotonic()
        result = run_sync(
            compile_manifest(manifest),
            client,
            context=_with_list_id("L1"),
            scope="s",
            to_add=people("a", "b"),
            policy=RetryPolicy(base_delay=30, jitter=0),
        )
        elapsed = time.monotonic() - started
    finally:
        server.clear()
        server.stop()
    assert elapsed < 5
    assert result.error.status == 400
    assert result.abandoned_batches == 1
    assert result.batches_delivered == 0


def test_an_ignored_error_counts_as_delivered(client, httpserver: HTTPServer):
    httpserver.expect_request("/v1/lists/L1/members").respond_with_json(
        {"error": {"code": "ALREADY"}}, status=409
    )
    manifest = with_endpoint(
        local_manifest(httpserver),
        "add_users",
        errors=[
            {
                "status": 409,
                "sub_code": "ALREADY",
                "sub_code_path": "error.code",
                "reason": "Conflict",
                "message": "Already members",
                "action": "ignore",
            }
        ],
    )
    recorder = Recorder()
    result = run_sync(
        compile_manifest(manifest),
        client,
        context=_with_list_id("L1"),
        scope="s",
        to_add=people("a"),
        **recorder.callbacks(),
    )
    assert result.ok
    assert recorder.delivered == {"add_users": {"a"}}
    assert recorder.attempts[0].outcome == "ignored"


def test_a_callback_failure_stops_the_run_and_propagates(partner, client):
    manifest = with_endpoint(
        list_manifest(partner.url, max_concurrency=1), "add_users", batch_size=1
    )
    list_id = partner.state.create_list("x").id

    def broken_store(endpoint: str, keys: tuple[str, ...]) -> None:
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError, match="database is down"):
        run_sync(
            compile_manifest(manifest),
            client,
            context=_with_list_id(list_id),
            scope="s",
            to_add=numbered(20),
            on_batch_delivered=broken_store,
        )
    assert len(api_requests(partner, "/members")) < 20


def test_a_missing_list_id_suggests_where_an_id_is_and_names_the_field(
    client, httpserver: HTTPServer
):
    httpserver.expect_request("/v1/lists").respond_with_json(
        {"list": {"listId": "lst_77", "name": "x"}}, status=201
    )
    result = run_sync(
        compile_manifest(local_manifest(httpserver)), client, context=CONTEXT, scope="s"
    )
    assert result.error.kind == "list_id_missing"
    assert result.error.info["suggested_path"] == "list.listId"
    message = result.diagnosis.message
    assert "An id-looking value, 'lst_77', is at 'list.listId'" in message
    assert "set list_id_path to list.listId" in message
    assert result.diagnosis.field == "endpoints.create_list.list_id_path"
    assert result.diagnosis.for_display()["field"] == "endpoints.create_list.list_id_path"
