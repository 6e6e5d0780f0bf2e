"""Test runs end to end: the action queues, a real Celery worker (on the real Redis broker)
runs the executor, real HTTP servers on loopback answer.

Partners: the demo partner (a real service), pytest-httpserver for precise answers, and
raw sockets for hostile behaviour no well-behaved server would show.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from celery.signals import before_task_publish
from django.db import connection
from pytest_httpserver import HTTPServer

from demo_partner import DemoPartner
from integrations import actions as integration_actions
from syncengine import actions, selectors
from syncengine.models import TestExchange, TestRun
from tests.partners import closed_port, raw_server, read_request_head
from tests.syncengine.conftest import (
    list_manifest,
    make_draft,
    property_manifest,
    save_settings,
    with_endpoint,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.worker

RUN_TIMEOUT = 60.0


def wait_for(run: TestRun, timeout: float = RUN_TIMEOUT) -> TestRun:
    """The run once the worker has finished it (polling the database, as the page does)."""

    def finished() -> TestRun | None:
        run.refresh_from_db()
        return run if run.is_finished else None

    return wait_until(
        finished, timeout, lambda: f"run {run.pk} still {run.status} after {timeout} s: {run.steps}"
    )


def start(cast, integration, **kwargs) -> TestRun:
    return actions.test_run_start(acting_user=cast.alice, integration=integration, **kwargs)


def exchanges(run: TestRun) -> list[TestExchange]:
    return list(run.exchanges.order_by("sequence"))


def api_requests(partner: DemoPartner, part: str = "") -> list[dict]:
    return [entry for entry in partner.state.log_entries() if part in entry["path"]]


def run_against_demo(cast, partner: DemoPartner, *, name: str) -> TestRun:
    """A passing full test on a fresh draft: proof that the worker still serves runs."""
    draft = make_draft(cast, list_manifest(partner.url, name=name))
    save_settings(cast, draft)
    return wait_for(start(cast, draft))


# --- passing runs ---------------------------------------------------------------------------


def test_a_list_based_full_test_passes_step_by_step(cast, celery_worker, partner):
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(
        cast,
        draft,
        users_count=10,
        values={"bearer_token": "demo-token", "region": "eu"},
        mapping={"user_id_field": "email"},
    )

    run = wait_for(start(cast, draft))

    assert run.status == "passed", run.summary
    assert [step["status"] for step in run.steps] == ["passed", "passed", "passed"]
    assert run.delivered == {"add_users": 10, "remove_users": 2}
    created = partner.state.list_summaries(with_members=True)
    assert len(created) == 1 and created[0]["id"] == run.list_id
    assert created[0]["name"] == f"Cohort Portal test #{run.pk}"
    assert len(created[0]["members"]) == 8 and all(
        "@example.com" in m for m in created[0]["members"]
    )
    # The create_list header rendered the Connect-modal select's value.
    sent_headers = {
        name.lower(): value for name, value in api_requests(partner, "/v1/lists")[0]["headers"]
    }
    assert sent_headers["x-region"] == "eu"
    # Every attempt is recorded, in order, and the list id is kept for add/remove tests.
    assert [e.step for e in exchanges(run)] == ["create_list", "add_users", "remove_users"]
    assert [e.response_status for e in exchanges(run)] == [201, 200, 200]
    assert selectors.test_settings_for(draft).list_id == run.list_id
    assert selectors.passing_full_test(draft) == run


def test_a_property_based_full_test_sends_in_cohort_true_then_false(cast, celery_worker, partner):
    draft = make_draft(cast, property_manifest(partner.url))
    save_settings(cast, draft, users_count=10)

    run = wait_for(start(cast, draft))

    assert run.status == "passed", run.summary
    assert [step["key"] for step in run.steps] == ["update_users:enter", "update_users:leave"]
    # 10 users in batches of 4 (4, 4, 2) enter; the last 2 leave again.
    bodies = [json.loads(e["body"]) for e in api_requests(partner, "/v1/users/properties")]
    flags = [user["in_cohort"] for body in bodies for user in body["users"]]
    assert flags == [True] * 10 + [False] * 2
    assert len(partner.state.users_in_cohort()) == 8
    assert run.delivered == {"update_users:enter": 10, "update_users:leave": 2}


def test_the_list_id_is_read_at_a_nested_path(cast, celery_worker, httpserver: HTTPServer):
    base = httpserver.url_for("").rstrip("/")
    manifest = list_manifest(base)
    manifest = with_endpoint(
        manifest, "create_list", url=f"{base}/lists", list_id_path="result.lists.0.id"
    )
    manifest = with_endpoint(manifest, "add_users", url=f"{base}/lists/$list_id/add", method="POST")
    manifest = with_endpoint(
        manifest, "remove_users", url=f"{base}/lists/$list_id/remove", method="POST"
    )
    httpserver.expect_request("/lists", method="POST").respond_with_json(
        {"result": {"lists": [{"id": "L-42", "name": "x"}]}}, status=201
    )
    httpserver.expect_request("/lists/L-42/add").respond_with_json({"ok": True})
    httpserver.expect_request("/lists/L-42/remove").respond_with_json({"ok": True})
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=5)

    run = wait_for(start(cast, draft))

    assert run.status == "passed", run.summary
    assert run.list_id == "L-42"
    assert [request.path for request, _ in httpserver.log] == [
        "/lists",
        "/lists/L-42/add",
        "/lists/L-42/remove",
    ]


def test_a_missing_list_id_shows_the_response_and_where_it_looked(
    cast, celery_worker, httpserver: HTTPServer
):
    base = httpserver.url_for("").rstrip("/")
    manifest = with_endpoint(
        list_manifest(base), "create_list", url=f"{base}/lists", list_id_path="data.list.id"
    )
    httpserver.expect_request("/lists").respond_with_json({"data": {"id": "oops"}}, status=201)
    draft = make_draft(cast, manifest)
    save_settings(cast, draft)

    run = wait_for(start(cast, draft))

    assert run.status == "failed"
    assert run.diagnosis["title"] == "List id not found"
    assert "data.list.id" in run.diagnosis["message"]
    assert '"oops"' in run.diagnosis["message"]  # the response, shown
    (only,) = exchanges(run)
    assert only.response_status == 201 and only.error_kind == "list_id_missing"
    assert [step["status"] for step in run.steps] == ["failed", "pending", "pending"]


def test_25000_users_at_batch_size_10000_go_out_in_three_add_calls(cast, celery_worker, partner):
    draft = make_draft(cast, list_manifest(partner.url, batch_size=10_000))
    save_settings(cast, draft, users_count=25_000)

    run = wait_for(start(cast, draft))

    assert run.status == "passed", run.summary
    adds = [e for e in api_requests(partner, "/members") if e["method"] == "POST"]
    assert sorted(e["item_count"] for e in adds) == [5_000, 10_000, 10_000]
    removes = [e for e in api_requests(partner, "/members") if e["method"] == "DELETE"]
    assert [e["item_count"] for e in removes] == [5_000]
    add_step = run.steps[1]
    assert (add_step["batches"], add_step["batches_done"], add_step["users_done"]) == (3, 3, 25_000)
    assert sorted(e.item_count for e in run.exchanges.filter(step="add_users")) == [
        5_000,
        10_000,
        10_000,
    ]
    # Bodies are kept for display only up to a size; their full length is recorded.
    big = run.exchanges.filter(step="add_users", item_count=10_000).first()
    assert big.request_body_truncated and big.request_body_bytes > len(big.request_body)


# --- retries ----------------------------------------------------------------------------------


def test_a_429_with_retry_after_is_retried_after_the_partners_wait(
    cast, celery_worker, partner, fast_retries
):
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    partner.state.set_faults(fail_next=1, status=429, retry_after="1")

    started = time.monotonic()
    run = wait_for(start(cast, draft))

    assert run.status == "passed", run.summary
    first, second = exchanges(run)[:2]
    assert (first.step, first.response_status, first.outcome) == ("create_list", 429, "retrying")
    # Retry-After replaces the (here tiny) backoff.
    assert first.wait_seconds == 1.0
    assert ["Retry-After", "1"] in first.response_headers
    assert first.diagnosis["action"] == "retry"
    assert "attempt 1 of 8" in first.summary and "waiting 1.0 s" in first.summary
    assert (second.step, second.response_status, second.attempt) == ("create_list", 201, 2)
    assert time.monotonic() - started >= 1.0


def test_two_500s_then_success(cast, celery_worker, partner, fast_retries):
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    partner.state.set_faults(fail_next=2, status=500)

    run = wait_for(start(cast, draft))

    assert run.status == "passed", run.summary
    create = [e for e in exchanges(run) if e.step == "create_list"]
    assert [(e.attempt, e.response_status, e.outcome) for e in create] == [
        (1, 500, "retrying"),
        (2, 500, "retrying"),
        (3, 201, "success"),
    ]
    assert all(e.wait_seconds is not None and e.wait_seconds < 0.1 for e in create[:2])
    assert "attempt 3 of 8" in run.steps[0]["note"] or run.steps[0]["note"].startswith("list id")


def test_no_retries_shows_the_raw_failure_once(cast, celery_worker, partner, fast_retries):
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    partner.state.set_faults(fail_next=1, status=503)

    run = wait_for(start(cast, draft, no_retries=True))

    assert run.status == "failed"
    (only,) = exchanges(run)
    assert (only.attempt, only.max_attempts, only.response_status) == (1, 1, 503)
    assert run.no_retries


def test_a_401_gets_the_partners_classified_message(cast, celery_worker, start_partner):
    partner = start_partner(token="the-right-token")
    classification = {
        "status": 401,
        "sub_code": "E_AUTH",
        "sub_code_path": "error.code",
        "reason": "Unauthorized",
        "message": "Your API token is wrong: copy it again from Acme → Settings → API.",
        "action": "fail",
    }
    manifest = with_endpoint(list_manifest(partner.url), "create_list", errors=[classification])
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, values={"bearer_token": "a-wrong-token"})

    run = wait_for(start(cast, draft))

    assert run.status == "failed"
    assert run.diagnosis["classified"] is True
    assert run.diagnosis["message"] == classification["message"]
    assert run.diagnosis["title"] == "401 Unauthorized"
    assert run.diagnosis["step"] == "create_list"
    assert run.summary.startswith("Failed at create_list: 401 Unauthorized.")
    assert len(exchanges(run)) == 1  # "fail": not retried


# --- bad input: the run ends with a clear diagnosis, the worker keeps serving ---------------


def test_an_unreachable_host_is_retried_then_explained(cast, celery_worker, partner, fast_retries):
    base = f"http://127.0.0.1:{closed_port()}"
    draft = make_draft(cast, list_manifest(base))
    save_settings(cast, draft)

    run = wait_for(start(cast, draft))

    assert run.status == "failed"
    assert run.diagnosis["title"] == "Connection refused"
    assert "nothing is listening" in run.diagnosis["message"]
    assert [e.attempt for e in exchanges(run)] == list(range(1, 9))
    assert {e.error_kind for e in exchanges(run)} == {"connection_refused"}
    assert run_against_demo(cast, partner, name="After unreachable").status == "passed"


def test_a_hostname_resolving_to_loopback_is_refused_with_the_guard_on(
    cast, celery_worker, partner, settings
):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    draft = make_draft(cast, list_manifest(f"http://localhost:{partner.port}"))
    save_settings(cast, draft)

    run = wait_for(start(cast, draft))

    assert run.status == "failed"
    assert run.diagnosis["title"] == "Address not allowed"
    assert "localhost resolves to 127.0.0.1" in run.diagnosis["message"]
    (only,) = exchanges(run)  # permanent: never retried
    assert only.error_kind == "blocked_address" and only.response_status is None
    assert partner.state.log_entries() == []  # nothing reached the partner


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.8/v1", "http://169.254.169.254/latest", "http://[::ffff:127.0.0.1]:9/x"],
)
def test_private_addresses_are_refused_before_connecting(cast, celery_worker, settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    manifest = with_endpoint(list_manifest("http://203.0.113.1"), "create_list", url=url)
    draft = make_draft(cast, manifest)
    save_settings(cast, draft)

    run = wait_for(start(cast, draft))

    assert run.status == "failed"
    assert run.diagnosis["kind"] == "blocked_address"
    assert len(exchanges(run)) == 1


def _never_ending(conn: socket.socket) -> None:
    read_request_head(conn)
    conn.sendall(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(200):  # bounded: 10 s at most, far past the client's deadline
        conn.sendall(b"1\r\nx\r\n")
        time.sleep(0.05)


def _five_gigabytes(conn: socket.socket) -> None:
    read_request_head(conn)
    conn.sendall(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5368709120\r\n\r\n" + b"x" * 1000
    )
    time.sleep(0.5)


def _invalid_utf8(conn: socket.socket) -> None:
    read_request_head(conn)
    body = b'\xff\xfe{"data": {"id": "\xc3\x28"}}\x00\x80'
    conn.sendall(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@pytest.mark.parametrize(
    ("script", "title", "kind"),
    [
        (_never_ending, "Timed out", "timeout"),
        (_five_gigabytes, "Response too large", "too_large"),
        (_invalid_utf8, "Response is not JSON", "non_json"),
    ],
    ids=["never-ending", "5GB-content-length", "invalid-utf8"],
)
def test_a_hostile_partner_ends_the_run_with_a_diagnosis_and_the_worker_goes_on(
    cast, celery_worker, partner, short_limits, script, title, kind
):
    with raw_server(script) as server:
        draft = make_draft(cast, list_manifest(server.url))
        save_settings(cast, draft)
        started = time.monotonic()
        run = wait_for(start(cast, draft, no_retries=True))
        elapsed = time.monotonic() - started

    assert run.status == "failed"
    assert run.diagnosis["title"] == title
    assert run.diagnosis["kind"] == kind
    (only,) = exchanges(run)
    assert only.error_kind == kind  # on the exchange too, even after a 201 (non_json)
    assert only.diagnosis["title"] == title
    assert elapsed < 10
    if kind == "non_json":
        # Shown with replacement characters; the NUL PostgreSQL cannot store is replaced.
        assert "\ufffd" in only.response_body and "\x00" not in only.response_body
    # The same worker serves the next run.
    assert run_against_demo(cast, partner, name=f"After {kind}").status == "passed"


def test_a_redirect_loop_is_one_request_and_a_clear_diagnosis(
    cast, celery_worker, partner, httpserver: HTTPServer
):
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/v1/lists").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/v1/lists")}
    )
    draft = make_draft(cast, list_manifest(base))
    save_settings(cast, draft)

    run = wait_for(start(cast, draft))

    assert run.status == "failed"
    assert run.diagnosis["title"] == "Redirect (302)"
    assert "Redirects are not followed" in run.diagnosis["message"]
    assert len(httpserver.log) == 1
    assert run_against_demo(cast, partner, name="After redirect").status == "passed"


def test_a_hostile_partner_with_retries_is_cut_every_time(
    cast, celery_worker, partner, short_limits, fast_retries
):
    with raw_server(_never_ending) as server:
        draft = make_draft(cast, list_manifest(server.url))
        save_settings(cast, draft)
        run = wait_for(start(cast, draft))
    assert run.status == "failed"
    assert [e.error_kind for e in exchanges(run)] == ["timeout"] * 8
    assert run_against_demo(cast, partner, name="After retries").status == "passed"


# --- secrets ------------------------------------------------------------------------------


SECRET_TOKEN = "tok_7f3a9c2e5b1d8f4a6c0e2b9d"


def test_secrets_are_absent_from_exchanges_logs_and_task_arguments(
    cast, celery_worker, caplog, start_partner
):
    published: list[str] = []

    def capture(sender=None, body=None, headers=None, **_):
        published.append(json.dumps({"body": body, "headers": headers}, default=str))

    partner = start_partner(token=SECRET_TOKEN)
    before_task_publish.connect(capture)
    caplog.set_level(logging.DEBUG)
    try:
        # A partner that echoes the token back: the stored response must mask it too.
        manifest = list_manifest(partner.url)
        manifest["endpoints"]["create_list"]["payload"] = '{"name": "$cohort_name $bearer_token"}'
        draft = make_draft(cast, manifest)
        save_settings(cast, draft, values={"bearer_token": SECRET_TOKEN})
        run = wait_for(start(cast, draft))
    finally:
        before_task_publish.disconnect(capture)

    assert run.status == "passed", run.summary
    stored = json.dumps(
        [
            {field.name: str(getattr(e, field.name)) for field in TestExchange._meta.fields}
            for e in exchanges(run)
        ],
        ensure_ascii=False,
    )
    assert "Bearer ••••••" in stored
    assert SECRET_TOKEN not in stored
    run_row = {field.name: str(getattr(run, field.name)) for field in TestRun._meta.fields}
    assert SECRET_TOKEN not in json.dumps({k: v for k, v in run_row.items() if k != "values"})
    # At rest the values are ciphertext.
    with connection.cursor() as cursor:
        cursor.execute("SELECT values FROM syncengine_testrun WHERE id = %s", [run.pk])
        (raw_run,) = cursor.fetchone()
        cursor.execute(
            "SELECT values FROM syncengine_testsettings WHERE integration_id = %s", [draft.pk]
        )
        (raw_settings,) = cursor.fetchone()
    assert SECRET_TOKEN not in raw_run and SECRET_TOKEN not in raw_settings
    assert SECRET_TOKEN not in caplog.text
    # The task got the run id and nothing else.
    assert published and all(SECRET_TOKEN not in message for message in published)
    assert f'"body": [[{run.pk}], {{}}' in published[0]
    # The partner did receive it (the masking is for display, not for sending).
    assert SECRET_TOKEN in partner.state.log_entries()[0]["body"]


def test_a_redelivered_task_does_not_run_the_test_again(
    cast, celery_worker, finished_tasks, partner
):
    from syncengine.tasks import test_run_execute

    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    run = wait_for(start(cast, draft))
    finished_at, sent = run.finished_at, len(partner.state.log_entries())
    assert sent == 3

    redelivered = test_run_execute.delay(run.pk)
    # The worker took the message and finished the task: it found nothing to claim.
    state = wait_until(
        lambda: finished_tasks.get(redelivered.id),
        RUN_TIMEOUT,
        "the worker never handled the redelivered message",
    )

    assert state == "SUCCESS"
    run.refresh_from_db()
    assert (run.status, run.finished_at) == ("passed", finished_at)
    assert len(partner.state.log_entries()) == sent


def test_an_edit_after_a_passing_test_makes_it_stale(cast, celery_worker, partner):
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    run = wait_for(start(cast, draft))
    assert selectors.passing_full_test(draft) == run

    manifest = list_manifest(partner.url, batch_size=500)
    integration_actions.integration_save(
        acting_user=cast.alice, integration=draft, manifest=manifest
    )
    draft.refresh_from_db()

    assert selectors.passing_full_test(draft) is None
    rerun = wait_for(start(cast, draft))
    assert selectors.passing_full_test(draft) == rerun
