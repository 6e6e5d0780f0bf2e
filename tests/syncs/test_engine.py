"""Sync runs end to end: `run_create` queues, a real Celery worker (on the real Redis
broker) plans and sends, the demo partner on loopback keeps the list.

After every run the partner's list must equal the cohort exactly, and the delivered
state must say so.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.db import DatabaseError, connection, transaction

from portal import actions, cohort_changes
from portal.cohort_changes import WHOLESALE
from portal.errors import ActionError
from portal.models import CohortChange
from syncengine.core.delivery import batch_id_for
from syncs import engine, planning, runs
from syncs.models import PLANNED_COLUMNS, DeliveredMember, SyncBatch, SyncExchange
from tests.syncengine.conftest import TOKEN
from tests.syncs.conftest import (
    change_cohort,
    cohort_keys,
    list_manifest,
    make_sync,
    member,
    partner_requests,
    property_manifest,
    sent_ids,
    wait_for_run,
)

pytestmark = pytest.mark.worker


def sync_now(sync, **options):
    return wait_for_run(runs.run_create(sync, kind="manual", **options))


def delivered_keys(sync) -> set[str]:
    return set(DeliveredMember.objects.filter(sync=sync).values_list("member_key", flat=True))


def test_a_first_sync_creates_the_list_and_sends_every_member(cast, celery_worker, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(25))

    run = sync_now(sync, acting_user=cast.alice)

    sync.refresh_from_db()
    assert run.status == "succeeded", run.summary
    assert (run.entered, run.left, run.sent, run.failed, run.batches_total) == (25, 0, 25, 0, 3)
    assert sync.list_id and run.list_id == sync.list_id
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)
    # The delivered state is exactly what the partner acknowledged, at the cohort's snapshot.
    assert len(delivered_keys(sync)) == 25 == sync.delivered_count
    assert sync.delivered_snapshot == sync.cohort.snapshot
    assert sync.failed_runs_in_row == 0 and sync.last_run_at == run.finished_at
    assert run.summary.startswith("Succeeded:") and "25 users entered" in run.summary
    # Each batch went out with its planned Idempotency-Key, once.
    batches = list(run.batches.order_by("sequence"))
    keys = [e["idempotency_key"] for e in partner_requests(partner)]
    assert sorted(keys) == sorted(b.batch_id for b in batches)
    users = batches[0].planned_users()
    assert batches[0].batch_id == batch_id_for(
        f"sync:{sync.pk}:run:{run.pk}", "add_users", [user.key for user in users]
    )
    assert users[0].user["email"] == "user0@example.com" and users[0].user["plan"] == "pro"
    # Every attempt is stored, masked: the inspector never shows the token.
    exchanges = list(SyncExchange.objects.filter(run=run).order_by("sequence"))
    assert [e.step for e in exchanges] == ["create_list", "add_users", "add_users", "add_users"]
    assert all(e.response_status in (200, 201) for e in exchanges)
    assert {e.batch_id for e in exchanges[1:]} == {b.pk for b in batches}
    assert TOKEN not in json.dumps([e.request_headers for e in exchanges])


def test_a_delta_sync_sends_only_who_entered_and_left(cast, celery_worker, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(30))
    sync_now(sync)
    partner.state.log.clear()

    change_cohort(sync.cohort, add=range(100, 105), remove=[0, 1, 2])
    run = sync_now(sync)

    assert run.status == "succeeded", run.summary
    assert (run.entered, run.left, run.sent) == (5, 3, 8)
    added = [e for e in partner_requests(partner) if e["method"] == "POST"]
    removed = [e for e in partner_requests(partner) if e["method"] == "DELETE"]
    assert sorted(sent_ids(added)) == [f"user-{n:07d}" for n in range(100, 105)]
    assert sorted(sent_ids(removed)) == [f"user-{n:07d}" for n in range(3)]
    sync.refresh_from_db()
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)
    assert sync.delivered_count == 32

    # A sync re-run after success sends nothing.
    partner.state.log.clear()
    again = sync_now(sync)
    assert again.status == "succeeded" and again.batches_total == 0
    assert "nothing changed" in again.summary
    assert partner_requests(partner, "/v1/") == []


def test_without_the_change_log_the_whole_cohort_is_compared(cast, celery_worker, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(20))
    sync_now(sync)
    change_cohort(sync.cohort, add=[50, 51], remove=[5])
    CohortChange.objects.filter(cohort=sync.cohort).delete()  # pruned, or never written

    run = sync_now(sync)

    assert (run.status, run.entered, run.left) == ("succeeded", 2, 1)
    sync.refresh_from_db()
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)


def test_across_a_change_too_big_to_log_the_whole_cohort_is_compared(
    cast, celery_worker, partner, monkeypatch
):
    monkeypatch.setattr(cohort_changes, "MAX_LOGGED_CHANGES", 5)
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10))
    sync_now(sync)  # an empty cohort, delivered at snapshot 0
    cohort = sync.cohort

    # A new cohort of 20 members, logged as one marker: the next run compares it whole.
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=[member(n) for n in range(20)]
    )
    logged = CohortChange.objects.filter(cohort=cohort).values_list("member_key", flat=True)
    assert list(logged) == [WHOLESALE]
    run = sync_now(sync)
    assert (run.status, run.entered, run.left) == ("succeeded", 20, 0)
    sync.refresh_from_db()
    assert partner.state.members_of(sync.list_id) == cohort_keys(cohort)
    assert sync.delivered_snapshot == 1

    # A replacement of most of it (a marker), then a small change logged member by
    # member: the log cannot tell the run who changed in between.
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=[member(n) for n in range(12, 30)]
    )
    change_cohort(cohort, add=[100], remove=[12])
    assert not planning.change_log_usable(cohort.pk, 1, 3)
    assert planning.change_log_usable(cohort.pk, 2, 3)
    run = sync_now(sync)
    assert (run.status, run.entered, run.left) == ("succeeded", 11, 13)
    sync.refresh_from_db()
    assert partner.state.members_of(sync.list_id) == cohort_keys(cohort)
    assert delivered_keys(sync) == {f"u:user-{n:07d}" for n in [*range(13, 30), 100]}


def test_a_property_sync_sets_in_cohort_true_then_false(cast, celery_worker, partner):
    sync = make_sync(cast, property_manifest(partner.url, batch_size=4), members=range(10))

    first = sync_now(sync)
    change_cohort(sync.cohort, add=[40], remove=[0, 1])
    second = sync_now(sync)

    assert (first.status, first.entered, first.batches_total) == ("succeeded", 10, 3)
    assert (second.status, second.entered, second.left) == ("succeeded", 1, 2)
    assert set(partner.state.users_in_cohort()) == cohort_keys(sync.cohort)
    assert partner.state.properties["user-0000000"]["in_cohort"] is False
    flags = [b.in_cohort for b in second.batches.order_by("sequence")]
    assert flags == [True, False]
    assert {b.endpoint for b in second.batches.all()} == {"update_users"}


def test_a_full_resync_to_a_new_list_sends_everyone_there(cast, celery_worker, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(12))
    sync_now(sync)
    sync.refresh_from_db()
    old_list = sync.list_id

    run = wait_for_run(runs.full_resync(sync, cast.alice, new_list=True))

    sync.refresh_from_db()
    assert run.status == "succeeded", run.summary
    assert sync.list_id != old_list and run.list_id == sync.list_id
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)
    assert (run.entered, run.left, run.sent) == (12, 0, 12)
    assert delivered_keys(sync) == {f"u:user-{n:07d}" for n in range(12)}


def test_a_full_resync_sends_every_member_again_and_removes_leavers(cast, celery_worker, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(12))
    sync_now(sync)
    sync.refresh_from_db()
    partner.state.remove_members(sync.list_id, ["user-0000003"])  # the partner lost one
    change_cohort(sync.cohort, remove=[11])

    run = wait_for_run(runs.full_resync(sync, cast.alice))

    assert (run.status, run.entered, run.left) == ("succeeded", 11, 1)
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)


def test_emptying_removes_everyone_delivered(cast, celery_worker, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(15))
    sync_now(sync)
    sync.refresh_from_db()

    run = wait_for_run(runs.run_create(sync, kind="empty"))

    sync.refresh_from_db()
    assert (run.status, run.left, run.sent) == ("succeeded", 15, 15), run.summary
    assert partner.state.members_of(sync.list_id) == set()
    assert sync.delivered_count == 0 and sync.delivered_snapshot is None


@pytest.mark.django_db
def test_a_second_run_is_refused_while_one_is_queued(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url), members=range(3))
    runs.run_create(sync, kind="manual", enqueue=False)

    with pytest.raises(ActionError) as refused:
        runs.run_create(sync, kind="manual", enqueue=False)

    assert (refused.value.status, refused.value.code) == (409, "sync_busy")
    assert sync.runs.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_logs_one_line_per_batch_without_secrets(cast, partner, caplog):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=5), members=range(12))
    run = runs.run_create(sync, kind="manual", enqueue=False)

    with caplog.at_level(logging.INFO, logger="syncs"):
        engine.execute_run(run.pk)

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sync_batch")]
    assert len(lines) == 3
    assert all(
        f"run={run.pk} sync={sync.pk} destination={sync.connection.destination_id}" in line
        and "endpoint=add_users" in line
        and "status=delivered" in line
        and "attempts=1" in line
        and "latency_ms=" in line
        for line in lines
    )
    # Batches are sent on concurrent threads: the lines come in the order they settle.
    by_sequence = sorted(lines, key=lambda line: int(line.split("sequence=")[1].split()[0]))
    assert "size=5" in by_sequence[0] and "size=2" in by_sequence[2]
    assert TOKEN not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_batches_hold_their_users_as_templates_see_them(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=100), members=range(3))
    run = runs.run_create(sync, kind="manual", enqueue=False)
    engine.execute_run(run.pk)

    batch = SyncBatch.objects.get(run=run)
    member = sync.cohort.members.get(member_key="u:user-0000001")
    users = batch.planned_users()
    assert users[1] == ("u:user-0000001", member.as_user(), None)
    delivered = DeliveredMember.objects.get(sync=sync, member_key="u:user-0000001")
    assert delivered.as_user() == member.as_user()


@pytest.mark.django_db
def test_a_batchs_columns_are_compressed_with_lz4_where_the_server_has_it():
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL default_toast_compression = lz4")
        except DatabaseError:
            pytest.skip("this PostgreSQL server was built without lz4")
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = ANY(%s)",
            [SyncBatch._meta.db_table, list(PLANNED_COLUMNS)],
        )
        methods = dict(cursor.fetchall())
    assert methods == dict.fromkeys(PLANNED_COLUMNS, "l")
