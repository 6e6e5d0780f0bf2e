"""Conformance checks against real loopback partners.

A compliant partner is the demo partner. Non-compliant ones are `ScriptedPartner`, a
small partner API served by pytest-httpserver that speaks the demo partner's routes and
breaks exactly the rule a test asks it to break, so that each test can also show that
one broken rule fails one check and leaves the others alone.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from demo_partner import DemoPartner
from syncengine.core.compiler import CompiledIntegration, compile_manifest
from syncengine.core.conformance.checks import run_conformance
from syncengine.core.conformance.results import (
    BAD_CREDENTIALS_REFUSED,
    CHECK_KEYS,
    FAILED,
    FULL_BATCH_ACCEPTED,
    LATENCY_WITHIN_LIMIT,
    LIST_ID_AT_PATH,
    NOT_APPLICABLE,
    PASSED,
    REPEATED_IDEMPOTENCY_KEY_ACCEPTED,
    UNKNOWN_USERS_ACCEPTED,
    CheckResult,
)
from syncengine.core.http import OutboundClient
from syncengine.core.masking import MASK
from syncengine.core.types import RenderContext
from tests.partners import closed_port
from tests.waiting import wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_BASE_URL = "http://partner.invalid"
TOKEN = "tok-3f9a1c7e5b2d"
API_KEY = "key-8c4e2a6f1d09"
SECRET_KEY = 'pa"ss/w0rd-77'  # a quote and a slash: JSON-escaped and URL-encoded forms differ
SIGNING_SECRET = "sign-5d1b7a3e9c"
BATCH_SIZE = 25  # the fixtures' batch_size: full batches stay small and fast
SCOPE = "review:7:run:1"
LIST_CONTEXT = RenderContext(
    values={"bearer_token": TOKEN}, mapping={"user_id_field": "user_id"}, cohort_id="coh_7"
)
PROPERTY_CONTEXT = RenderContext(
    values={"api_key": API_KEY}, mapping={"user_id_field": "user_id"}, cohort_id="coh_7"
)
ALL_PASSED = dict.fromkeys(CHECK_KEYS, PASSED)
PROPERTY_PASSED = ALL_PASSED | {LIST_ID_AT_PATH: NOT_APPLICABLE}


def manifest(name: str, base: str, **changes: Any) -> dict[str, Any]:
    """A fixture manifest pointed at `base`; `changes` update its top-level keys."""
    text = (FIXTURES / f"conformance_{name}.json").read_text()
    doc = json.loads(text.replace(FIXTURE_BASE_URL, base))
    doc.update(copy.deepcopy(changes))
    return doc


def with_endpoint(doc: dict[str, Any], endpoint: str, **settings: Any) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    changed["endpoints"][endpoint].update(settings)
    return changed


def statuses(results: list[CheckResult]) -> dict[str, str]:
    return {result.key: result.status for result in results}


def by_key(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.key: result for result in results}


def basic_credential(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Seen:
    """One request as the scripted partner received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def ids(self) -> list[str]:
        payload = json.loads(self.body)
        if "users" in payload:
            return [entry["user_id"] for entry in payload["users"]]
        return payload["userIds"]

    @property
    def leaving(self) -> bool:
        """A removal, or a property update with in_cohort false."""
        if self.method == "DELETE":
            return True
        users = json.loads(self.body).get("users", []) if self.body else []
        return any(entry.get("in_cohort") is False for entry in users)


