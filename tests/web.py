"""A real web process (gunicorn) on the test database, for tests that need the portal as
it runs in production: another process, its own settings from the environment."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.partners import closed_port
from tests.waiting import wait_until

REPOSITORY = Path(__file__).resolve().parents[1]


def database_url_for_tests() -> str:
    from django.db import connection

    database = connection.settings_dict
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@contextlib.contextmanager
def web_process(log_path: Path, *, workers: int = 1, **environment: str) -> Iterator[str]:
    """gunicorn serving the portal on a free loopback port, on the test database (commit
    what it should see: `transactional_db`); yields its base URL. `environment` overrides
    variables (REDIS_URL, ...). Up when /healthz answers, whatever it says."""
    port = closed_port()
    env = dict(os.environ, DATABASE_URL=database_url_for_tests(), **environment)
    with log_path.open("w") as log:
        web = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "portal.wsgi:application"),
                *("--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "120"),
            ],
            cwd=REPOSITORY,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/healthz", timeout=5)
                return True
            return False

        try:
            wait_until(answers, 60, f"the web process never answered: {log_path}")
            yield url
        finally:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=20)
