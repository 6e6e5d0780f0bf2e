"""Work whose worker dies: closed at once when Celery hands its message out again, or by
the sweep once the lease the worker renewed has lapsed.

The first tests kill a real prefork worker (its pool process, then the whole worker with
`kill -9`) in the middle of a test run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from portal import actions as portal_actions
from portal.jobs import queue_patience, sweep_lapsed_jobs
from portal.models import CohortImport
from portal.tasks import cohort_import_run
from reviews.models import ConformanceRun
from reviews.tasks import conformance_run_execute
from syncengine import actions
from syncengine.models import TestRun
from tests.syncengine.conftest import list_manifest, make_draft, save_settings

REPOSITORY = Path(__file__).resolve().parents[2]
WORKER_LOST = "The worker running this test stopped before it finished. Run it again."
# The worker under test renews its leases every second; a dead one's lapse in three.
WORKER_LEASE_SECONDS = 3


@pytest.fixture
def silent_partner() -> Iterator[tuple[str, list[float]]]:
    """A loopback endpoint that accepts connections and never answers: a run against it
    stays in flight until its worker goes."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    hits: list[float] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            hits.append(time.monotonic())

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", hits
    server.close()
    for conn in accepted:
        conn.close()


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


def wait_until(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


@pytest.fixture
def prefork_worker(transactional_db, tmp_path) -> Iterator[subprocess.Popen]:
    """`celery worker -P prefork -c 1` in its own process, on the test database."""
    from portal.celery import app

    app.control.purge()
    database = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=(
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        JOB_LEASE_SECONDS=str(WORKER_LEASE_SECONDS),
    )
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
    url, hits = silent_partner
    draft = make_draft(cast, list_manifest(url))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    wait_until(lambda: hits, 60, "the worker never called the partner")
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
    assert len(hits) == 1, "the partner call must not be replayed"
    assert actions.test_run_start(acting_user=cast.alice, integration=draft).status == "queued"


@pytest.mark.worker
def test_a_run_whose_whole_worker_is_killed_is_closed_once_its_lease_lapses(
    cast, prefork_worker, silent_partner
):
    url, hits = silent_partner
    draft = make_draft(cast, list_manifest(url))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    wait_until(lambda: hits, 60, "the worker never called the partner")
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
    assert len(hits) == 1, "the partner call must not be replayed"


def claimed(run) -> str:
    token = type(run).claim(run.pk)
    assert token
    return token


def lapse(run) -> None:
    type(run).objects.filter(pk=run.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_a_late_result_does_not_reopen_a_run_closed_as_abandoned(cast, silent_partner):
    draft = make_draft(cast, list_manifest(silent_partner[0]))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    token = claimed(run)
    assert TestRun.close_if_abandoned(run.pk, worker_lost=True)

    assert not TestRun.finish(run.pk, token, status="passed", summary="Passed: everything.")
    assert not TestRun.renew_lease(run.pk, token)

    run.refresh_from_db()
    assert (run.status, run.summary) == ("error", WORKER_LOST)


@pytest.mark.django_db
def test_the_sweep_closes_work_whose_lease_lapsed_and_leaves_the_rest(cast, silent_partner):
    draft = make_draft(cast, list_manifest(silent_partner[0]))
    save_settings(cast, draft)
    stale_run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    claimed(stale_run)
    lapse(stale_run)
    # A second run of the same draft would close the first on start: made directly.
    never_taken = TestRun.objects.create(
        integration=draft,
        manifest=stale_run.manifest,
        fingerprint=stale_run.fingerprint,
        kind="full",
        created_at=timezone.now() - queue_patience() - timedelta(seconds=1),
    )
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Lost"
    )
    lost_import = CohortImport.objects.create(cohort=cohort)
    claimed(lost_import)
    lapse(lost_import)
    live_import = CohortImport.objects.create(cohort=cohort)
    claimed(live_import)

    assert sweep_lapsed_jobs() == {"syncengine.TestRun": 2, "portal.CohortImport": 1}

    stale_run.refresh_from_db()
    assert stale_run.status == "error"
    assert "stopped before it finished" in stale_run.summary
    never_taken.refresh_from_db()
    assert never_taken.summary == "No worker picked this test up. Run it again."
    lost_import.refresh_from_db()
    assert lost_import.status == "failed"
    assert lost_import.errors[0]["message"].startswith("the worker loading this file stopped")
    live_import.refresh_from_db()
    assert live_import.status == "running"


@pytest.mark.django_db
def test_a_redelivered_import_message_fails_the_import_its_dead_worker_left(cast):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Redelivered"
    )
    job = CohortImport.objects.create(cohort=cohort)
    claimed(job)

    cohort_import_run(job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert "upload it again" in job.errors[0]["message"]


@pytest.mark.django_db
def test_a_conformance_run_left_by_a_dead_worker_gives_the_reviewer_the_checks_back(
    cast, submitted_version
):
    from portal.errors import ActionError
    from reviews.checks import conformance_start

    run = ConformanceRun.objects.create(version=submitted_version)
    claimed(run)
    with pytest.raises(ActionError, match="already running"):
        conformance_start(acting_user=cast.rita, version=submitted_version)

    conformance_run_execute(run.pk)  # the message handed out again after the worker died

    run.refresh_from_db()
    assert run.status == "error" and "stopped before they finished" in run.error
    # One whose lease lapsed is closed by the next start.
    stuck = ConformanceRun.objects.create(version=submitted_version)
    claimed(stuck)
    lapse(stuck)
    assert ConformanceRun.close_if_abandoned(stuck.pk) is True
    assert not ConformanceRun.close_if_abandoned(run.pk)
