"""Work whose worker dies: closed at once when Celery hands its message out again, or by
housekeeping when no worker can have been on it for longer than a task may last.

The first test kills a real prefork worker's pool process in the middle of a test run.
"""

from __future__ import annotations

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

from integrations.models import ConformanceRun
from integrations.tasks import close_abandoned_conformance, conformance_run_execute
from portal import actions as portal_actions
from portal.lost_work import TASK_LIFETIME
from portal.models import CohortImport
from portal.tasks import cohort_import_run, housekeeping
from syncengine import actions, testruns
from syncengine.models import RUN_STALE_AFTER, TestRun
from tests.syncengine.conftest import list_manifest, make_draft, save_settings

REPOSITORY = Path(__file__).resolve().parents[2]
WORKER_LOST = "The worker running this test stopped before it finished. Run it again."


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


@pytest.mark.django_db
def test_a_late_result_does_not_reopen_a_run_closed_as_abandoned(cast, silent_partner):
    draft = make_draft(cast, list_manifest(silent_partner[0]))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    TestRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now())
    assert testruns.close_if_abandoned(run.pk, worker_lost=True)

    testruns._finish(run, "passed", "Passed: everything.", ())

    run.refresh_from_db()
    assert (run.status, run.summary) == ("error", WORKER_LOST)


@pytest.mark.django_db
def test_housekeeping_closes_work_no_worker_can_still_be_on(cast, silent_partner):
    draft = make_draft(cast, list_manifest(silent_partner[0]))
    save_settings(cast, draft)
    quiet = timezone.now() - RUN_STALE_AFTER - timedelta(minutes=1)
    stale_run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    TestRun.objects.filter(pk=stale_run.pk).update(status="running", heartbeat_at=quiet)
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Lost"
    )
    long_ago = timezone.now() - TASK_LIFETIME - timedelta(minutes=1)
    lost_import = CohortImport.objects.create(
        cohort=cohort, status="running", created_at=long_ago, started_at=long_ago
    )
    young_import = CohortImport.objects.create(
        cohort=cohort, status="running", started_at=timezone.now()
    )

    housekeeping()

    stale_run.refresh_from_db()
    assert stale_run.status == "error"
    assert "stopped before it finished" in stale_run.summary
    lost_import.refresh_from_db()
    assert lost_import.status == "failed"
    assert lost_import.errors[0]["message"].startswith("the worker loading this file stopped")
    young_import.refresh_from_db()
    assert young_import.status == "running"


@pytest.mark.django_db
def test_a_redelivered_import_message_fails_the_import_its_dead_worker_left(cast):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Redelivered"
    )
    job = CohortImport.objects.create(cohort=cohort, status="running", started_at=timezone.now())

    cohort_import_run(job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert "upload it again" in job.errors[0]["message"]


@pytest.mark.django_db
def test_a_conformance_run_left_by_a_dead_worker_gives_the_reviewer_the_checks_back(
    cast, submitted_version
):
    from integrations.reviewer_runs import conformance_start
    from portal.errors import ActionError

    run = ConformanceRun.objects.create(
        version=submitted_version, status="running", started_at=timezone.now()
    )
    with pytest.raises(ActionError, match="already running"):
        conformance_start(acting_user=cast.rita, version=submitted_version)

    conformance_run_execute(run.pk)  # the message handed out again after the worker died

    run.refresh_from_db()
    assert run.status == "error" and "stopped before they finished" in run.error
    # One that went quiet for longer than any task may last is closed by the next start.
    stuck = ConformanceRun.objects.create(
        version=submitted_version,
        status="running",
        started_at=timezone.now() - TASK_LIFETIME - timedelta(minutes=1),
    )
    assert close_abandoned_conformance(stuck.pk) is True
    assert not close_abandoned_conformance(run.pk)
