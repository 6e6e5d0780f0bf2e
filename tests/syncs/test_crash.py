"""A worker killed with `kill -9` at random moments of a 50,000-member sync loses nothing.

Each round changes the cohort (or asks for a full resync), starts a run, kills the worker
running it at a random moment — while it plans, while it makes sure of the list, between
and during batches — and lets the sweep hand the run to a new worker, which resumes it
from its plan. After every round:

- the run succeeded and the partner's list equals the cohort exactly;
- the delivered state equals the cohort, with exact counts;
- no batch the dead worker had settled was sent again, and every batch went out only
  with the Idempotency-Key it was planned with.
"""

from __future__ import annotations

import random
import time

import pytest

from portal.jobs import sweep_lapsed_jobs
from syncs import runs
from syncs.models import DeliveredMember, SyncBatch, SyncRun
from tests.partners import PartnerLog
from tests.syncs.conftest import (
    change_cohort,
    cohort_keys,
    list_manifest,
    make_sync,
    wait_for_run,
)
from tests.waiting import wait_until
from tests.workers import WORKER_LEASE_SECONDS

pytestmark = pytest.mark.worker

MEMBERS = 50_000
BATCH_SIZE = 500
KILLS = 10
MAX_ROUNDS = 16


def kill_at_random_moment(worker, run: SyncRun, rng: random.Random) -> tuple[str, bool]:
    """Kill the worker once it is on the run: soon after it took it (planning, the list)
    or once a random number of batches are settled. Returns where, and whether the run
    was still unfinished when the worker died."""
    wait_until(
        lambda: SyncRun.objects.filter(pk=run.pk).exclude(status="queued").exists(),
        30,
        "no worker took the run",
        every=0.01,
    )
    if rng.random() < 0.3:
        pause = rng.uniform(0, 0.4)
        time.sleep(pause)  # a random moment, not a wait for something to happen
        where = f"{pause:.2f} s after the claim"
    else:

        def planned() -> SyncRun | None:
            current = SyncRun.objects.get(pk=run.pk)
            return current if current.planned or current.is_finished else None

        current = wait_until(planned, 30, "the run was never planned", every=0.01)
        target = rng.randint(1, max(1, current.batches_total - 1))
        wait_until(
            lambda: (
                SyncRun.objects.filter(pk=run.pk, batches_done__gte=target).exists()
                or SyncRun.objects.get(pk=run.pk).is_finished
            ),
            60,
            "the run made no progress",
            every=0.005,
        )
        where = f"after batch {target} of {current.batches_total}"
    worker.kill()
    return where, not SyncRun.objects.get(pk=run.pk).is_finished


def resumed(run: SyncRun) -> bool:
    """Beat's sweep (every few seconds in production) has queued the run again and a
    worker took it, or it ended."""
    sweep_lapsed_jobs()
    current = SyncRun.objects.get(pk=run.pk)
    return current.is_finished or (current.status == "running" and current.crashes > 0)


def test_killed_workers_leave_the_partner_equal_to_the_cohort(cast, partner, start_worker):
    rng = random.Random(20261202)
    log = PartnerLog(partner)
    sync = make_sync(
        cast, list_manifest(partner.url, batch_size=BATCH_SIZE), members=range(MEMBERS)
    )
    partner.state.set_faults(delay_ms=15)  # a partner that takes a moment to answer
    next_member = MEMBERS
    worker = start_worker()
    mid_run_kills: list[str] = []

    for round_number in range(MAX_ROUNDS):
        if len(mid_run_kills) >= KILLS:
            break
        kind = "manual"
        if round_number:
            current = sorted(cohort_keys(sync.cohort))
            leaving = [int(key.split("-")[1]) for key in rng.sample(current, 4_000)]
            change_cohort(sync.cohort, add=range(next_member, next_member + 5_000), remove=leaving)
            next_member += 5_000
            kind = "full_resync" if round_number % 3 == 0 else "manual"
        run = runs.run_create(sync, kind=kind)

        where, mid_run = kill_at_random_moment(worker, run, rng)
        killed_at = time.time()
        settled_before = set(
            SyncBatch.objects.filter(run=run)
            .exclude(status="pending")
            .values_list("batch_id", flat=True)
        )
        worker = start_worker()  # the next one, idle until the run comes back

        if mid_run:
            wait_until(
                lambda run=run: resumed(run),
                6 * WORKER_LEASE_SECONDS,
                "the killed run was never resumed",
            )
        run = wait_for_run(run, 120)

        sync.refresh_from_db()
        assert run.status == "succeeded", (where, run.summary)
        members = cohort_keys(sync.cohort)
        assert partner.state.members_of(sync.list_id) == members, where
        delivered = set(
            DeliveredMember.objects.filter(sync=sync).values_list("member_key", flat=True)
        )
        assert delivered == {f"u:{user}" for user in members}, where
        assert sync.delivered_count == len(members) == sync.cohort.member_count
        assert sync.delivered_snapshot == sync.cohort.snapshot
        planned = set(run.batches.values_list("batch_id", flat=True))
        assert run.batches.filter(status="delivered").count() == run.batches_total == len(planned)
        assert not settled_before & log.keys_since(killed_at), (
            f"{where}: a batch settled before the kill was sent again"
        )
        assert log.keys_since(0) >= planned
        if mid_run:
            assert run.crashes == 1
            mid_run_kills.append(f"{run.kind} {where}")

    print("kills:", *mid_run_kills, sep="\n  ")
    assert len(mid_run_kills) >= KILLS, mid_run_kills


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_workers_keep_dying_is_failed_honestly(cast, partner):
    from datetime import timedelta

    from django.utils import timezone

    sync = make_sync(cast, list_manifest(partner.url), members=range(3))
    run = runs.run_create(sync, kind="manual", enqueue=False)

    for crash in (1, 2, 3, 4):
        assert SyncRun.claim(run.pk, from_statuses=("queued", "running"))
        SyncRun.objects.filter(pk=run.pk).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert sweep_lapsed_jobs() == {"syncs.SyncRun": 1}
        run.refresh_from_db()
        if crash < 4:
            assert (run.status, run.crashes) == ("queued", crash)

    assert (run.status, run.crashes) == ("failed", 4)
    assert run.summary.startswith("The worker running this sync stopped 4 times")
    assert run.finished_at is not None
    # The sync may run again.
    assert runs.run_create(sync, kind="manual", enqueue=False).status == "queued"
