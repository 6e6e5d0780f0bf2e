"""With Redis (the broker and the cache) unreachable, a real web process answers 503 to
starting work and leaves no job queued that no worker will ever take; signing in keeps
working, because it depends on the database alone."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from portal import actions as portal_actions
from portal.jobs import QUEUE_UNAVAILABLE_MESSAGE
from portal.models import CohortImport
from syncengine.models import TestRun
from tests.conftest import PASSWORD
from tests.partners import closed_port
from tests.syncengine.conftest import BASE, list_manifest, make_draft, save_settings
from tests.web import web_process


@pytest.fixture
def web_without_redis(transactional_db, tmp_path) -> Iterator[str]:
    """The portal in gunicorn with REDIS_URL pointing at a closed loopback port."""
    dead_redis = f"redis://127.0.0.1:{closed_port()}/8"
    with web_process(tmp_path / "web.log", REDIS_URL=dead_redis) as url:
        # The health check itself says the broker is down.
        assert httpx.get(f"{url}/readyz", timeout=10).json()["broker"] != "ok"
        yield url


def signed_in(url: str, email: str, password: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=30)
    form = browser.get("/signin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    browser.post(
        "/signin/",
        data={"email": email, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/signin/"},
    )
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

    from portal.models import RateLimitCounter

    assert RateLimitCounter.objects.filter(key__startswith="signin-").exists()
