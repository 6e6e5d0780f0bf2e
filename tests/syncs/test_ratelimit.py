"""A destination's `requests_per_second` holds for all workers together (Redis)."""

from __future__ import annotations

import threading
import time

import pytest

from syncs import ratelimit, runs
from syncs.models import SyncRun
from tests.syncs.conftest import (
    another_sync,
    cohort_keys,
    list_manifest,
    make_sync,
    wait_for_run,
)

RATE = 5.0


class ArrivalLog:
    """When each API request reached the partner."""

    def __init__(self, partner):
        self.times: list[float] = []
        self.lock = threading.Lock()
        original = partner.state.record

        def record(entry):
            with self.lock:
                self.times.append(time.monotonic())
            original(entry)

        partner.state.record = record


def busiest_second(times: list[float]) -> int:
    """The most requests that arrived within any one second."""
    times = sorted(times)
    return max(
        sum(1 for later in times[index:] if later - start < 1.0)
        for index, start in enumerate(times)
    )


@pytest.mark.worker
def test_two_workers_share_one_destinations_rate(cast, partner, start_worker):
    arrivals = ArrivalLog(partner)
    manifest = list_manifest(partner.url, batch_size=5, delivery={"requests_per_second": RATE})
    first = make_sync(cast, manifest, members=range(60))
    second = another_sync(cast, first.connection, members=range(1000, 1060))
    workers = [start_worker(), start_worker()]

    started = time.monotonic()
    one = runs.run_create(first, kind="manual")
    two = runs.run_create(second, kind="manual")
    one, two = wait_for_run(one, 90), wait_for_run(two, 90)
    elapsed = time.monotonic() - started

    assert (one.status, two.status) == ("succeeded", "succeeded")
    for sync in (first, second):
        sync.refresh_from_db()
        assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)
    # Both workers sent at the same time...
    assert all("sync_batch" in worker.log() for worker in workers)
    assert one.started_at < two.finished_at and two.started_at < one.finished_at
    # ...and together no faster than the destination allows.
    assert len(arrivals.times) == 26  # 2 × (create_list + 12 batches)
    assert busiest_second(arrivals.times) <= RATE + 1
    span = max(arrivals.times) - min(arrivals.times)
    assert span >= (len(arrivals.times) - 1) / RATE * 0.9
    assert elapsed < 30


@pytest.mark.django_db
def test_a_slot_further_than_the_longest_wait_is_not_taken():
    key = f"test:{time.monotonic_ns()}"
    waits = [ratelimit.reserve(key, 2.0, max_wait=1.0) for _ in range(3)]

    assert [granted for granted, _ in waits] == [True, True, True]
    assert waits[0][1] == pytest.approx(0.0, abs=0.05)
    assert waits[2][1] == pytest.approx(1.0, abs=0.05)
    granted, wait = ratelimit.reserve(key, 2.0, max_wait=1.0)
    assert not granted and wait == pytest.approx(1.5, abs=0.05)
    throttle = ratelimit.limiter_for(key, 2.0, max_wait=1.0)
    assert throttle is not None
    with pytest.raises(ratelimit.RateLimited):
        throttle()
    assert ratelimit.limiter_for(key, None, max_wait=1.0) is None


@pytest.mark.django_db(transaction=True)
def test_a_rate_limit_wait_defers_the_run_instead_of_sleeping(cast, partner, settings):
    from syncs import engine

    settings.SYNC_MAX_WAIT_SECONDS = 1.5
    manifest = list_manifest(partner.url, batch_size=1, delivery={"requests_per_second": 1})
    sync = make_sync(cast, manifest, members=range(4))
    run = runs.run_create(sync, kind="manual", enqueue=False)

    engine.execute_run(run.pk)

    # create_list took the first slot, the first batch the next one (1 s away); the
    # others' slots were further than 1.5 s, so the run went back to the queue.
    run = SyncRun.objects.get(pk=run.pk)
    assert run.status == "queued" and run.not_before is not None
    assert (run.batches_done, run.batches_total, run.sent) == (1, 4, 1)
    pending = run.batches.filter(status="pending")
    assert pending.count() == 3 and all(b.next_attempt == 1 for b in pending)
