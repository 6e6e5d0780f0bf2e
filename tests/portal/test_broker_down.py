"""With Redis (the broker and the cache) unreachable, a real web process answers 503 to
starting work and leaves no job queued that no worker will ever take; signing in (with a
second factor too) and signing up keep working, because they depend on the database alone
(allauth's rate limits and used codes are in the database cache). A worker whose Redis goes
away in the middle of a test run still ends the run (its lease is in PostgreSQL), and
nothing is left running or queued."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from django.db import connection

from portal import actions as portal_actions
from portal.jobs import QUEUE_UNAVAILABLE_MESSAGE
from portal.models import CohortImport, OutboundMail, User
from syncengine.models import TestRun
from tests.conftest import PASSWORD
from tests.partners import RawServer, closed_port
from tests.signin import lasting_code
from tests.syncengine.conftest import BASE, list_manifest, make_draft, save_settings
from tests.waiting import wait_until
from tests.web import web_process


@pytest.fixture
def web_without_redis(transactional_db, tmp_path) -> Iterator[str]:
    """The portal in gunicorn with REDIS_URL pointing at a closed loopback port."""
    dead_redis = f"redis://127.0.0.1:{closed_port()}/8"
    with web_process(tmp_path / "web.log", REDIS_URL=dead_redis) as url:
        # The health check itself says the broker is down.
        assert httpx.get(f"{url}/readyz", timeout=10).json()["broker"] != "ok"
        yield url


def post_form(browser: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    """Post a page's form as a browser does: with the CSRF token the page carries."""
    page = browser.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return browser.post(
        path,
        data={**data, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{browser.base_url}{path}"},
    )


def signed_in(url: str, email: str, password: str) -> httpx.Client:
    """Signed in through the pages: the password, then the two-factor code if asked."""
    browser = httpx.Client(base_url=url, timeout=30)
    answer = post_form(browser, "/signin/", {"login": email, "password": password})
    if answer.headers.get("location") == "/accounts/2fa/authenticate/":
        code = lasting_code(User.objects.get(email=email))
        post_form(browser, "/accounts/2fa/authenticate/", {"code": code})
    return browser


def test_work_started_without_a_broker_is_a_503_and_nothing_stays_queued(cast, web_without_redis):
    draft = make_draft(cast, list_manifest(BASE))
    save_settings(cast, draft)
    _, token = portal_actions.token_create(acting_user=cast.alice, org=cast.acme, name="t")
    api = httpx.Client(
        base_url=web_without_redis, headers={"Authorization": f"Token {token}"}, timeout=30
    )

    for _ in range(2):  # the second is not a 409: the first left nothing running
        response = api.post(f"/api/v1/integrations/{draft.pk}/test-runs", json={})
        assert response.status_code == 503, response.text
        assert response.json()["error"] == {
            "code": "queue_unavailable",
            "message": QUEUE_UNAVAILABLE_MESSAGE,
        }

    assert not TestRun.objects.active().exists()
    runs = list(TestRun.objects.order_by("pk"))
    assert len(runs) == 2 and {run.status for run in runs} == {"error"}
    assert "never started and nothing was sent" in runs[0].summary

    # A cohort upload from a page: the same 503, the import closed.
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="VIPs"
    )
    browser = signed_in(web_without_redis, "alice@acme.test", PASSWORD)
    page = browser.get(f"/cohorts/{cohort.public_id}/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    upload = browser.post(
        f"/cohorts/{cohort.public_id}/upload",
        data={"csrfmiddlewaretoken": token},
        files={"file": ("members.csv", b"user_id\nu1\n", "text/csv")},
        headers={"Referer": f"{web_without_redis}/cohorts/{cohort.public_id}/"},
    )
    assert upload.status_code != 500
    assert not CohortImport.objects.active().exists()
    assert CohortImport.objects.get().status == "failed"


def test_sign_in_works_without_redis_and_still_counts_failures(cast, web_without_redis):
    for _ in range(2):
        wrong = signed_in(web_without_redis, "bob@globex.test", "not-the-password")
        assert wrong.get("/dashboard/", follow_redirects=False).status_code == 302

    alice = signed_in(web_without_redis, "alice@acme.test", PASSWORD)
    home = alice.get("/dashboard/", follow_redirects=False)
    assert home.status_code == 200 and "Acme Audiences" in home.text

    # The failures were counted in the database cache, where allauth keeps its limits.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM portal_cache WHERE cache_key LIKE %s",
            ["%allauth:rl:allauth.account:login_failed%"],
        )
        assert cursor.fetchone()[0] > 0