@dataclass
class ScriptedPartner:
    """The demo partner's routes, with one rule broken on request.

    Defaults are compliant. `create_list_reply` is create_list's JSON; `max_batch` makes
    larger batches a 400; `unknown_users_status` answers removals (or in_cohort false)
    of users who are not there; `wrong_credentials_status` answers wrong credentials (a
    2xx means the partner does not check them); `repeated_key_status` answers a repeated
    Idempotency-Key (None replays the first answer), `replay_differently` answers a
    repeat with another 2xx body; requests whose path ends with `slow_suffix` and method
    is in `slow_methods` wait `delay_seconds`; `echo_credentials` puts the credential
    headers it got into every response.
    """

    token: str = TOKEN
    basic: str | None = None
    api_key: str = API_KEY
    create_list_reply: Any = field(default_factory=lambda: {"data": {"id": "lst_42"}})
    max_batch: int | None = None
    unknown_users_status: int | None = None
    wrong_credentials_status: int = 401
    repeated_key_status: int | None = None
    replay_differently: bool = False
    slow_methods: tuple[str, ...] = ()
    delay_seconds: float = 0.0
    echo_credentials: bool = False
    seen: list[Seen] = field(default_factory=list)
    members: set[str] = field(default_factory=set)
    answered: dict[str, tuple[int, Any]] = field(default_factory=dict)

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        seen = Seen(request.method, request.path, dict(request.headers.items()), body)
        self.seen.append(seen)
        if seen.method in self.slow_methods:
            time.sleep(self.delay_seconds)
        status, reply = self.answer(seen)
        if self.echo_credentials:
            reply = {"reply": reply, "you_sent": self.credentials_of(seen)}
        return Response(
            json.dumps(reply),
            status=f"{status} {HTTPStatus(status).phrase}",  # werkzeug would shout it
            content_type="application/json",
        )

    def credentials_of(self, seen: Seen) -> dict[str, str]:
        return {
            k: v for k, v in seen.headers.items() if k.lower() in ("authorization", "x-api-key")
        }

    def authorized(self, seen: Seen) -> bool:
        authorization = seen.headers.get("Authorization", "")
        if self.basic is not None:
            return authorization == f"Basic {self.basic}"
        return authorization == f"Bearer {self.token}" or (
            seen.headers.get("X-Api-Key") == self.api_key
        )

    def answer(self, seen: Seen) -> tuple[int, Any]:
        if not self.authorized(seen) and not 200 <= self.wrong_credentials_status <= 299:
            return self.wrong_credentials_status, {"error": {"code": "E_AUTH"}}
        key = seen.headers.get("Idempotency-Key")
        if key in self.answered:
            if self.repeated_key_status is not None:
                return self.repeated_key_status, {"error": {"code": "E_DUPLICATE_KEY"}}
            if self.replay_differently:
                return 200, {"data": {"duplicate": True}}
            return self.answered[key]
        status, reply = self.route(seen)
        if key and 200 <= status <= 299:
            self.answered[key] = (status, reply)
        return status, reply

    def route(self, seen: Seen) -> tuple[int, Any]:
        if seen.path == "/v1/lists" and seen.method == "POST":
            return 201, self.create_list_reply
        ids = seen.ids
        if self.max_batch is not None and len(ids) > self.max_batch:
            return 400, {"error": {"code": "E_TOO_MANY", "message": f"at most {self.max_batch}"}}
        if seen.leaving:
            if self.unknown_users_status is not None and set(ids) - self.members:
                return self.unknown_users_status, {"error": {"code": "E_USER_NOT_FOUND"}}
            self.members.difference_update(ids)
        else:
            self.members.update(ids)
        return 200, {"data": {"received": len(ids)}}

    def requests_to(self, method: str, path_part: str = "") -> list[Seen]:
        return [s for s in self.seen if s.method == method and path_part in s.path]


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    with OutboundClient(allow_private_networks=True, read_timeout=5, deadline=10) as outbound:
        yield outbound


@pytest.fixture
def demo(start_partner) -> DemoPartner:
    return start_partner(token=TOKEN, api_key=API_KEY)


@pytest.fixture
def serve(httpserver: HTTPServer) -> Callable[..., tuple[ScriptedPartner, str]]:
    """`serve(**rules)`: a scripted partner on pytest-httpserver and its base URL.

    One per test: its handler answers every path, so a second one would never be reached.
    """

    def start(**rules: Any) -> tuple[ScriptedPartner, str]:
        partner = ScriptedPartner(**rules)
        httpserver.expect_request(re.compile(".*")).respond_with_handler(partner)
        return partner, httpserver.url_for("/").rstrip("/")

    return start


def run(
    doc: dict[str, Any], client: OutboundClient, context: RenderContext, **options: Any
) -> list[CheckResult]:
    integration: CompiledIntegration = compile_manifest(doc)
    return run_conformance(integration, client, context=context, scope=SCOPE, **options)


