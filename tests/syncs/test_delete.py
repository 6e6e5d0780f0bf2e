"""Deleting a sync in one step, with its partner's list emptied first: a final run removes
every delivered member, and the worker deletes the sync when that run succeeds; when it
does not, the sync stays, saying so, and can be deleted again either way."""

from __future__ import annotations

import pytest

from portal.models import AuditEvent
from syncs import engine
from syncs.models import EMPTYING_FAILED_REASON, CohortSync, DeliveredMember, RunKind, SyncRun
from tests.syncs.builders import synced
from tests.waiting import wait_until


def test_a_worker_empties_the_list_then_deletes_the_sync(
    cast, partner, start_worker, api_for, client_for
):
    sync = synced(cast, partner.url, members=5, batch_size=2)
    list_id = sync.list_id
    assert len(partner.state.members_of(list_id)) == 5
    start_worker()

    api = api_for(cast.alice, cast.acme)
    answer = api.delete(f"/api/v1/syncs/{sync.pk}?empty_first=true")

    assert answer.status_code == 202, answer.content
    run = answer.json()
    assert (run["kind"], run["status"]) == ("empty", "queued")
    wait_until(
        lambda: not CohortSync.objects.filter(pk=sync.pk).exists(),
        60,
        lambda: f"the sync is still there: {CohortSync.objects.filter(pk=sync.pk).first()}",
    )
    assert partner.state.members_of(list_id) == set()
    assert not DeliveredMember.objects.filter(sync_id=sync.pk).exists()
    assert not SyncRun.objects.filter(pk=run["id"]).exists()  # gone with its sync
    deleted = AuditEvent.objects.get(action="sync.deleted")
    assert deleted.actor == cast.alice and deleted.before["emptied_by_run"] == run["id"]
    assert deleted.before["delivered"] == 0
    # The page of the deleted sync: not found; its connection's page still there.
    alice = client_for(cast.alice)
    assert alice.get(f"/syncs/{sync.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_page_shows_the_sync_as_being_deleted_until_its_list_is_empty(
    cast, partner, client_for
):
    sync = synced(cast, partner.url, members=4, batch_size=10)
    alice = client_for(cast.alice)

    asked = alice.post(f"/syncs/{sync.pk}/delete", {"partner_list": "empty"})

    assert asked.status_code == 302
    sync.refresh_from_db()
    assert sync.delete_when_emptied and sync.paused
    page = alice.get(f"/syncs/{sync.pk}/").content.decode()
    assert "Deleting — emptying the partner" in page
    assert state_on_page(alice, sync) == "deleting"
    # A second delete while the list is being emptied is refused, saying why.
    again = alice.post(f"/syncs/{sync.pk}/delete", {"partner_list": "keep"}, follow=True)
    assert "This sync is being deleted" in again.content.decode()
    assert CohortSync.objects.filter(pk=sync.pk).exists()

    emptying = sync.runs.get(kind=RunKind.EMPTY)
    assert engine.execute_run(emptying.pk) is None  # the run went with its sync
    assert partner.state.members_of(sync.list_id) == set()
    assert not CohortSync.objects.filter(pk=sync.pk).exists()
    # The live box polling the deleted sync sends the page to its connection.
    poll = alice.get(
        f"/syncs/{sync.pk}/progress?run={emptying.pk}&connection={sync.connection_id}",
        HTTP_HX_REQUEST="true",
    )
    assert poll["HX-Redirect"] == f"/connections/{sync.connection_id}/"


def state_on_page(client, sync: CohortSync) -> str:
    """The sync's state as the page's badge gives it."""
    page = client.get(f"/syncs/{sync.pk}/").content.decode()
    marker = f'id="sync-{sync.pk}-state" data-state="'
    return page.split(marker, 1)[1].split('"', 1)[0]


@pytest.mark.django_db(transaction=True)
def test_a_failed_emptying_run_keeps_the_sync_and_it_can_be_deleted_either_way(
    cast, partner, api_for
):
    sync = synced(cast, partner.url, members=3, batch_size=10)
    list_id = sync.list_id
    api = api_for(cast.alice, cast.acme)
    run = api.delete(f"/api/v1/syncs/{sync.pk}?empty_first=true").json()
    partner.state.set_faults(fail_next=100, status=400)

    ended = engine.execute_run(run["id"])

    assert ended is not None and ended.status == "failed"
    sync.refresh_from_db()
    assert not sync.delete_when_emptied and sync.paused
    assert sync.paused_reason == EMPTYING_FAILED_REASON
    shown = api.get(f"/api/v1/syncs/{sync.pk}").json()
    assert shown["state"] == "paused" and shown["paused_reason"] == EMPTYING_FAILED_REASON
    assert len(partner.state.members_of(list_id)) == 3  # nothing removed

    # Retry emptying: the partner answers again, the sync goes.
    partner.state.set_faults(fail_next=0)
    retry = api.delete(f"/api/v1/syncs/{sync.pk}?empty_first=true")
    assert retry.status_code == 202
    assert engine.execute_run(retry.json()["id"]) is None
    assert partner.state.members_of(list_id) == set()
    assert not CohortSync.objects.filter(pk=sync.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_emptying_the_sync_can_be_deleted_leaving_the_list(cast, partner, api_for):
    sync = synced(cast, partner.url, members=2, batch_size=10)
    api = api_for(cast.alice, cast.acme)
    run = api.delete(f"/api/v1/syncs/{sync.pk}?empty_first=true").json()
    partner.state.set_faults(fail_next=100, status=400)
    assert engine.execute_run(run["id"]).status == "failed"

    gone = api.delete(f"/api/v1/syncs/{sync.pk}")

    assert gone.status_code == 204
    assert not CohortSync.objects.filter(pk=sync.pk).exists()
    assert len(partner.state.members_of(sync.list_id)) == 2
