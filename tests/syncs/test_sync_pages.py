"""The pages of connections and cohort syncs: connecting from the Destinations page's
dialog (refusals answered next to the field, secrets never shown again), a connection and
its syncs, a sync with its buttons, its live box and its run history, a run's delivery log
with the exchange inspector. Plain members read and are refused every change; another
organisation's objects are 404 on every route."""

from __future__ import annotations

import pytest

from syncengine.core.masking import MASK
from syncs.models import CohortSync, Connection, RunKind
from tests.syncengine.conftest import TOKEN
from tests.syncs.builders import add_sync, cohort_of, connect, globex_world, released, synced

SECRET = "page-secret-token"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def destination(cast):
    return released(cast)


@pytest.fixture
def alice(cast, client_for):
    return client_for(cast.alice)


def connect_form(cast, **changes) -> dict[str, str]:
    return {
        "name": "Acme lists",
        "project_id": str(cast.acme_project.public_id),
        "values.bearer_token": SECRET,
        "values.region": "eu",
        "mapping.user_id_field": "email",
    } | changes


def test_the_connect_dialog_answers_a_refusal_next_to_the_field(cast, alice, destination):
    refused = alice.post(
        f"/destinations/{destination.pk}/connect",
        connect_form(cast, **{"values.bearer_token": "", "name": "Kept name"}),
        **HTMX,
    )
    assert refused.status_code == 200
    page = refused.content.decode()
    field_id = f"c{destination.pk}-modal-custom-0"
    assert f'id="{field_id}" name="values.bearer_token" type="password" value=""' in page
    assert 'aria-invalid="true"' in page and "Bearer Token is required." in page
    assert 'value="Kept name"' in page, "what was typed comes back"
    assert not Connection.objects.exists()

    done = alice.post(f"/destinations/{destination.pk}/connect", connect_form(cast), **HTMX)
    connection = Connection.objects.get()
    assert done.status_code == 204
    assert done["HX-Redirect"] == f"/connections/{connection.pk}/"
    assert connection.values == {"bearer_token": SECRET, "region": "eu"}


def test_without_javascript_the_connect_form_is_a_page(cast, alice, destination):
    page = alice.get(f"/destinations/{destination.pk}/connect").content.decode()
    assert "<h1>Connect to Loopback Lists</h1>" in page and 'href="/destinations/">Cancel' in page
    refused = alice.post(
        f"/destinations/{destination.pk}/connect", connect_form(cast, project_id="123")
    )
    assert refused.status_code == 400
    assert "Choose a project of your organisation." in refused.content.decode()
    done = alice.post(f"/destinations/{destination.pk}/connect", connect_form(cast))
    assert done.status_code == 302 and done["Location"].startswith("/connections/")


def test_a_secret_is_never_shown_again(cast, alice, destination):
    connection = connect(cast, destination, values={"bearer_token": SECRET, "region": "eu"})
    detail = alice.get(f"/connections/{connection.pk}/").content.decode()
    edit = alice.get(f"/connections/{connection.pk}/edit").content.decode()
    assert SECRET not in detail + edit
    assert MASK in detail
    assert 'placeholder="Saved · leave blank to keep"' in edit
    saved = alice.post(
        f"/connections/{connection.pk}/edit",
        {"name": "Acme EU", "values.bearer_token": "", "values.region": "us"},
    )
    assert saved.status_code == 302
    connection.refresh_from_db()
    assert (connection.name, connection.values["bearer_token"]) == ("Acme EU", SECRET)
    refused = alice.post(
        f"/connections/{connection.pk}/edit",
        {"name": "Acme EU", "values.bearer_token": "", "values.region": "mars"},
    )
    assert refused.status_code == 400
    assert "Region must be one of us, eu" in refused.content.decode()