# --- compliant partners ---------------------------------------------------------------


def test_a_compliant_list_partner_passes_every_check(demo, client):
    progress: list[CheckResult] = []
    results = run(manifest("list", demo.url), client, LIST_CONTEXT, on_progress=progress.append)

    assert [result.key for result in results] == list(CHECK_KEYS)
    assert statuses(results) == ALL_PASSED
    assert progress == results
    checks = by_key(results)
    (created,) = demo.state.list_summaries()
    assert created["name"] == f"Conformance check {SCOPE}"
    assert f"“{created['id']}” at data.id" in checks[LIST_ID_AT_PATH].detail
    # The full batch and the repeated batch (applied once) are on the list; the users
    # "removed" were never there and the bad-credentials request was refused.
    assert created["member_count"] == BATCH_SIZE + 3
    assert f"exactly {BATCH_SIZE} generated users" in checks[FULL_BATCH_ACCEPTED].detail
    assert "401 Unauthorized" in checks[BAD_CREDENTIALS_REFUSED].detail
    # One request per check, two for the repeat, no retries.
    assert len(demo.state.log_entries()) == 6
    assert [e["replayed"] for e in demo.state.log_entries()][-2:] == [False, True]
    assert "the slowest was" in checks[LATENCY_WITHIN_LIMIT].detail


def test_check_results_are_plain_json_data(demo, client):
    results = run(manifest("list", demo.url), client, LIST_CONTEXT)

    for result in results:
        data = result.as_dict()
        assert json.loads(json.dumps(data)) == data
        assert data["key"] == result.key and data["status"] == result.status
    exchange = by_key(results)[FULL_BATCH_ACCEPTED].as_dict()["exchanges"][0]
    assert exchange["request"]["item_count"] == BATCH_SIZE
    assert exchange["response"]["status"] == 200
    assert exchange["diagnosis"] is None
    assert ["Authorization", f"Bearer {MASK}"] in exchange["request"]["headers"]


def test_a_compliant_property_partner_passes_and_create_list_does_not_apply(demo, client):
    results = run(manifest("property", demo.url), client, PROPERTY_CONTEXT)

    assert statuses(results) == PROPERTY_PASSED
    checks = by_key(results)
    assert "no create_list" in checks[LIST_ID_AT_PATH].detail
    assert checks[UNKNOWN_USERS_ACCEPTED].title == (
        "update_users accepts in_cohort false for users never added"
    )
    in_cohort = demo.state.users_in_cohort()
    assert len(in_cohort) == BATCH_SIZE + 3
    assert len(demo.state.properties) == BATCH_SIZE + 3 + 10


def test_every_run_uses_its_own_users_list_and_batch_ids(demo, client):
    doc = manifest("list", demo.url)
    first = run_conformance(compile_manifest(doc), client, context=LIST_CONTEXT, scope="a")
    second = run_conformance(compile_manifest(doc), client, context=LIST_CONTEXT, scope="b")

    assert statuses(first) == statuses(second) == ALL_PASSED
    lists = demo.state.list_summaries(with_members=True)
    assert len(lists) == 2
    assert not set(lists[0]["members"]) & set(lists[1]["members"])
    keys = [e["idempotency_key"] for e in demo.state.log_entries()]
    assert len(set(keys)) == len(keys) - 2  # only the deliberate repeats share a key


def test_a_signing_integration_is_checked_with_signed_requests(client):
    with DemoPartner(token=TOKEN, signing_secret=SIGNING_SECRET) as partner:
        doc = manifest("list", partner.url, delivery={"sign_requests": True})
        with pytest.raises(ValueError, match="signing secret"):
            run(doc, client, LIST_CONTEXT)
        assert partner.state.log_entries() == []

        results = run(doc, client, LIST_CONTEXT, signing_secret=SIGNING_SECRET)

        assert statuses(results) == ALL_PASSED
        # Every request but the one refused for its credentials had its signature checked.
        signatures = [e["signature"] for e in partner.state.log_entries() if e["status"] != 401]
        assert signatures == ["valid"] * 5
    assert SIGNING_SECRET not in json.dumps([r.as_dict() for r in results])


