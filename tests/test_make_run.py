"""`make run` on embedded defaults: SQLite, the embedded broker, a worker, beat and the demo
partner, started the way the Makefile starts them, then used and stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> httpx.Response:
    def answer() -> httpx.Response | None:
        assert process.poll() is None, "the stack exited early"
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            return None  # not listening yet

    return wait_until(answer, timeout, f"{url} did not come up", every=0.3)


@pytest.mark.worker
def test_make_run_serves_the_portal_on_embedded_defaults(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DB_CONN_MAX_AGE"}
    }
    port, partner_port = free_port(), free_port()
    env.update(
        DEBUG="true",
        OUTBOUND_ALLOW_PRIVATE_NETWORKS="true",
        VAR_DIR=str(tmp_path),
        FAST_PASSWORD_HASHING="true",
        MEDIA_ROOT=str(tmp_path / "media"),
        # The demo drafts point at the demo partner this stack serves.
        DEMO_PARTNER_URL=f"http://127.0.0.1:{partner_port}",
    )
    manage = [sys.executable, "manage.py"]
    for step in (["migrate", "--noinput"], ["demo_data"]):
        subprocess.run(
            [*manage, *step], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
        )
    stack = subprocess.Popen(
        [*manage, "rundev", "--port", str(port), "--partner-port", str(partner_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_until_up(f"{base}/readyz", stack)
        assert health.json() == {"status": "ok", "database": "ok", "broker": "ok"}
        assert wait_until_up(f"http://127.0.0.1:{partner_port}/", stack).status_code == 200

        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as browser:
            browser.get("/signin/")
            signed_in = browser.post(
                "/signin/",
                data={
                    "login": "alice@acme.test",
                    "password": "demo-pass-2026",
                    "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                },
            )
            assert "Acme Audiences" in signed_in.text
            assert str(signed_in.url).endswith("/dashboard/")
            # The embedded broker carries a real task to the worker: a CSV upload.
            project = re.search(r'href="/projects/(\d+)/"', signed_in.text).group(1)
            page = browser.get(f"/projects/{project}/")
            cohort = re.search(r'href="/cohorts/(\w+)/">Power users', page.text).group(1)
            browser.post(
                f"/cohorts/{cohort}/upload",
                data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                files={"file": ("m.csv", b"user_id\nsmoke-1\nsmoke-2\n", "text/csv")},
            )

            def loaded() -> str | None:
                text = browser.get(f"/cohorts/{cohort}/").text
                return text if "2 members loaded" in text else None

            text = wait_until(loaded, 60, "the worker never loaded the upload", every=0.5)
            assert "smoke-1" in text
            # A full test of the demo partner's list draft on the worker, recorded in
            # SQLite: each request written down as it went out, then completed.
            drafts = browser.get("/api/v1/integrations/").json()["results"]
            lists = next(d for d in drafts if d["display_name"] == "Demo Partner Lists")
            started = browser.post(
                f"/api/v1/integrations/{lists['id']}/test-runs",
                json={"kind": "full"},
                headers={"X-CSRFToken": browser.cookies["csrftoken"]},
            )
            assert started.status_code == 202, started.text
            run_url = f"/api/v1/test-runs/{started.json()['id']}"

            def ended() -> dict | None:
                run = browser.get(run_url).json()
                return run if run["status"] not in ("queued", "running") else None

            run = wait_until(ended, 60, "the worker never finished the test", every=0.5)
            assert run["status"] == "passed", run
            exchanges = browser.get(f"{run_url}/exchanges").json()["results"]
            assert [x["step"] for x in exchanges] == ["create_list", "add_users", "remove_users"]
            assert all(x["outcome"] == "success" for x in exchanges), exchanges
            assert all("Idempotency-Key" in dict(x["request_headers"]) for x in exchanges)
            # A page alice may not open: an expected 403, one line in the terminal.
            assert browser.get("/platform/orgs/").status_code == 403

        # The demo reviewer signs in with the code `demo_totp` prints, as the banner says.
        with httpx.Client(base_url=base, follow_redirects=True, timeout=10) as rita:
            rita.get("/signin/")
            asked = rita.post(
                "/signin/",
                data={
                    "login": "rita@platform.test",
                    "password": "demo-pass-2026",
                    "csrfmiddlewaretoken": rita.cookies["csrftoken"],
                },
            )
            assert str(asked.url).endswith("/accounts/2fa/authenticate/")
            code = subprocess.run(
                [*manage, "demo_totp", "rita@platform.test"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()
            queue = rita.post(
                "/accounts/2fa/authenticate/",
                data={"code": code, "csrfmiddlewaretoken": rita.cookies["csrftoken"]},
            )
            assert str(queue.url).endswith("/review/"), queue.text
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        output, _ = stack.communicate(timeout=30)
    assert stack.returncode == 0, output
    assert f"Cohort Portal      http://127.0.0.1:{port}/" in output
    assert "alice@acme.test" in output
    assert "manage.py demo_totp rita@platform.test" in output
    assert "Forbidden (Permission denied): /platform/orgs/" in output
    assert "Traceback" not in output, output
