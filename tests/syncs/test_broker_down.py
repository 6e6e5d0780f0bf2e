"""With Redis (the broker) unreachable, a real web process answers 503 to every sync run a
person starts — Sync now, Retry failed, Full resync, and deleting with the partner's list
emptied first — from the pages and the REST API, and leaves no run queued that no worker
will ever take."""

from __future__ import annotations

import re

import httpx

from portal import actions as portal_actions
from portal.jobs import QUEUE_UNAVAILABLE_MESSAGE
from syncs.models import (
    EMPTYING_FAILED_REASON,
    BatchStatus,
    CohortSync,
    DeliveredMember,
    RunKind,
    RunStatus,
    SyncBatch,
    SyncRun,
)
from tests.conftest import PASSWORD
from tests.portal.test_broker_down import signed_in, web_without_redis  # noqa: F401
from tests.syncengine.conftest import BASE
from tests.syncs.conftest import list_manifest, make_sync

UNAVAILABLE = {"code": "queue_unavailable", "message": QUEUE_UNAVAILABLE_MESSAGE}


def failed_run(sync: CohortSync) -> SyncRun:
    """A finished run whose one batch failed, so that Retry failed has something to do."""
    run = SyncRun.objects.create(
        sync=sync, kind=RunKind.MANUAL, status=RunStatus.FAILED, version=sync.connection.version
    )
    SyncBatch.objects.create(
        run=run,
        sequence=1,
        endpoint="add_users",
        batch_id="b1",
        size=1,
        member_keys=["u:user-1"],
        partner_ids=[None],
        user_ids=["user-1"],
        amplitude_ids=[None],
        device_ids=[""],
        emails=[""],
        properties=[{}],
        status=BatchStatus.FAILED,
        failed=1,
    )
    return run


def test_sync_runs_started_without_a_broker_are_a_503_and_nothing_stays_queued(
    cast,
    web_without_redis,  # noqa: F811
):
    sync = make_sync(cast, list_manifest(BASE), members=range(3))
    failed = failed_run(sync)
    _, token = portal_actions.token_create(acting_user=cast.alice, org=cast.acme, name="t")
    api = httpx.Client(
        base_url=web_without_redis, headers={"Authorization": f"Token {token}"}, timeout=30
    )

    for path in ("sync-now", "sync-now", "retry-failed", "full-resync"):
        # A second Sync now is not a 409: the first left nothing queued.
        answer = api.post(f"/api/v1/syncs/{sync.pk}/{path}", json={})
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json()["error"] == UNAVAILABLE

    assert not SyncRun.objects.filter(sync=sync).active().exists()
    started = SyncRun.objects.filter(sync=sync).exclude(pk=failed.pk).order_by("pk")
    assert [(run.kind, run.status) for run in started] == [
        ("manual", "canceled"),
        ("manual", "canceled"),
        ("retry", "canceled"),
        ("full_resync", "canceled"),
    ]
    assert all("never started and nothing was sent" in run.summary for run in started)

    # Sync now from the sync's page: the same 503, said on the page.
    browser = signed_in(web_without_redis, "alice@acme.test", PASSWORD)
    page = browser.get(f"/syncs/{sync.pk}/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    pressed = browser.post(
        f"/syncs/{sync.pk}/run",
        data={"csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{web_without_redis}/syncs/{sync.pk}/"},
    )
    assert pressed.status_code == 503
    assert "The task queue cannot be reached right now" in pressed.text
    assert not SyncRun.objects.filter(sync=sync).active().exists()

    # Deleting with the list emptied first: 503, and the sync stays, not being deleted.
    DeliveredMember.objects.create(sync=sync, member_key="u:user-1", user_id="user-1")
    answer = api.delete(f"/api/v1/syncs/{sync.pk}?empty_first=true")
    assert answer.status_code == 503 and answer.json()["error"] == UNAVAILABLE
    sync.refresh_from_db()
    assert not sync.delete_when_emptied and sync.paused
    assert sync.paused_reason == EMPTYING_FAILED_REASON
    assert not SyncRun.objects.filter(sync=sync).active().exists()
