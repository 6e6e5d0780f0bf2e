"""The scheduler: cadences, due syncs claimed once by concurrent dispatchers, missed runs
coalesced, housekeeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from portal.models import CohortChange
from syncs import cadence, engine, housekeeping, planning, runs, schedule
from syncs.models import CohortSync, SyncBatch, SyncExchange, SyncRun
from tests.syncs.conftest import (
    another_sync,
    change_cohort,
    cohort_keys,
    list_manifest,
    make_sync,
)

NOON = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def test_next_run_times_follow_the_cadence():
    hourly = CohortSync(pk=17, cadence="hourly")
    daily = CohortSync(pk=3, cadence="daily", daily_hour=6)

    assert cadence.next_run_at(hourly, NOON) == NOON.replace(hour=13, minute=17)
    assert cadence.next_run_at(hourly, NOON.replace(minute=10)) == NOON.replace(minute=17)
    assert cadence.next_run_at(daily, NOON) == datetime(2026, 3, 5, 6, 0, tzinfo=UTC)
    assert cadence.next_run_at(daily, NOON.replace(hour=5)) == datetime(2026, 3, 4, 6, tzinfo=UTC)
    assert cadence.next_run_at(CohortSync(pk=1, cadence="manual"), NOON) is None
    assert cadence.next_run_at(CohortSync(pk=1, cadence="hourly", paused=True), NOON) is None
    assert cadence.describe(daily) == "every day at 06:00 UTC"
    assert cadence.describe(hourly) == "every hour at :17"


def test_beat_dispatches_due_syncs_and_keeps_house():
    entries = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"syncs.dispatch_due", "syncs.housekeeping"} <= entries


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_start_each_due_sync_once(cast, partner):
    first = make_sync(cast, list_manifest(partner.url), members=range(2), cadence="hourly")
    syncs = [first] + [
        another_sync(cast, first.connection, cohort_name=f"Cohort {n}", cadence="daily")
        for n in range(11)
    ]
    CohortSync.objects.update(next_run_at=timezone.now() - timedelta(minutes=1))
    barrier = threading.Barrier(2)
    started: list[int] = []

    def dispatcher() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                started.append(schedule.dispatch_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(started) == len(syncs)
    for sync in syncs:
        assert SyncRun.objects.filter(sync=sync).count() == 1
        sync.refresh_from_db()
        assert sync.next_run_at > timezone.now()
    assert set(SyncRun.objects.values_list("kind", flat=True)) == {"scheduled"}


@pytest.mark.django_db
def test_missed_runs_are_coalesced_into_one(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url), cadence="hourly")
    now = timezone.now()
    CohortSync.objects.filter(pk=sync.pk).update(next_run_at=now - timedelta(hours=5))

    assert schedule.dispatch_due(now=now) == 1
    assert schedule.dispatch_due(now=now) == 0

    sync.refresh_from_db()
    assert sync.runs.count() == 1
    assert now < sync.next_run_at <= now + timedelta(hours=1)
    assert sync.next_run_at.minute == sync.pk % 60


@pytest.mark.django_db
def test_a_busy_paused_or_manual_sync_is_not_started(cast, partner):
    busy = make_sync(cast, list_manifest(partner.url), cadence="hourly")
    paused = another_sync(cast, busy.connection, cohort_name="Paused", cadence="hourly")
    manual = another_sync(cast, busy.connection, cohort_name="Manual", cadence="manual")
    new = another_sync(cast, busy.connection, cohort_name="New", cadence="daily", daily_hour=5)
    CohortSync.objects.filter(pk__in=[busy.pk, paused.pk, manual.pk]).update(
        next_run_at=timezone.now() - timedelta(minutes=1)
    )
    CohortSync.objects.filter(pk=paused.pk).update(paused=True)
    runs.run_create(busy, kind="manual", enqueue=False)

    assert schedule.dispatch_due() == 0

    busy.refresh_from_db()
    new.refresh_from_db()
    assert busy.runs.count() == 1 and busy.next_run_at > timezone.now()  # covered by its run
    assert not paused.runs.exists() and not manual.runs.exists()
    assert new.next_run_at is not None and new.next_run_at.hour == 5  # scheduled, not run


@pytest.mark.django_db
def test_housekeeping_prunes_old_bodies_and_changes_every_sync_has_passed(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url), members=range(5))
    run = runs.run_create(sync, kind="manual", enqueue=False)
    old = timezone.now() - timedelta(days=django_settings.SYNC_BODY_RETENTION_DAYS + 1)
    fields = dict(
        attempt=1, max_attempts=8, outcome="success", request_method="POST", request_url="u"
    )
    SyncExchange.objects.create(
        run=run, sequence=1, step="add_users", started_at=old, request_body="old", **fields
    )
    SyncExchange.objects.create(run=run, sequence=2, step="add_users", request_body="new", **fields)
    change_cohort(sync.cohort, add=[7])  # snapshot 2
    change_cohort(sync.cohort, add=[8])  # snapshot 3
    CohortSync.objects.filter(pk=sync.pk).update(delivered_snapshot=2)

    done = housekeeping.run_housekeeping()

    assert done["exchange_bodies"] == 1
    pruned, kept = SyncExchange.objects.order_by("sequence")
    assert (pruned.request_body, pruned.bodies_pruned, pruned.request_method) == ("", True, "POST")
    assert (kept.request_body, kept.bodies_pruned) == ("new", False)
    # The sync still needs the changes after snapshot 2.
    assert set(CohortChange.objects.values_list("snapshot", flat=True)) == {3}
    CohortSync.objects.filter(pk=sync.pk).update(delivered_snapshot=3)
    housekeeping.prune_cohort_changes()
    assert not CohortChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_housekeeping_empties_the_planned_users_of_old_runs_but_the_latest(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url), members=range(3))
    old = timezone.now() - timedelta(days=django_settings.SYNC_BODY_RETENTION_DAYS + 1)
    planned = []
    for _ in range(2):
        run = runs.run_create(sync, kind="manual", enqueue=False)
        planning.plan_run(run.pk, engine.compile_version(run.version))
        SyncRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=old)
        planned.append(SyncBatch.objects.get(run=run))

    assert housekeeping.prune_batch_users() == 1

    pruned, latest = (SyncBatch.objects.get(pk=batch.pk) for batch in planned)
    assert pruned.planned_users() == [] and pruned.size == 3
    users = [planned.user["user_id"] for planned in latest.planned_users()]
    assert users == sorted(cohort_keys(sync.cohort))