def test_adding_a_sync_from_the_connection_page(cast, alice, destination):
    connection = connect(cast, destination)
    cohort = cohort_of(cast, "Power users", 4)
    page = alice.get(f"/connections/{connection.pk}/").content.decode()
    assert f'<option value="{cohort.public_id}"' in page and "No cohort syncs yet" in page
    refused = alice.post(
        f"/connections/{connection.pk}/syncs/new",
        {"cohort_id": cohort.public_id, "cadence": "daily", "daily_hour": "25"},
    )
    assert refused.status_code == 400
    body = refused.content.decode()
    assert 'id="new-sync-hour-error" role="alert">The hour of a daily sync' in body
    assert not CohortSync.objects.exists()
    made = alice.post(
        f"/connections/{connection.pk}/syncs/new",
        {"cohort_id": cohort.public_id, "cadence": "daily", "daily_hour": "7"},
    )
    sync = CohortSync.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/syncs/{sync.pk}/"
    page = alice.get(f"/connections/{connection.pk}/").content.decode()
    assert "Every day at 07:00 UTC" in page and "No cohort left to add" in page


def test_the_sync_page_and_its_buttons(cast, alice, destination):
    sync = add_sync(cast, connect(cast, destination), cadence="hourly")
    page = alice.get(f"/syncs/{sync.pk}/").content.decode()
    assert 'data-state="scheduled"' in page and "No runs yet" in page
    assert alice.post(f"/syncs/{sync.pk}/pause").status_code == 302
    sync.refresh_from_db()
    assert sync.paused and 'data-state="paused"' in alice.get(f"/syncs/{sync.pk}/").content.decode()
    alice.post(f"/syncs/{sync.pk}/resume")
    alice.post(f"/syncs/{sync.pk}/schedule", {"cadence": "manual"})
    sync.refresh_from_db()
    assert (sync.paused, sync.cadence) == (False, "manual")
    refused = alice.post(f"/syncs/{sync.pk}/schedule", {"cadence": "daily", "daily_hour": "x"})
    assert refused.status_code == 400 and "from 0 to 23" in refused.content.decode()

    # Sync now: the page comes back with the live box polling the queued run.
    assert alice.post(f"/syncs/{sync.pk}/run").status_code == 302
    run = sync.runs.get()
    page = alice.get(f"/syncs/{sync.pk}/").content.decode()
    polled = f"/syncs/{sync.pk}/progress?run={run.pk}&amp;connection={sync.connection_id}"
    assert f'hx-get="{polled}"' in page
    assert "Run in progress" in page and "Waiting for a worker" in page
    poll = alice.get(f"/syncs/{sync.pk}/progress?run={run.pk}", **HTMX).content.decode()
    assert 'data-status="queued"' in poll and "hx-swap-oob" not in poll
    # A second Sync now is refused with the reason; deleting waits for the run.
    busy = alice.post(f"/syncs/{sync.pk}/run", follow=True).content.decode()
    assert "already running" in busy
    alice.post(f"/syncs/{sync.pk}/delete", {"partner_list": "keep"})
    assert CohortSync.objects.filter(pk=sync.pk).exists()


def test_deleting_a_sync_asks_what_happens_to_the_list(cast, alice, destination):
    connection = connect(cast, destination)
    sync = add_sync(cast, connection)
    refused = alice.post(f"/syncs/{sync.pk}/delete", {}, follow=True).content.decode()
    assert "Choose what happens to the partner" in refused
    CohortSync.objects.filter(pk=sync.pk).update(delivered_count=2)
    emptied = alice.post(f"/syncs/{sync.pk}/delete", {"partner_list": "empty"}, follow=True)
    page = emptied.content.decode()
    assert "the partner&#39;s list is being emptied" in page
    assert "Deleting — emptying the partner" in page and 'data-state="deleting"' in page
    assert sync.runs.get().kind == RunKind.EMPTY
    other = add_sync(cast, connection, cohort=cohort_of(cast, "Churn risk"))
    gone = alice.post(f"/syncs/{other.pk}/delete", {"partner_list": "keep"})
    assert gone.status_code == 302 and gone["Location"] == f"/connections/{connection.pk}/"
    assert not CohortSync.objects.filter(pk=other.pk).exists()


