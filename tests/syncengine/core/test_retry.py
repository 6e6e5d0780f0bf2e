"""Retries against real loopback servers; `sleep` is injected so nothing really waits."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from syncengine.core.errors import (
    AttemptRecord,
    PartnerError,
    parse_retry_after,
)
from syncengine.core.http import OutboundClient
from syncengine.core.retry import MAX_ATTEMPTS, RETRY_AFTER_CAP, RetryPolicy, send_with_retries
from syncengine.core.types import PreparedRequest
from tests.partners import closed_port

NO_JITTER = RetryPolicy(jitter=0)


def post(url: str, **overrides) -> PreparedRequest:
    fields = {
        "endpoint": "add_users",
        "method": "POST",
        "url": url,
        "headers": (("Authorization", "Bearer tok-123abc456"),),
        "body": b'{"userIds": ["a"]}',
        "batch_id": "batch-1",
        "item_count": 1,
        "secrets": ("tok-123abc456",),
    }
    fields.update(overrides)
    return PreparedRequest(**fields)


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    with OutboundClient(allow_private_networks=True, read_timeout=2, deadline=3) as outbound:
        yield outbound


def respond_in_turn(httpserver: HTTPServer, path: str, *responses: Response) -> None:
    """Answer successive requests to `path` with `responses`, in order."""
    queue = list(responses)

    def handler(request: Request) -> Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    httpserver.expect_request(path).respond_with_handler(handler)


# --- the rules ------------------------------------------------------------------------


def test_backoff_grows_from_one_second_to_about_two_minutes_in_total():
    waits = [NO_JITTER.backoff(attempt) for attempt in range(1, MAX_ATTEMPTS)]
    assert waits == [1, 2, 4, 8, 16, 32, 64]
    assert sum(waits) == 127


def test_backoff_jitter_stays_within_twenty_percent_and_the_cap():
    rng = random.Random(7)
    policy = RetryPolicy()
    for attempt in range(1, MAX_ATTEMPTS):
        nominal = NO_JITTER.backoff(attempt)
        for _ in range(50):
            wait = policy.backoff(attempt, rng=rng)
            assert 0.8 * nominal <= wait <= min(1.2 * nominal, policy.max_delay)
    assert policy.backoff(30, rng=rng) == policy.max_delay


def test_retry_after_replaces_backoff_and_is_capped():
    assert NO_JITTER.delay_before_next(1, retry_after=9.0) == 9.0
    assert NO_JITTER.delay_before_next(1, retry_after=3600.0) == RETRY_AFTER_CAP
    assert NO_JITTER.delay_before_next(3, retry_after=None) == 4.0


def test_no_retries_means_one_attempt():
    assert RetryPolicy.none().max_attempts == 1


def test_a_policy_refuses_nonsense():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.5)


# --- the loop against real servers ----------------------------------------------------


def test_two_500s_then_success(client, httpserver: HTTPServer):
    respond_in_turn(
        httpserver,
        "/add",
        Response("oops", status=500),
        Response("oops", status=500),
        Response('{"ok": true}', status=200),
    )
    sleeps: list[float] = []
    attempts: list[AttemptRecord] = []

    delivery = send_with_retries(
        client,
        post(httpserver.url_for("/add")),
        NO_JITTER,
        sleep=sleeps.append,
        on_attempt=attempts.append,
    )

    assert delivery.response.status == 200
    assert delivery.ignored is False
    assert [a.outcome for a in attempts] == ["retrying", "retrying", "success"]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [a.wait_seconds for a in attempts] == [1.0, 2.0, None]
    assert sleeps == [1.0, 2.0]
    assert attempts[1].describe() == "attempt 2 of 8: 500 INTERNAL SERVER ERROR, waiting 2.0 s"
    assert attempts[2].describe() == "200 OK on attempt 3 of 8"
    assert delivery.attempts == tuple(attempts)
    # Every attempt carried the same Idempotency-Key: the partner can deduplicate.
    keys = [entry[0].headers["Idempotency-Key"] for entry in httpserver.log]
    assert keys == ["batch-1"] * 3


def test_429_with_retry_after_seconds_then_success(client, httpserver: HTTPServer):
    respond_in_turn(
        httpserver,
        "/add",
        Response("slow down", status=429, headers={"Retry-After": "3"}),
        Response("{}", status=200),
    )
    sleeps: list[float] = []
    delivery = send_with_retries(client, post(httpserver.url_for("/add")), sleep=sleeps.append)
    assert delivery.response.status == 200
    assert sleeps == [3.0]


def test_429_with_retry_after_http_date_then_success(client, httpserver: HTTPServer):
    when = email.utils.formatdate(time.time() + 40, usegmt=True)
    respond_in_turn(
        httpserver,
        "/add",
        Response("slow down", status=429, headers={"Retry-After": when}),
        Response("{}", status=200),
    )
    sleeps: list[float] = []
    delivery = send_with_retries(client, post(httpserver.url_for("/add")), sleep=sleeps.append)
    assert delivery.response.status == 200
    assert len(sleeps) == 1
    assert 37 <= sleeps[0] <= 40


def test_an_invalid_retry_after_falls_back_to_backoff(client, httpserver: HTTPServer):
    respond_in_turn(
        httpserver,
        "/add",
        Response("", status=503, headers={"Retry-After": "whenever"}),
        Response("{}", status=200),
    )
    sleeps: list[float] = []
    send_with_retries(client, post(httpserver.url_for("/add")), NO_JITTER, sleep=sleeps.append)
    assert sleeps == [1.0]


def test_a_huge_retry_after_is_capped(client, httpserver: HTTPServer):
    respond_in_turn(
        httpserver,
        "/add",
        Response("", status=429, headers={"Retry-After": "86400"}),
        Response("{}", status=200),
    )
    sleeps: list[float] = []
    send_with_retries(client, post(httpserver.url_for("/add")), sleep=sleeps.append)
    assert sleeps == [RETRY_AFTER_CAP]


def test_it_gives_up_after_eight_attempts(client, httpserver: HTTPServer):
    httpserver.expect_request("/add").respond_with_data("down", status=503)
    sleeps: list[float] = []
    attempts: list[AttemptRecord] = []
    with pytest.raises(PartnerError) as caught:
        send_with_retries(
            client,
            post(httpserver.url_for("/add")),
            NO_JITTER,
            sleep=sleeps.append,
            on_attempt=attempts.append,
        )
    assert len(httpserver.log) == MAX_ATTEMPTS
    assert sleeps == [1, 2, 4, 8, 16, 32, 64]
    assert [a.outcome for a in attempts] == ["retrying"] * 7 + ["failed"]
    assert attempts[-1].wait_seconds is None
    assert attempts[-1].describe().endswith("giving up")
    assert caught.value.attempts == tuple(attempts)
    assert caught.value.diagnosis is not None
    assert caught.value.diagnosis.action == "retry"  # retryable, but out of attempts


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_each_retryable_status_is_retried(client, httpserver: HTTPServer, status):
    httpserver.expect_request("/add").respond_with_data("", status=status)
    with pytest.raises(PartnerError):
        send_with_retries(
            client, post(httpserver.url_for("/add")), RetryPolicy(max_attempts=2), sleep=[].append
        )
    assert len(httpserver.log) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 505])
def test_each_permanent_status_is_tried_once(client, httpserver: HTTPServer, status):
    httpserver.expect_request("/add").respond_with_data("", status=status)
    sleeps: list[float] = []
    with pytest.raises(PartnerError) as caught:
        send_with_retries(client, post(httpserver.url_for("/add")), sleep=sleeps.append)
    assert len(httpserver.log) == 1
    assert sleeps == []
    assert caught.value.diagnosis.action == "fail"


def test_connection_errors_are_retried(client):
    port = closed_port()
    attempts: list[AttemptRecord] = []
    with pytest.raises(PartnerError) as caught:
        send_with_retries(
            client,
            post(f"http://127.0.0.1:{port}/add"),
            RetryPolicy(max_attempts=3),
            sleep=[].append,
            on_attempt=attempts.append,
        )
    assert caught.value.kind == "connection_refused"
    assert [a.outcome for a in attempts] == ["retrying", "retrying", "failed"]
    assert attempts[0].response is None
    assert attempts[0].describe().startswith("attempt 1 of 3: Connection refused, waiting")


def test_blocked_addresses_are_not_retried():
    attempts: list[AttemptRecord] = []
    with OutboundClient() as guarded, pytest.raises(PartnerError):
        send_with_retries(
            guarded, post("http://10.0.0.1/add"), sleep=[].append, on_attempt=attempts.append
        )
    assert [a.outcome for a in attempts] == ["failed"]


def test_no_retries_policy_sends_once(client, httpserver: HTTPServer):
    httpserver.expect_request("/add").respond_with_data("", status=503)
    with pytest.raises(PartnerError):
        send_with_retries(client, post(httpserver.url_for("/add")), RetryPolicy.none())
    assert len(httpserver.log) == 1


# --- classifications override the default ---------------------------------------------


def test_a_classified_retry_makes_a_400_retryable(client, httpserver: HTTPServer):
    respond_in_turn(
        httpserver,
        "/add",
        Response('{"error": {"code": "LOCKED"}}', status=400),
        Response("{}", status=200),
    )
    classifications = [
        {"status": 400, "sub_code": "LOCKED", "sub_code_path": "error.code", "action": "retry"}
    ]
    delivery = send_with_retries(
        client,
        post(httpserver.url_for("/add")),
        classifications=classifications,
        sleep=[].append,
    )
    assert delivery.response.status == 200
    assert len(httpserver.log) == 2


def test_a_classified_fail_stops_a_503_at_once(client, httpserver: HTTPServer):
    httpserver.expect_request("/add").respond_with_data("", status=503)
    with pytest.raises(PartnerError) as caught:
        send_with_retries(
            client,
            post(httpserver.url_for("/add")),
            classifications=[{"status": 503, "action": "fail", "message": "Account suspended"}],
            sleep=[].append,
        )
    assert len(httpserver.log) == 1
    assert caught.value.diagnosis.message == "Account suspended"


def test_a_classified_ignore_counts_as_delivered(client, httpserver: HTTPServer):
    httpserver.expect_request("/add").respond_with_json(
        {"error": {"code": "ALREADY_MEMBER"}}, status=409
    )
    attempts: list[AttemptRecord] = []
    delivery = send_with_retries(
        client,
        post(httpserver.url_for("/add")),
        classifications=[
            {
                "status": 409,
                "sub_code": "ALREADY_MEMBER",
                "sub_code_path": "error.code",
                "action": "ignore",
                "message": "Already in the list",
            }
        ],
        on_attempt=attempts.append,
    )
    assert delivery.ignored is True
    assert delivery.response.status == 409
    assert [a.outcome for a in attempts] == ["ignored"]
    assert attempts[0].describe() == "409 CONFLICT, ignored as classified"


def test_the_401_gets_the_partners_classified_message(client, httpserver: HTTPServer):
    httpserver.expect_request("/add").respond_with_json(
        {"error": {"code": "E_AUTH", "message": "bad token"}}, status=401
    )
    classifications = [
        {
            "status": 401,
            "sub_code": "E_AUTH",
            "sub_code_path": "error.code",
            "reason": "Unauthorized",
            "message": "Check your API key in the Connect modal",
            "action": "fail",
        }
    ]
    with pytest.raises(PartnerError) as caught:
        send_with_retries(client, post(httpserver.url_for("/add")), classifications=classifications)
    diagnosis = caught.value.diagnosis
    assert diagnosis.classified is True
    assert diagnosis.message == "Check your API key in the Connect modal"
    assert diagnosis.title == "401 Unauthorized"
    assert diagnosis.sub_code == "E_AUTH"


def test_attempt_records_for_display_hide_the_token(client, httpserver: HTTPServer):
    httpserver.expect_request("/add").respond_with_data("tok-123abc456 is wrong", status=401)
    attempts: list[AttemptRecord] = []
    with pytest.raises(PartnerError):
        send_with_retries(client, post(httpserver.url_for("/add")), on_attempt=attempts.append)
    shown = repr(attempts[0].for_display())
    assert "tok-123abc456" not in shown
    assert "Bearer ••••••" in shown


def test_throttle_is_called_before_every_attempt(client, httpserver: HTTPServer):
    respond_in_turn(httpserver, "/add", Response("", status=500), Response("{}", status=200))
    calls: list[int] = []
    send_with_retries(
        client,
        post(httpserver.url_for("/add")),
        sleep=[].append,
        throttle=lambda: calls.append(len(httpserver.log)),
    )
    assert calls == [0, 1]


def test_a_partner_echoing_the_credential_is_masked_in_the_log(
    client, httpserver: HTTPServer, caplog
):
    secret = "A/b+c=d:e@f?g&h%i~j#k"
    respond_in_turn(
        httpserver,
        "/add",
        Response("busy", status=f"503 echo Bearer {secret}", headers={"Retry-After": "0"}),
        Response('{"ok": true}', status=200),
    )
    caplog.set_level("INFO", logger="syncengine")
    request = post(
        httpserver.url_for("/add"),
        headers=(("Authorization", f"Bearer {secret}"),),
        secrets=(secret,),
    )
    send_with_retries(client, request, NO_JITTER, sleep=lambda _: None)
    assert "attempt 1 of 8: 503 echo Bearer ••••••" in caplog.text
    assert secret not in caplog.text


def test_an_ignored_retry_after_leaves_the_normal_backoff():
    policy = RetryPolicy(jitter=0)
    assert policy.delay_before_next(1, parse_retry_after("²")) == policy.delay_before_next(1)