def test_requests_are_spaced_by_the_declared_rate_limit(demo, client):
    doc = manifest("property", demo.url, delivery={"requests_per_second": 25})

    started = time.monotonic()
    results = run(doc, client, PROPERTY_CONTEXT)
    elapsed = time.monotonic() - started

    assert statuses(results) == PROPERTY_PASSED
    assert len(demo.state.log_entries()) == 5
    # 25 per second: each start at least 40 ms after the previous one. (Measured here:
    # arrival times at the partner also vary with how each request travels.)
    assert elapsed >= 4 * 0.040


# --- one broken rule fails one check ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rules", "failing"),
    [
        ("list", {"max_batch": BATCH_SIZE - 1}, FULL_BATCH_ACCEPTED),
        ("list", {"unknown_users_status": 404}, UNKNOWN_USERS_ACCEPTED),
        ("list", {"wrong_credentials_status": 200}, BAD_CREDENTIALS_REFUSED),
        ("list", {"repeated_key_status": 409}, REPEATED_IDEMPOTENCY_KEY_ACCEPTED),
        ("property", {"max_batch": BATCH_SIZE - 1}, FULL_BATCH_ACCEPTED),
        ("property", {"unknown_users_status": 404}, UNKNOWN_USERS_ACCEPTED),
        ("property", {"wrong_credentials_status": 200}, BAD_CREDENTIALS_REFUSED),
        ("property", {"repeated_key_status": 409}, REPEATED_IDEMPOTENCY_KEY_ACCEPTED),
    ],
)
def test_one_broken_rule_fails_only_its_check(serve, client, kind, rules, failing):
    partner, base = serve(**rules)
    context = LIST_CONTEXT if kind == "list" else PROPERTY_CONTEXT

    results = run(manifest(kind, base), client, context)

    expected = ALL_PASSED if kind == "list" else PROPERTY_PASSED
    assert statuses(results) == expected | {failing: FAILED}
    assert len(partner.seen) == (6 if kind == "list" else 5)


def test_no_id_at_the_list_id_path_fails_and_the_list_checks_are_not_passed(serve, client):
    partner, base = serve(create_list_reply={"id": "lst_top_level"})

    results = run(manifest("list", base), client, LIST_CONTEXT)

    assert statuses(results) == {
        LIST_ID_AT_PATH: FAILED,
        FULL_BATCH_ACCEPTED: FAILED,
        UNKNOWN_USERS_ACCEPTED: FAILED,
        BAD_CREDENTIALS_REFUSED: PASSED,
        REPEATED_IDEMPOTENCY_KEY_ACCEPTED: FAILED,
        LATENCY_WITHIN_LIMIT: PASSED,
    }
    checks = by_key(results)
    detail = checks[LIST_ID_AT_PATH].detail
    assert "no list id was found at list_id_path 'data.id'" in detail
    assert '"lst_top_level"' in detail  # the response, so the partner sees where it is
    assert "set list_id_path" in detail
    for key in (FULL_BATCH_ACCEPTED, UNKNOWN_USERS_ACCEPTED, REPEATED_IDEMPOTENCY_KEY_ACCEPTED):
        assert checks[key].detail.startswith("Not checked: ")
        assert "create_list returns an id at data.id" in checks[key].detail
        assert checks[key].exchanges == ()
    # Without a list, bad credentials are tried on create_list, under their own key.
    first, second = partner.requests_to("POST", "/v1/lists")
    assert second.headers["Authorization"] != f"Bearer {TOKEN}"
    assert first.headers["Idempotency-Key"] != second.headers["Idempotency-Key"]
    assert "create_list request" in checks[BAD_CREDENTIALS_REFUSED].detail


def test_a_create_list_error_is_explained(serve, client):
    _partner, base = serve(create_list_reply="not a list")
    doc = with_endpoint(manifest("list", base), "create_list", list_id_path="lists.0.id")

    results = run(doc, client, LIST_CONTEXT)

    detail = by_key(results)[LIST_ID_AT_PATH].detail
    assert by_key(results)[LIST_ID_AT_PATH].title == "create_list returns an id at lists.0.id"
    assert "'lists.0.id'" in detail
    assert "not a list" in detail


