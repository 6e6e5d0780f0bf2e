"""Test runs whose worker dies: closed at once when Celery hands their message out again,
or by the sweep once the lease the worker renewed has lapsed.

The first tests kill a real prefork worker (its pool process, then the whole worker with
`kill -9`) in the middle of a test run. The life cycle itself (claim, lease, finish, the
sweep) has its own tests in tests/portal/test_jobs.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.jobs import sweep_lapsed_jobs
from syncengine import actions
from syncengine.models import EXCHANGE_NO_ANSWER, TestRun
from tests.syncengine.conftest import list_manifest, make_draft, save_settings
from tests.waiting import wait_until
from tests.workers import worker_env

REPOSITORY = Path(__file__).resolve().parents[2]
WORKER_LOST = "The worker running this test stopped before it finished. Run it again."
# The worker under test renews its leases every second; a dead one's lapse in three.
WORKER_LEASE_SECONDS = 3


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: the command may hold spaces, so split after ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def assert_recorded_without_answer(run: TestRun) -> None:
    """The call the partner took and never answered is in the record, as one without an
    answer: written before it was sent, closed as *no answer* with the run."""
    exchange = run.exchanges.get()
    assert (exchange.step, exchange.outcome, exchange.response_status) == (
        "create_list",
        EXCHANGE_NO_ANSWER,
        None,
    )
    assert exchange.request_method == "POST" and exchange.batch_id
    assert run.exchange_count == 1


@pytest.fixture
def prefork_worker(transactional_db, tmp_path) -> Iterator[subprocess.Popen]:
    """`celery worker -P prefork -c 1` in its own process, on the test database."""
    from portal.celery import app

    app.control.purge()
    env = worker_env(JOB_LEASE_SECONDS=str(WORKER_LEASE_SECONDS))
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "portal", "worker", "-P", "prefork", "-c", "1"),
            *("--without-mingle", "--without-gossip", "-n", f"lost-{os.getpid()}@%h"),
        ],
        cwd=REPOSITORY,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        with contextlib.suppress(ProcessLookupError):  # a test may have killed it already
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        log.close()


@pytest.mark.worker
def test_a_run_whose_worker_is_killed_is_closed_and_a_new_one_can_start(
    cast, prefork_worker, silent_partner
):
    draft = make_draft(cast, list_manifest(silent_partner.url))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    wait_until(lambda: silent_partner.accepted, 60, "the worker never called the partner")
    pool = wait_until(lambda: children_of(prefork_worker.pid), 10, "no pool process")

    for pid in pool:
        os.kill(pid, signal.SIGKILL)

    # Celery hands the message out again; the task finds the run still running and closes it.
    closed = wait_until(
        lambda: TestRun.objects.filter(pk=run.pk, status="error").first(),
        60,
        "the run was left running",
    )
    assert closed.summary == WORKER_LOST
    assert all(step["status"] != "running" for step in closed.steps)
    assert silent_partner.accepted == 1, "the partner call must not be replayed"
    assert_recorded_without_answer(closed)
    assert actions.test_run_start(acting_user=cast.alice, integration=draft).status == "queued"


@pytest.mark.worker
def test_a_run_whose_whole_worker_is_killed_is_closed_once_its_lease_lapses(
    cast, prefork_worker, silent_partner
):
    draft = make_draft(cast, list_manifest(silent_partner.url))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    wait_until(lambda: silent_partner.accepted, 60, "the worker never called the partner")
    first = TestRun.objects.get(pk=run.pk).lease_expires_at
    # The worker renews its lease while the partner keeps it waiting.
    wait_until(
        lambda: TestRun.objects.get(pk=run.pk).lease_expires_at > first,
        3 * WORKER_LEASE_SECONDS,
        "the lease was never renewed",
    )
    assert not sweep_lapsed_jobs(), "a run whose worker is alive must be left alone"

    os.killpg(prefork_worker.pid, signal.SIGKILL)  # kill -9: no message comes back soon
    prefork_worker.wait(timeout=10)

    def swept() -> TestRun | None:
        sweep_lapsed_jobs()
        return TestRun.objects.filter(pk=run.pk, status="error").first()

    closed = wait_until(swept, 4 * WORKER_LEASE_SECONDS, "the run was left running")
    assert closed.summary == WORKER_LOST
    assert closed.lease_expires_at is None and closed.finished_at is not None
    assert all(step["status"] != "running" for step in closed.steps)
    assert silent_partner.accepted == 1, "the partner call must not be replayed"
    assert_recorded_without_answer(closed)


@pytest.mark.django_db
def test_a_late_result_does_not_reopen_a_run_closed_as_abandoned(cast, silent_partner):
    draft = make_draft(cast, list_manifest(silent_partner.url))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    token = TestRun.claim(run.pk)
    assert token
    assert TestRun.close_if_abandoned(run.pk, worker_lost=True)

    assert not TestRun.finish(run.pk, token, status="passed", summary="Passed: everything.")
    assert not TestRun.renew_lease(run.pk, token)

    run.refresh_from_db()
    assert (run.status, run.summary) == ("error", WORKER_LOST)