def test_two_factor_sign_in_works_without_redis(cast, web_without_redis):
    """The used-code record (a code works once) lives in the database cache too."""
    rita = signed_in(web_without_redis, "rita@platform.test", PASSWORD)
    queue = rita.get("/review/", follow_redirects=False)
    assert queue.status_code == 200, queue.headers.get("location")


def test_sign_up_without_redis_answers_and_keeps_the_mail_for_later(web_without_redis):
    browser = httpx.Client(base_url=web_without_redis, timeout=30)
    answer = post_form(
        browser,
        "/signup/",
        {"email": "dana@initech.test", "password1": PASSWORD, "org_name": "Initech"},
    )
    assert answer.headers["location"] == "/accounts/confirm-email/", answer.text
    mail = OutboundMail.objects.get()
    assert mail.to == ["dana@initech.test"]
    # Not handed to the broker (it is down): left queued for the sweep to send later.
    assert mail.status == "queued"


def relay_to(upstream: tuple[str, int]):
    """A RawServer script that relays each connection to `upstream` until either side
    hangs up: closing the server cuts every connection through it and refuses new ones,
    which is Redis going down for whoever was pointed at it."""

    def relay(conn: socket.socket) -> None:
        with socket.create_connection(upstream, timeout=5) as remote:
            remote.settimeout(None)
            conn.settimeout(None)

            def pump(source: socket.socket, target: socket.socket) -> None:
                with contextlib.suppress(OSError):
                    while data := source.recv(65536):
                        target.sendall(data)
                for side in (source, target):
                    with contextlib.suppress(OSError):
                        side.shutdown(socket.SHUT_RDWR)

            back = threading.Thread(target=pump, args=(remote, conn), daemon=True)
            back.start()
            pump(conn, remote)
            back.join(timeout=5)

    return relay


@pytest.mark.worker
def test_redis_going_down_mid_run_strands_nothing_and_new_work_is_a_503(
    cast, start_worker, start_partner, tmp_path
):
    from django.conf import settings
    from redis.connection import parse_url

    real = parse_url(settings.REDIS_URL)
    relay = RawServer(relay_to((real.get("host", "127.0.0.1"), real.get("port", 6379))))
    redis_url = f"redis://127.0.0.1:{relay.port}/{real.get('db', 0)}"
    partner = start_partner()
    partner.state.set_faults(delay_ms=300)  # a run of 31 requests that lasts a few seconds
    draft = make_draft(cast, list_manifest(partner.url, batch_size=1))
    save_settings(cast, draft, users_count=25)
    _, token = portal_actions.token_create(acting_user=cast.alice, org=cast.acme, name="t")
    start_worker(REDIS_URL=redis_url)
    try:
        with web_process(tmp_path / "web.log", REDIS_URL=redis_url) as url:
            api = httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"})
            started = api.post(f"/api/v1/integrations/{draft.pk}/test-runs", json={}, timeout=30)
            assert started.status_code == 202, started.text
            run = TestRun.objects.get(pk=started.json()["id"])
            wait_until(
                lambda: partner.state.log_entries(), 60, "the worker never called the partner"
            )

            relay.close()  # Redis is gone for the worker and the web process
            assert TestRun.objects.get(pk=run.pk).status == "running"

            ended = wait_until(
                lambda: TestRun.objects.filter(pk=run.pk, status="passed").first(),
                60,
                lambda: f"the run was left {TestRun.objects.get(pk=run.pk).status}",
            )
            assert httpx.get(f"{url}/readyz", timeout=30).json()["broker"] != "ok"
            refused = api.post(f"/api/v1/integrations/{draft.pk}/test-runs", json={}, timeout=30)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "queue_unavailable"
    finally:
        relay.close()

    assert ended.summary.startswith("Passed"), ended.summary
    assert ended.exchanges.filter(outcome="success").count() == ended.exchange_count == 31
    assert not TestRun.objects.active().exists()
    closed = TestRun.objects.exclude(pk=run.pk).get()
    assert closed.status == "error" and "never started and nothing was sent" in closed.summary