def test_a_full_batch_refused_names_the_status_and_the_batch_size(serve, client):
    partner, base = serve(max_batch=BATCH_SIZE - 1)

    result = by_key(run(manifest("list", base), client, LIST_CONTEXT))[FULL_BATCH_ACCEPTED]

    assert result.status == FAILED
    assert result.title == f"add_users accepts a full batch of {BATCH_SIZE} users"
    assert "The partner answered 400 Bad Request" in result.detail
    assert f"exactly {BATCH_SIZE} generated users" in result.detail
    assert "lower the batch_size of add_users" in result.detail
    (exchange,) = result.exchanges
    assert exchange["request"]["item_count"] == BATCH_SIZE
    assert exchange["response"]["status"] == 400
    assert "E_TOO_MANY" in exchange["response"]["body"]
    # The full batch, the bad-credentials request and the repeated pair: no retries.
    assert len(partner.requests_to("POST", "/members")) == 4


@pytest.mark.parametrize("status", [404, 500])
def test_removing_unknown_users_must_not_fail(serve, client, status):
    partner, base = serve(unknown_users_status=status)

    result = by_key(run(manifest("list", base), client, LIST_CONTEXT))[UNKNOWN_USERS_ACCEPTED]

    assert result.status == FAILED
    assert result.title == "remove_users accepts users who are not on the list"
    assert f"{status} " in result.detail
    assert "removing 10 generated users who were never added" in result.detail
    assert "classify this answer as “ignore”" in result.detail
    # A 500 is retryable for a sync, but conformance sends every request once.
    assert len(partner.requests_to("DELETE")) == 1


def test_an_unknown_users_answer_classified_ignore_passes(serve, client):
    _partner, base = serve(unknown_users_status=404)
    ignore = {"status": 404, "sub_code": "E_USER_NOT_FOUND", "sub_code_path": "error.code"}
    doc = with_endpoint(
        manifest("list", base), "remove_users", errors=[ignore | {"action": "ignore"}]
    )

    result = by_key(run(doc, client, LIST_CONTEXT))[UNKNOWN_USERS_ACCEPTED]

    assert result.status == PASSED
    assert "404 Not Found" in result.detail
    assert "mark “ignore”" in result.detail


def test_in_cohort_false_for_users_never_added_must_not_fail(serve, client):
    partner, base = serve(unknown_users_status=404)

    result = by_key(run(manifest("property", base), client, PROPERTY_CONTEXT))[
        UNKNOWN_USERS_ACCEPTED
    ]

    assert result.status == FAILED
    assert "404 Not Found" in result.detail
    assert "setting $in_cohort to false for 10 generated users" in result.detail
    leaving = [s for s in partner.seen if s.leaving]
    assert len(leaving) == 1
    assert not set(leaving[0].ids) & partner.members


def test_slow_responses_fail_the_latency_check_and_name_the_slowest(serve, client):
    _partner, base = serve(slow_methods=("DELETE",), delay_seconds=0.3)

    results = run(manifest("list", base), client, LIST_CONTEXT, latency_limit_ms=200)

    assert statuses(results) == ALL_PASSED | {LATENCY_WITHIN_LIMIT: FAILED}
    result = by_key(results)[LATENCY_WITHIN_LIMIT]
    assert result.title == "Every response arrives within 200 ms"
    assert "1 of 6 requests took longer than 200 ms to answer" in result.detail
    assert "the slowest was remove_users (users never added) at" in result.detail
    (exchange,) = result.exchanges
    assert exchange["label"] == "remove_users (users never added)"
    assert exchange["response"]["latency_ms"] >= 300


def test_a_partner_that_times_out_fails_the_latency_check_too(serve, httpserver):
    partner, base = serve(slow_methods=("POST",), delay_seconds=0.25)
    with OutboundClient(allow_private_networks=True, read_timeout=0.1, deadline=2) as impatient:
        results = run(manifest("list", base), impatient, LIST_CONTEXT, latency_limit_ms=50)
    # The partner answers one request at a time: let it answer the requests it got (the
    # server logs each answer) before the next test.
    wait_until(lambda: len(httpserver.log) == len(partner.seen), 5, "the partner never answered")

    checks = by_key(results)
    assert "did not answer within 0.1 s" in checks[LIST_ID_AT_PATH].detail
    assert "did not answer within 0.1 s" in checks[BAD_CREDENTIALS_REFUSED].detail
    latency = checks[LATENCY_WITHIN_LIMIT]
    assert latency.status == FAILED
    assert "2 of 2 requests took longer than 50 ms" in latency.detail
    assert "no answer after" in latency.detail
    assert [exchange["response"] for exchange in latency.exchanges] == [None, None]


