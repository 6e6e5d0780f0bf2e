"""The portal served as production serves it, for the benches and the load script.

`portal_server(database)` collects the static files, starts gunicorn with the Dockerfile's
command line (`gunicorn portal.wsgi --workers 3`) on a loopback port with `DEBUG=false`
and production settings over plain HTTP, on the given database, and stops it afterwards.
`signed_in(base, email, password)` is an httpx client with a real session, signed in
through the sign-in form.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
STARTUP_TIMEOUT = 60.0


def gunicorn_arguments() -> list[str]:
    """The arguments of the Dockerfile's gunicorn command, minus the bind address."""
    match = re.search(r'^CMD \["gunicorn", (.*)\]$', DOCKERFILE.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit("the Dockerfile's CMD is not gunicorn any more; update bench/server.py")
    arguments = [part.strip().strip('"') for part in match.group(1).split(",")]
    kept: list[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
            continue
        if argument in ("--bind", "--access-logfile"):
            skip = True
            continue
        kept.append(argument)
    return kept


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def production_environment(database_url: str) -> dict[str, str]:
    """DEBUG=false with the settings production requires, over plain HTTP on loopback.

    The encryption keys are the ones of the calling process, so that the encrypted values
    it wrote (test settings) read the same in the server; the secret key is the server's
    own (production refuses the development one), and sessions start in the server.
    """
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DEBUG="false",
        OUTBOUND_ALLOW_PRIVATE_NETWORKS="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        EMAIL_URL="dummy:",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        DB_CONN_MAX_AGE="60",
        LOG_LEVEL="WARNING",
    )
    return env


def database_url() -> str:
    """The URL of the database the calling process uses (a bench's test database)."""
    from django.db import connection

    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return (
        f"postgres://{database['USER']}{password}@{database['HOST']}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


@contextlib.contextmanager
def portal_server(workers: int | None = None) -> Iterator[str]:
    """gunicorn as the Dockerfile runs it, on the calling process's database; its URL."""
    with tempfile.TemporaryDirectory() as static_root:
        env = production_environment(database_url())
        env["STATIC_ROOT"] = static_root
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        port = free_port()
        arguments = gunicorn_arguments()
        if workers is not None:
            index = arguments.index("--workers")
            arguments[index + 1] = str(workers)
        command = [sys.executable, "-m", "gunicorn", *arguments, "--bind", f"127.0.0.1:{port}"]
        command += ["--log-level", "warning"]
        print(f"  serving: {shlex.join(command[2:])}", file=sys.stderr, flush=True)
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base, process)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_until_ready(base: str, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer /readyz within {STARTUP_TIMEOUT:.0f} s")


@contextlib.contextmanager
def signed_in(base: str, email: str, password: str) -> Iterator[httpx.Client]:
    """A client with a real session cookie, signed in through the sign-in form, that
    sends the CSRF token with every unsafe request as the editor's script does."""
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/signin/").raise_for_status()
        token = client.cookies["csrftoken"]
        answer = client.post(
            "/signin/", data={"login": email, "password": password, "csrfmiddlewaretoken": token}
        )
        if answer.status_code != 302:
            raise SystemExit(f"signing in as {email} failed: {answer.status_code}")
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        yield client
