"""Runs that fail, and partners that misbehave: every case ends with a plain-language
diagnosis, nothing is marked delivered that was not, no worker stays stuck.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.errors import ActionError
from syncs import engine, runs
from syncs.models import DeliveredMember, SyncExchange, SyncRun
from tests.signin import deliver_mails
from tests.syncs.conftest import (
    another_sync,
    change_cohort,
    cohort_keys,
    list_manifest,
    make_sync,
    wait_for_run,
)
from tests.waiting import wait_until

ONE_AT_A_TIME = {"max_concurrency": 1}


def run_now(sync, kind: str = "manual") -> SyncRun:
    """A run performed on this process, as `manage.py sync run` does."""
    run = runs.run_create(sync, kind=kind, enqueue=False)
    return engine.execute_run(run.pk)


def delivered(sync) -> set[str]:
    return set(DeliveredMember.objects.filter(sync=sync).values_list("member_key", flat=True))


@pytest.mark.django_db(transaction=True)
def test_retry_failed_resends_only_what_the_failed_batches_did_not_deliver(cast, partner):
    sync = make_sync(
        cast,
        list_manifest(partner.url, batch_size=10, delivery=ONE_AT_A_TIME),
        members=range(30),
    )
    add_members = partner.state.add_members

    def refuse_user_15(list_id, members):
        members = list(members)
        return None if "user-0000015" in members else add_members(list_id, members)

    partner.state.add_members = refuse_user_15  # the partner answers 404 for that batch

    failed = run_now(sync)

    sync.refresh_from_db()
    assert (failed.status, failed.sent, failed.failed) == ("partial", 10, 20), failed.summary
    assert failed.diagnosis["status"] == 404 and failed.diagnosis["batch"] == 2
    assert failed.summary.startswith("Partly failed at add_users (batch 2):")
    statuses = [
        (b.status, (b.error or {}).get("kind")) for b in failed.batches.order_by("sequence")
    ]
    assert statuses == [("delivered", None), ("failed", "http_status"), ("failed", "not_sent")]
    assert partner.state.members_of(sync.list_id) == {f"user-{n:07d}" for n in range(10)}
    assert delivered(sync) == {f"u:user-{n:07d}" for n in range(10)}
    assert sync.delivered_snapshot is None and sync.failed_runs_in_row == 1
    partner.state.add_members = add_members
    partner.state.log.clear()

    retry = runs.retry_failed(sync, cast.alice, enqueue=False)
    retry = engine.execute_run(retry.pk)

    assert (retry.kind, retry.status, retry.entered, retry.sent) == ("retry", "succeeded", 20, 20)
    assert retry.retry_of_id == failed.pk
    bodies = [e for e in partner.state.log_entries() if "/members" in e["path"]]
    assert len(bodies) == 2  # users 10-29 only, nothing of the delivered batch
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)
    sync.refresh_from_db()
    assert sync.failed_runs_in_row == 0
    with pytest.raises(ActionError) as refused:
        runs.retry_failed(sync, cast.alice)
    assert refused.value.code == "nothing_to_retry"


@pytest.mark.django_db(transaction=True)
def test_three_failed_runs_in_a_row_pause_the_sync_and_email_the_admins(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url), members=range(5), cadence="hourly")
    partner.state.set_faults(fail_next=100, status=400)

    for number in (1, 2, 3):
        run = run_now(sync)
        assert run.status == "failed"
        assert run.diagnosis["status"] == 400 and run.diagnosis["step"] == "create_list"
        sync.refresh_from_db()
        assert sync.failed_runs_in_row == number
        assert sync.paused is (number == 3)

    assert "The last 3 runs of this sync failed" in sync.paused_reason
    assert sync.next_run_at is None and sync.list_id == "" and not delivered(sync)
    assert len(deliver_mails()) == 1
    email = deliver_mails()[0]
    assert email.to == ["alice@acme.test"]  # Acme's admin; alan is a plain member
    assert email.subject == f"Sync paused: Engaged users to {sync.connection.name}"
    assert "The last 3 runs of this sync failed" in email.body
    assert "400" in email.body


@pytest.mark.django_db(transaction=True)
def test_revoked_credentials_pause_the_sync_with_what_to_do(cast, start_partner):
    partner = start_partner(token="a-new-token")  # the org's token was revoked
    sync = make_sync(cast, list_manifest(partner.url), members=range(5))

    run = run_now(sync)

    sync.refresh_from_db()
    assert run.status == "failed" and run.diagnosis["status"] == 401
    assert sync.paused and "Reconnect it with valid credentials" in sync.paused_reason
    assert "401 Unauthorized" in sync.paused_reason
    assert len(deliver_mails()) == 1 and "Reconnect" in deliver_mails()[0].body
    assert "demo-token" not in deliver_mails()[0].body + run.summary


@pytest.mark.django_db(transaction=True)
def test_a_list_gone_at_the_partner_410_is_diagnosed_and_pauses(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url), members=range(5))
    run_now(sync)
    change_cohort(sync.cohort, add=[9])
    partner.state.set_faults(fail_next=10, status=410)

    run = run_now(sync)

    sync.refresh_from_db()
    assert run.status == "failed" and run.diagnosis["status"] == 410
    assert run.diagnosis["step"] == "add_users"
    assert f"the list {sync.list_id} no longer exists (410 Gone)" in sync.paused_reason
    assert "full resync with a new list" in sync.paused_reason
    assert delivered(sync) == {f"u:user-{n:07d}" for n in range(5)}  # nothing lost


@pytest.mark.django_db(transaction=True)
def test_a_2xx_answer_of_garbage_to_create_list_fails_with_a_diagnosis(cast, httpserver):
    httpserver.expect_request("/v1/lists", method="POST").respond_with_data(
        "<html>upstream proxy says hi</html>", status=200, content_type="text/html"
    )
    sync = make_sync(cast, list_manifest(httpserver.url_for("").rstrip("/")), members=range(5))

    run = run_now(sync)

    sync.refresh_from_db()
    assert run.status == "failed"
    assert run.diagnosis["kind"] == "non_json" and run.diagnosis["step"] == "create_list"
    assert run.summary.startswith("Failed at create_list:")
    assert sync.list_id == "" and not delivered(sync)
    exchange = SyncExchange.objects.get(run=run)
    assert exchange.response_status == 200 and exchange.error_kind == "non_json"
    assert run.batches.filter(status="pending").count() == 0


@pytest.mark.worker
def test_a_silent_partner_fails_the_run_and_frees_the_worker(
    cast, celery_worker, silent_partner, partner, fast_retries, short_limits
):
    stuck = make_sync(cast, list_manifest(silent_partner.url, name="Silent"), members=range(3))
    started = timezone.now()

    run = wait_for_run(runs.run_create(stuck, kind="manual"), 60)

    assert run.status == "failed" and run.diagnosis["kind"] == "timeout"
    assert "timeout" in run.summary.lower() or "answer" in run.summary.lower()
    assert silent_partner.accepted == 8  # every attempt of the retry policy, then it gave up
    assert (run.finished_at - started).total_seconds() < 30
    # The same worker serves the next run.
    healthy = make_sync(cast, list_manifest(partner.url), members=range(3), cohort_name="Other")
    assert healthy.connection.destination_id != stuck.connection.destination_id
    assert wait_for_run(runs.run_create(healthy, kind="manual")).status == "succeeded"


@pytest.mark.worker
def test_a_long_retry_after_puts_the_run_back_on_the_queue(cast, celery_worker, partner):
    sync = make_sync(cast, list_manifest(partner.url), members=range(4))
    other = another_sync(cast, sync.connection, members=range(2))
    partner.state.set_faults(fail_next=1, status=503, retry_after="6")

    run = runs.run_create(sync, kind="manual")

    waiting = wait_until(
        lambda: SyncRun.objects.filter(pk=run.pk, status="queued", list_attempt=2).first(),
        30,
        "the run did not go back to the queue",
    )
    assert waiting.not_before > timezone.now()  # a countdown, not a sleeping worker
    # Meanwhile the worker is free for other runs.
    assert wait_for_run(runs.run_create(other, kind="manual")).status == "succeeded"
    run = wait_for_run(run, 30)
    assert run.status == "succeeded", run.summary
    attempts = list(run.exchanges.order_by("sequence").values_list("attempt", "outcome"))
    assert attempts[:2] == [(1, "retrying"), (2, "success")]
    assert run.exchanges.first().wait_seconds == 6
    sync.refresh_from_db()
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)