def test_a_connection_waiting_for_reconnection_says_so_everywhere(cast, alice, destination):
    from integrations import actions as integration_actions
    from integrations import releases
    from integrations.manifests import manifest_of

    connection = connect(cast, destination)
    sync = add_sync(cast, connection)
    manifest = manifest_of(destination.integration)
    manifest["custom_fields"].append(
        {"variable": "account", "display_name": "Account", "type": "string", "required": True}
    )
    integration_actions.integration_save(
        acting_user=cast.alice, integration=destination.integration, manifest=manifest
    )
    releases.integration_release(acting_user=cast.alice, integration=destination.integration)
    reason = "v2 asks for Account, a new required field"
    assert reason in alice.get(f"/connections/{connection.pk}/").content.decode()
    sync_page = alice.get(f"/syncs/{sync.pk}/").content.decode()
    assert 'data-state="reconnect"' in sync_page and reason in sync_page
    assert "Reconnect Acme lists" in sync_page
    edit = alice.get(f"/connections/{connection.pk}/edit").content.decode()
    assert 'name="values.account"' in edit and ">Reconnect</button>" in edit
    alice.post(
        f"/connections/{connection.pk}/edit",
        {"name": "Acme lists", "values.account": "acme-7", "values.region": "eu"},
    )
    connection.refresh_from_db()
    assert not connection.needs_reconnect and connection.version.number == 2


def test_the_delivery_log_of_a_run(transactional_db, cast, client_for, partner):
    sync = synced(cast, partner.url, members=5, batch_size=2)
    run = sync.runs.get()
    alice = client_for(cast.alice)
    page = alice.get(f"/syncs/{sync.pk}/").content.decode()
    assert f'data-run="{run.pk}" data-status="succeeded"' in page
    assert '<dd data-count="entered">5</dd>' in page and "Latest run" in page
    # The last poll of a run that ended stops polling and refreshes the rest of the page.
    poll = alice.get(f"/syncs/{sync.pk}/progress?run={run.pk}", **HTMX).content.decode()
    assert "hx-trigger" not in poll
    assert f'id="sync-{sync.pk}-summary" aria-label="This sync" hx-swap-oob="true"' in poll
    assert f'id="sync-{sync.pk}-history" class="sync-history" hx-swap-oob="true"' in poll
    assert "exactly snapshot" in poll and "5 members" in poll
    log = alice.get(f"/syncs/{sync.pk}/runs/{run.pk}/").content.decode()
    assert log.count('class="sync-batch ') == 3
    assert "Requests outside the batches" in log and "create_list" in log
    batch = alice.get(f"/syncs/{sync.pk}/runs/{run.pk}/batches/1/", **HTMX).content.decode()
    assert batch.count('class="tst-exchange ') == 1 and "Idempotency-Key" in batch
    exchange = run.exchanges.get(batch__sequence=1)
    inspector = alice.get(
        f"/syncs/{sync.pk}/runs/{run.pk}/exchanges/{exchange.sequence}", **HTMX
    ).content.decode()
    assert f"Bearer {MASK}" in inspector and TOKEN not in inspector
    key = run.batches.get(sequence=1).batch_id
    assert f"batch <code>{key}</code>" in inspector, "the batch's Idempotency-Key"
    assert "user2@example.test" in inspector or "user0@example.test" in inspector
    assert alice.get(f"/syncs/{sync.pk}/runs/{run.pk}/batches/9/").status_code == 404


def test_run_history_is_paginated(transactional_db, cast, client_for, partner):
    sync = synced(cast, partner.url, members=1, runs_count=21)
    alice = client_for(cast.alice)
    first = alice.get(f"/syncs/{sync.pk}/").content.decode()
    assert first.count('class="sync-run-row"') == 20 and "Page 1 of 2" in first
    second = alice.get(f"/syncs/{sync.pk}/?page=2").content.decode()
    oldest = sync.runs.order_by("id").first()
    assert second.count('class="sync-run-row"') == 1 and f'data-run="{oldest.pk}"' in second


