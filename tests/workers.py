"""Celery workers in processes of their own, on the test database and the test Redis: what
`kill -9` tests kill (loaded by tests/conftest.py, so every test may ask for them).

- `start_worker(beat=False, **env)`: a new `celery worker -P solo` process (it waits until
  the worker is ready); with `beat`, beat runs inside it (`-B`), sweeping lapsed jobs every
  `JOB_SWEEP_SECONDS` as production's beat does. Every worker started is killed when the
  test ends.
- `WorkerProcess.kill()`: `kill -9` of the worker's whole process group.

Workers under test renew their leases every 2/3 s (`WORKER_LEASE_SECONDS`); a dead one's
lapse within 2 s. `JOB_LEASE_SECONDS=...` in `env` changes that.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_until

WORKER_LEASE_SECONDS = 2
WORKER_READY_TIMEOUT = 60.0
REPOSITORY = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """`celery worker -P solo` in its own process group, on the test database."""

    def __init__(self, popen: subprocess.Popen, log_path: Path):
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return int(self.popen.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> WorkerProcess:
        wait_until(
            lambda: "ready." in self.log() or self.popen.poll() is not None,
            WORKER_READY_TIMEOUT,
            lambda: f"the worker did not start:\n{self.log()[-3000:]}",
            every=0.1,
        )
        assert self.popen.poll() is None, self.log()[-3000:]
        return self

    def kill(self) -> None:
        """kill -9 of the whole worker: no message is acknowledged, nothing is cleaned up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


def worker_env(**extra_env: str) -> dict[str, str]:
    """The environment of a worker process: this one's, on the test database (as the
    test process sees it), with the short lease of tests."""
    from django.db import connection as db

    database = db.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        "JOB_LEASE_SECONDS": str(WORKER_LEASE_SECONDS),
        **extra_env,
    }


@pytest.fixture
def start_worker(transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """`start_worker(beat=False, **env)`: a new worker process (waits until it is ready);
    every one started is killed when the test ends."""
    from portal.celery import app

    app.control.purge()
    started: list[WorkerProcess] = []
    numbers = itertools.count(1)

    def start(*, beat: bool = False, **extra_env: str) -> WorkerProcess:
        number = next(numbers)
        env = worker_env(**extra_env)
        embedded_beat = ("-B", "-s", str(tmp_path / f"beat-{number}")) if beat else ()
        log_path = tmp_path / f"worker-{number}.log"
        popen = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "portal", "worker", "-P", "solo"),
                *("--without-mingle", "--without-gossip", "--without-heartbeat"),
                *("-l", "INFO", "-n", f"engine-{os.getpid()}-{number}@%h", *embedded_beat),
            ],
            cwd=REPOSITORY,
            env=env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = WorkerProcess(popen, log_path)
        started.append(worker)
        return worker.wait_ready()

    yield start
    for worker in started:
        worker.kill()