def test_bad_credentials_that_are_accepted_fail(serve, client):
    partner, base = serve(wrong_credentials_status=200)

    result = by_key(run(manifest("list", base), client, LIST_CONTEXT))[BAD_CREDENTIALS_REFUSED]

    assert result.status == FAILED
    assert "made-up values for $bearer_token" in result.detail
    assert "The partner accepted it: 200 OK" in result.detail
    wrong = partner.seen[3]
    assert wrong.headers["Authorization"].startswith("Bearer conformance-wrong-")


def test_bad_credentials_refused_with_403_pass_with_a_note(serve, client):
    _partner, base = serve(wrong_credentials_status=403)

    result = by_key(run(manifest("list", base), client, LIST_CONTEXT))[BAD_CREDENTIALS_REFUSED]

    assert result.status == PASSED
    assert "403 Forbidden" in result.detail
    assert "401 Unauthorized is the standard answer" in result.detail


def test_bad_credentials_answered_with_another_error_fail_naming_401(serve, client):
    _partner, base = serve(wrong_credentials_status=404)

    result = by_key(run(manifest("list", base), client, LIST_CONTEXT))[BAD_CREDENTIALS_REFUSED]

    assert result.status == FAILED
    assert "404 Not Found" in result.detail
    assert "must be refused with 401 Unauthorized" in result.detail


def test_the_bad_credentials_given_are_sent_and_masked(serve, client):
    partner, base = serve()
    revoked = RenderContext(values={"bearer_token": "revoked-tok-0b7e"})

    results = run(manifest("list", base), client, LIST_CONTEXT, bad_credentials=revoked)

    assert by_key(results)[BAD_CREDENTIALS_REFUSED].status == PASSED
    assert "the bad credentials supplied for $bearer_token" in (
        by_key(results)[BAD_CREDENTIALS_REFUSED].detail
    )
    assert partner.seen[3].headers["Authorization"] == "Bearer revoked-tok-0b7e"
    assert "revoked-tok-0b7e" not in json.dumps([r.as_dict() for r in results])


def test_bad_credentials_equal_to_the_real_ones_are_refused_before_sending(serve, client):
    partner, base = serve()

    with pytest.raises(ValueError, match=r"same credentials.*\$bearer_token"):
        run(manifest("list", base), client, LIST_CONTEXT, bad_credentials=LIST_CONTEXT)
    assert partner.seen == []


def test_without_authentication_bad_credentials_do_not_apply(serve, client):
    partner, base = serve(wrong_credentials_status=200)
    doc = manifest("list", base, auth={"method": "none"}, custom_fields=[])

    results = run(doc, client, RenderContext(mapping={"user_id_field": "user_id"}))

    assert statuses(results) == ALL_PASSED | {BAD_CREDENTIALS_REFUSED: NOT_APPLICABLE}
    assert "auth method none" in by_key(results)[BAD_CREDENTIALS_REFUSED].detail
    assert len(partner.seen) == 5


def test_a_repeated_idempotency_key_refused_with_409_fails(serve, client):
    partner, base = serve(repeated_key_status=409)

    results = run(manifest("list", base), client, LIST_CONTEXT)

    result = by_key(results)[REPEATED_IDEMPOTENCY_KEY_ACCEPTED]
    assert result.status == FAILED
    assert "409 Conflict" in result.detail
    assert "the first was accepted (200 OK" in result.detail
    assert "with the same Idempotency-Key" in result.detail
    first, second = partner.requests_to("POST", "/members")[-2:]
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.headers["Idempotency-Key"] in result.detail
    assert first.body == second.body
    assert [e["response"]["status"] for e in result.exchanges] == [200, 409]