def test_plain_members_read_every_page_and_change_nothing(cast, client_for, destination):
    connection = connect(cast, destination)
    sync = add_sync(cast, connection)
    alan = client_for(cast.alan)
    for path in ("/connections/", f"/connections/{connection.pk}/", f"/syncs/{sync.pk}/"):
        page = alan.get(path)
        assert page.status_code == 200, path
        assert '<form method="post"' not in page.content.decode().split("<main")[1], path
    for path in (
        f"/destinations/{destination.pk}/connect",
        f"/connections/{connection.pk}/edit",
        f"/connections/{connection.pk}/delete",
        f"/connections/{connection.pk}/syncs/new",
        f"/syncs/{sync.pk}/run",
        f"/syncs/{sync.pk}/retry",
        f"/syncs/{sync.pk}/resync",
        f"/syncs/{sync.pk}/pause",
        f"/syncs/{sync.pk}/resume",
        f"/syncs/{sync.pk}/schedule",
        f"/syncs/{sync.pk}/delete",
    ):
        assert alan.post(path, {"partner_list": "keep", "confirm": "Acme lists"}).status_code == 403
    assert not sync.runs.exists() and CohortSync.objects.filter(pk=sync.pk).exists()
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_another_orgs_objects_are_404_on_every_page(cast, alice):
    from syncs import runs

    globex = globex_world(cast)
    connection, sync = globex["connection"], globex["sync"]
    run = runs.run_create(sync, kind="manual", enqueue=False)
    gets = [
        f"/destinations/{globex['destination'].pk}/connect",
        f"/connections/{connection.pk}/",
        f"/connections/{connection.pk}/edit",
        f"/syncs/{sync.pk}/",
        f"/syncs/{sync.pk}/progress?run={run.pk}",
        f"/syncs/{sync.pk}/runs/{run.pk}/",
        f"/syncs/{sync.pk}/runs/{run.pk}/batches/1/",
        f"/syncs/{sync.pk}/runs/{run.pk}/exchanges/1",
    ]
    for path in gets:
        assert alice.get(path).status_code == 404, path
    posts = [
        f"/destinations/{globex['destination'].pk}/connect",
        f"/connections/{connection.pk}/edit",
        f"/connections/{connection.pk}/delete",
        f"/connections/{connection.pk}/syncs/new",
        f"/syncs/{sync.pk}/run",
        f"/syncs/{sync.pk}/pause",
        f"/syncs/{sync.pk}/schedule",
        f"/syncs/{sync.pk}/delete",
    ]
    for path in posts:
        response = alice.post(path, {"partner_list": "keep", "confirm": "Globex lists"})
        assert response.status_code == 404, path
    sync.refresh_from_db()
    assert not sync.paused and CohortSync.objects.filter(pk=sync.pk).exists()
    # A run of one of alice's syncs is a 404 under another of her syncs.
    mine = add_sync(cast, connect(cast, released(cast)))
    assert alice.get(f"/syncs/{mine.pk}/runs/{run.pk}/").status_code == 404


def test_every_form_carries_its_csrf_token(cast, client_for, destination):
    """Posted by a browser, which Django's test client is not: a form without the token
    is refused with a 403 there."""
    from django.test import Client

    sync = add_sync(cast, connect(cast, destination), cadence="daily", daily_hour=3)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.alice)
    for path in (
        "/destinations/",
        f"/connections/{sync.connection_id}/",
        f"/connections/{sync.connection_id}/edit",
        f"/syncs/{sync.pk}/",
    ):
        page = browser.get(path).content.decode()
        assert 'name="csrfmiddlewaretoken" value=""' not in page, path
        assert page.count('name="csrfmiddlewaretoken" value="') >= 1, path
    token = browser.cookies["csrftoken"].value
    paused = browser.post(f"/syncs/{sync.pk}/pause", {"csrfmiddlewaretoken": token})
    assert paused.status_code == 302