def test_differing_answers_to_a_repeat_pass_and_are_mentioned(serve, client):
    _partner, base = serve(replay_differently=True)

    result = by_key(run(manifest("list", base), client, LIST_CONTEXT))[
        REPEATED_IDEMPOTENCY_KEY_ACCEPTED
    ]

    assert result.status == PASSED
    assert "The two responses differ" in result.detail


# --- secrets, failures of every kind ------------------------------------------------------


def test_secrets_never_appear_in_results_even_when_the_partner_echoes_them(serve, client):
    partner, base = serve(
        basic=basic_credential(API_KEY, SECRET_KEY),
        echo_credentials=True,
        wrong_credentials_status=200,  # so the wrong credentials are echoed back too
        create_list_reply={"id": "nowhere"},  # and failure details quote the response
    )
    doc = manifest(
        "list",
        base,
        auth={"method": "basic", "username_variable": "api_key", "password_variable": "secret"},
        custom_fields=[
            {"variable": "api_key", "display_name": "API Key", "type": "string"},
            {"variable": "secret", "display_name": "Secret", "type": "string", "secret": True},
        ],
    )
    context = RenderContext(
        values={"api_key": API_KEY, "secret": SECRET_KEY}, mapping={"user_id_field": "user_id"}
    )

    results = run(doc, client, context)

    dumped = json.dumps([result.as_dict() for result in results], ensure_ascii=False)
    wrong = partner.seen[1].headers["Authorization"].removeprefix("Basic ")
    for secret in (
        API_KEY,
        SECRET_KEY,
        json.dumps(SECRET_KEY)[1:-1],
        basic_credential(API_KEY, SECRET_KEY),
        wrong,
        base64.b64decode(wrong).decode(),
    ):
        assert secret not in dumped
    assert "conformance-wrong-" not in dumped
    assert dumped.count(MASK) >= 4
    # The partner really got, and echoed, the credentials that the results mask.
    assert (
        partner.seen[0].headers["Authorization"] == f"Basic {basic_credential(API_KEY, SECRET_KEY)}"
    )


def test_an_unreachable_partner_fails_every_check_without_raising(client):
    port = closed_port()  # every connection is refused

    results = run(manifest("list", f"http://127.0.0.1:{port}"), client, LIST_CONTEXT)

    assert set(statuses(results).values()) == {FAILED}
    checks = by_key(results)
    assert "refused the connection" in checks[LIST_ID_AT_PATH].detail
    assert "refused the connection" in checks[BAD_CREDENTIALS_REFUSED].detail
    assert checks[LATENCY_WITHIN_LIMIT].detail.startswith(
        "Not checked: none of the 2 requests got an answer"
    )
    assert checks[LIST_ID_AT_PATH].exchanges[0]["response"] is None


def test_a_request_that_cannot_be_rendered_fails_naming_the_field(demo, client):
    doc = manifest("list", demo.url)
    doc["mapping_fields"][0]["required"] = True
    no_mapping = RenderContext(values={"bearer_token": TOKEN})

    results = run(doc, client, no_mapping)

    assert statuses(results) == {
        LIST_ID_AT_PATH: PASSED,
        FULL_BATCH_ACCEPTED: FAILED,
        UNKNOWN_USERS_ACCEPTED: FAILED,
        BAD_CREDENTIALS_REFUSED: FAILED,
        REPEATED_IDEMPOTENCY_KEY_ACCEPTED: FAILED,
        LATENCY_WITHIN_LIMIT: PASSED,
    }
    detail = by_key(results)[FULL_BATCH_ACCEPTED].detail
    assert "endpoints.add_users.item_template" in detail
    assert "$user_id_field" in detail
    assert len(demo.state.log_entries()) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [({"scope": " "}, "scope"), ({"latency_limit_ms": 0}, "latency_limit_ms")],
)
def test_caller_mistakes_are_refused_before_sending(serve, client, options, message):
    partner, base = serve()
    arguments = {"context": LIST_CONTEXT, "scope": SCOPE} | options

    with pytest.raises(ValueError, match=message):
        run_conformance(compile_manifest(manifest("list", base)), client, **arguments)
    assert partner.seen == []
