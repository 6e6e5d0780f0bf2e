"""The actions behind the sync pages and API: connecting a destination, editing and
deleting a connection, adding and scheduling syncs, pausing, Sync now, deleting with or
without emptying the partner's list; connections following a new version of their
destination. Bad input names its field and changes nothing; secrets stay encrypted and
out of the audit log; plain members are refused."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from integrations import actions as integration_actions
from integrations import releases
from integrations.manifests import manifest_of
from portal.errors import ActionError
from portal.models import AuditEvent
from reviews import decisions, submissions
from syncengine import actions as testing_actions
from syncengine import testruns
from syncs import actions
from syncs.models import CohortSync, Connection, RunKind, SyncRun
from tests.signin import deliver_mails
from tests.syncs.builders import add_sync, approved, cohort_of, connect, released

SECRET = "s3cret-token-of-acme"


@pytest.fixture
def destination(cast):
    return released(cast)


@pytest.fixture
def acme_lists(cast, destination):
    return connect(cast, destination, values={"bearer_token": SECRET, "region": "eu"})


def audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- connections ----------------------------------------------------------------------------


def test_connecting_stores_values_encrypted_and_audits_without_secrets(cast, destination):
    connection = connect(cast, destination, values={"bearer_token": SECRET, "region": "eu"})
    connection.refresh_from_db()
    assert connection.values == {"bearer_token": SECRET, "region": "eu"}
    assert connection.mapping == {"user_id_field": "email"}
    assert connection.version == destination.version and connection.project == cast.acme_project
    with db.cursor() as cursor:
        cursor.execute("SELECT values FROM syncs_connection WHERE id = %s", [connection.pk])
        stored = cursor.fetchone()[0]
    assert SECRET not in str(stored)
    (created,) = audit("connection.created")
    assert created.actor == cast.alice and created.org == cast.acme
    assert created.after["values"] == ["bearer_token", "region"]
    assert SECRET not in str(created.after)


def test_defaults_fill_what_is_left_out_and_a_select_mapping_reads_its_first_option(
    cast, destination
):
    manifest = manifest_of(destination.integration)
    manifest["custom_fields"][1]["default"] = "us"
    integration_actions.integration_save(
        acting_user=cast.alice, integration=destination.integration, manifest=manifest
    )
    releases.integration_release(acting_user=cast.alice, integration=destination.integration)
    destination.refresh_from_db()
    connection = connect(cast, destination, values={"bearer_token": SECRET}, mapping={})
    assert connection.values == {"bearer_token": SECRET, "region": "us"}
    assert connection.mapping == {"user_id_field": "user_id"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"values": {"region": "eu"}}, "values.bearer_token", "Bearer Token is required"),
        ({"values": {"bearer_token": SECRET, "region": "mars"}}, "values.region", "one of"),
        ({"values": {"bearer_token": SECRET, "color": "red"}}, "values.color", "not a field"),
        ({"mapping": {"user_id_field": "shoe_size"}}, "mapping.user_id_field", "one of"),
        ({"name": "  "}, "name", "Give the connection a name"),
        ({"name": "x" * 121}, "name", "at most 120"),
        ({"name": "line\nbreak"}, "name", "one line"),
    ],
)
def test_bad_input_names_its_field_and_connects_nothing(cast, destination, changes, field, message):
    arguments = {
        "name": "Acme lists",
        "values": {"bearer_token": SECRET, "region": "eu"},
        "mapping": {"user_id_field": "email"},
    } | changes
    with pytest.raises(ActionError, match=message) as refused:
        actions.connection_create(
            acting_user=cast.alice,
            org=cast.acme,
            destination=destination,
            project=cast.acme_project,
            **arguments,
        )
    assert refused.value.field == field
    assert not Connection.objects.exists() and not audit("connection.created")


def test_a_name_is_unique_in_the_org_and_a_project_must_be_the_orgs(cast, destination):
    connect(cast, destination, name="Acme lists")
    with pytest.raises(ActionError, match="already has a connection named") as taken:
        connect(cast, destination, name="ACME LISTS")
    assert taken.value.field == "name"
    with pytest.raises(ActionError, match="Choose a project of your organisation") as foreign:
        connect(cast, destination, name="Other", project=cast.globex_project)
    assert foreign.value.field == "project_id"
    assert Connection.objects.count() == 1


def test_only_the_catalogue_can_be_connected_and_only_by_admins_and_developers(cast, destination):
    # Globex cannot connect Acme's internal release, nor a hidden approved destination.
    with pytest.raises(ActionError, match="not in your organisation's catalogue"):
        connect(cast, destination, user=cast.bob, org=cast.globex, project=cast.globex_project)
    with pytest.raises(ActionError, match="Only admins and developers") as member:
        connect(cast, destination, user=cast.alan)
    assert member.value.status == 403
    with pytest.raises(ActionError, match="Only admins and developers"):
        # bob is no member of Acme at all
        connect(cast, destination, user=cast.bob)
    assert not Connection.objects.exists()


def test_editing_keeps_a_secret_left_blank_and_audits_only_what_changed(cast, acme_lists):
    actions.connection_update(
        acting_user=cast.alice,
        connection=acme_lists,
        name="Acme EU lists",
        values={"bearer_token": "", "region": "us"},
    )
    acme_lists.refresh_from_db()
    assert acme_lists.name == "Acme EU lists"
    assert acme_lists.values == {"bearer_token": SECRET, "region": "us"}
    (updated,) = audit("connection.updated")
    assert updated.before["name"] == "Acme lists"
    assert updated.after["values_changed"] == ["region"]
    assert SECRET not in str(updated.before) + str(updated.after)
    with pytest.raises(ActionError, match="Only admins and developers"):
        actions.connection_update(acting_user=cast.alan, connection=acme_lists, name="Mine")


def test_a_connection_with_syncs_cannot_be_deleted(cast, acme_lists):
    sync = add_sync(cast, acme_lists)
    with pytest.raises(ActionError, match="Delete the 1 cohort sync of Acme lists") as refused:
        actions.connection_delete(acting_user=cast.alice, connection=acme_lists)
    assert refused.value.status == 409
    actions.sync_delete(acting_user=cast.alice, sync=sync, empty_first=False)
    actions.connection_delete(acting_user=cast.alice, connection=acme_lists)
    assert not Connection.objects.exists()
    assert [
        e.action for e in AuditEvent.objects.filter(action__startswith="connection.").order_by("id")
    ] == [
        "connection.created",
        "connection.deleted",
    ]


# --- following new versions -----------------------------------------------------------------


def release_changed(cast, destination, change) -> None:
    manifest = copy.deepcopy(manifest_of(destination.integration))
    change(manifest)
    integration_actions.integration_save(
        acting_user=cast.alice, integration=destination.integration, manifest=manifest
    )
    releases.integration_release(acting_user=cast.alice, integration=destination.integration)


def test_a_compatible_new_version_upgrades_connections_by_itself(cast, destination, acme_lists):
    def new_payload(manifest):
        manifest["endpoints"]["create_list"]["payload"] = '{"name": "$cohort_name", "v": 2}'

    release_changed(cast, destination, new_payload)
    acme_lists.refresh_from_db()
    assert acme_lists.version.number == 2 and not acme_lists.needs_reconnect
    (upgraded,) = audit("connection.upgraded")
    assert (upgraded.before["version"], upgraded.after["version"]) == (1, 2)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda m: m["custom_fields"].append(
                {
                    "variable": "account",
                    "display_name": "Account",
                    "type": "string",
                    "required": True,
                }
            ),
            "v2 asks for Account, a new required field",
        ),
        (
            lambda m: m["custom_fields"][1].update(options=[{"value": "us", "label": "US"}]),
            "in v2, Region must be one of us (got 'eu')",
        ),
        (
            lambda m: m["custom_fields"][1].update(type="string", options=None),
            "v2 changed Region from single_select to string",
        ),
    ],
)
def test_an_incompatible_new_version_asks_the_org_to_reconnect(
    cast, destination, acme_lists, change, reason, django_capture_on_commit_callbacks
):
    def apply(manifest):
        change(manifest)
        for field in manifest["custom_fields"]:
            if field.get("options") is None:
                field.pop("options", None)

    with django_capture_on_commit_callbacks(execute=True):
        release_changed(cast, destination, apply)
    acme_lists.refresh_from_db()
    assert acme_lists.version.number == 1, "it keeps its version until it reconnects"
    assert acme_lists.needs_reconnect and acme_lists.reconnect_reason == reason
    assert audit("connection.needs_reconnect")[0].after["reason"] == reason
    (email,) = deliver_mails()
    assert email.to == ["alice@acme.test"] and "Reconnect Acme lists" in email.subject
    # Syncs wait: Sync now is refused until the org reconnects.
    sync = add_sync(cast, acme_lists)
    with pytest.raises(ActionError, match="Reconnect Acme lists before syncing"):
        actions.sync_run_now(acting_user=cast.alice, sync=sync)


def test_reconnecting_moves_the_connection_to_the_version_served_now(cast, destination, acme_lists):
    def required_account(manifest):
        manifest["custom_fields"].append(
            {"variable": "account", "display_name": "Account", "type": "string", "required": True}
        )

    release_changed(cast, destination, required_account)
    with pytest.raises(ActionError, match="Account is required") as missing:
        actions.connection_update(acting_user=cast.alice, connection=acme_lists, values={})
    assert missing.value.field == "values.account"
    acme_lists.refresh_from_db()
    assert acme_lists.needs_reconnect
    actions.connection_update(
        acting_user=cast.alice, connection=acme_lists, values={"account": "acme-1"}
    )
    acme_lists.refresh_from_db()
    assert acme_lists.version.number == 2 and not acme_lists.needs_reconnect
    assert acme_lists.values == {"bearer_token": SECRET, "region": "eu", "account": "acme-1"}
    assert audit("connection.reconnected")[0].after["version"] == 2


def test_a_rollback_moves_connections_back_when_their_values_fit(cast, start_partner):
    live = approved(cast, start_partner().url)
    connection = connect(cast, live)
    draft = live.integration
    manifest = manifest_of(draft)
    manifest["endpoints"]["create_list"]["payload"] = '{"name": "$cohort_name", "v": 2}'
    integration_actions.integration_save(
        acting_user=cast.alice, integration=draft, manifest=manifest
    )
    run = testing_actions.test_run_start(acting_user=cast.alice, integration=draft)
    assert testruns.execute_test_run(run.pk).status == "passed"
    second = submissions.integration_submit(acting_user=cast.alice, integration=draft)
    decisions.review_approve(acting_user=cast.rita, version=second)
    connection.refresh_from_db()
    assert connection.version == second
    first = draft.versions.get(number=1)
    live.refresh_from_db()
    releases.destination_rollback(acting_user=cast.adam, destination=live, version=first)
    connection.refresh_from_db()
    assert connection.version == first and not connection.needs_reconnect
    assert [e.after["version"] for e in audit("connection.upgraded")] == [2, 1]


# --- syncs ----------------------------------------------------------------------------------


def test_a_sync_needs_a_cohort_of_the_connections_project_once(cast, acme_lists):
    other_project = cast.acme_project.__class__.objects.create(org=cast.acme, name="Other")
    elsewhere = cohort_of(cast, "Elsewhere", project=other_project)
    with pytest.raises(ActionError, match="Choose a cohort of the project Acme Web") as wrong:
        add_sync(cast, acme_lists, cohort=elsewhere)
    assert wrong.value.field == "cohort_id"
    cohort = cohort_of(cast, "Power users")
    add_sync(cast, acme_lists, cohort=cohort)
    with pytest.raises(ActionError, match="Power users already syncs through Acme lists"):
        add_sync(cast, acme_lists, cohort=cohort)
    assert CohortSync.objects.count() == 1


@pytest.mark.parametrize(
    ("cadence", "hour", "field", "message"),
    [
        ("weekly", None, "cadence", "one of: hourly, daily, manual"),
        ("daily", None, "daily_hour", "Choose the hour"),
        ("daily", 24, "daily_hour", "from 0 to 23"),
        ("daily", "noon", "daily_hour", "from 0 to 23"),
        ("daily", True, "daily_hour", "from 0 to 23"),
    ],
)
def test_a_bad_schedule_names_its_field(cast, acme_lists, cadence, hour, field, message):
    with pytest.raises(ActionError, match=message) as refused:
        add_sync(cast, acme_lists, cadence=cadence, daily_hour=hour)
    assert refused.value.field == field
    assert not CohortSync.objects.exists()


def test_the_schedule_sets_the_next_run_and_pausing_clears_it(cast, acme_lists):
    before = timezone.now()
    sync = add_sync(cast, acme_lists, cadence="daily", daily_hour=6)
    assert sync.next_run_at is not None
    assert sync.next_run_at.astimezone(UTC).hour == 6
    assert before < sync.next_run_at <= before + timedelta(days=1)
    sync = actions.sync_update(acting_user=cast.alice, sync=sync, cadence_value="manual")
    assert (sync.daily_hour, sync.next_run_at) == (None, None)
    sync = actions.sync_update(acting_user=cast.alice, sync=sync, cadence_value="hourly")
    assert sync.next_run_at is not None and sync.next_run_at - before <= timedelta(hours=1)
    paused = actions.sync_pause(acting_user=cast.alice, sync=sync)
    assert paused.paused and paused.next_run_at is None
    with pytest.raises(ActionError, match="already paused") as twice:
        actions.sync_pause(acting_user=cast.alice, sync=sync)
    assert twice.value.status == 409
    CohortSync.objects.filter(pk=sync.pk).update(failed_runs_in_row=3, paused_reason="Failing")
    resumed = actions.sync_resume(acting_user=cast.alice, sync=sync)
    assert not resumed.paused and resumed.failed_runs_in_row == 0 and resumed.paused_reason == ""
    assert resumed.next_run_at is not None
    assert [
        e.action for e in AuditEvent.objects.filter(action__startswith="sync.").order_by("id")
    ] == [
        "sync.created",
        "sync.updated",
        "sync.updated",
        "sync.paused",
        "sync.resumed",
    ]
    assert audit("sync.created")[0].after == {
        "cohort_id": sync.cohort.public_id,
        "connection": acme_lists.pk,
        "cadence": "daily",
        "daily_hour": 6,
    }


def test_sync_now_queues_one_run_at_a_time(cast, acme_lists):
    sync = add_sync(cast, acme_lists)
    run = actions.sync_run_now(acting_user=cast.alice, sync=sync)
    assert (run.kind, run.status, run.started_by) == (RunKind.MANUAL, "queued", cast.alice)
    with pytest.raises(ActionError, match="already running") as busy:
        actions.sync_run_now(acting_user=cast.alice, sync=sync)
    assert (busy.value.status, busy.value.code) == (409, "sync_busy")
    with pytest.raises(ActionError, match="did not fail") as nothing:
        SyncRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
        actions.sync_retry_failed(acting_user=cast.alice, sync=sync)
    assert nothing.value.status == 409
    with pytest.raises(ActionError, match="Only admins and developers"):
        actions.sync_run_now(acting_user=cast.alan, sync=sync)
    assert audit("sync.run_started")[0].after == {
        "run": run.pk,
        "kind": "manual",
        "new_list": False,
    }


def test_deleting_leaves_the_list_or_empties_it_first(cast, acme_lists):
    sync = add_sync(cast, acme_lists)
    # A sync that never delivered anything has nothing to empty: it goes at once.
    assert actions.sync_delete(acting_user=cast.alice, sync=sync, empty_first=True) is None
    assert not CohortSync.objects.exists()
    (deleted,) = audit("sync.deleted")
    assert deleted.target_label == "Power users → Acme lists"

    sync = add_sync(cast, acme_lists, cohort=cohort_of(cast, "Churn risk"))
    CohortSync.objects.filter(pk=sync.pk).update(delivered_count=12, list_id="lst_1")
    sync.refresh_from_db()
    run = actions.sync_delete(acting_user=cast.alice, sync=sync, empty_first=True)
    assert run is not None and run.kind == RunKind.EMPTY
    sync.refresh_from_db()
    assert sync.paused and sync.paused_reason == actions.EMPTYING_REASON
    assert sync.delete_when_emptied and sync.next_run_at is None
    # While that run is queued, the sync cannot be deleted another way.
    with pytest.raises(ActionError, match="being deleted") as busy:
        actions.sync_delete(acting_user=cast.alice, sync=sync, empty_first=False)
    assert busy.value.status == 409
    assert audit("sync.emptying")[0].after == {"run": run.pk, "delivered": 12, "then": "delete"}


def test_a_plain_member_changes_nothing(cast, acme_lists):
    sync = add_sync(cast, acme_lists)
    for attempt in (
        lambda: actions.sync_pause(acting_user=cast.alan, sync=sync),
        lambda: actions.sync_update(acting_user=cast.alan, sync=sync, cadence_value="hourly"),
        lambda: actions.sync_delete(acting_user=cast.alan, sync=sync, empty_first=False),
        lambda: actions.connection_delete(acting_user=cast.alan, connection=acme_lists),
        lambda: add_sync(cast, acme_lists, cohort=cohort_of(cast, "Mine"), user=cast.alan),
    ):
        with pytest.raises(ActionError) as refused:
            attempt()
        assert refused.value.status == 403
    sync.refresh_from_db()
    assert not sync.paused and sync.cadence == "manual"
    assert CohortSync.objects.count() == 1


def test_the_next_daily_run_is_at_the_chosen_hour_utc(cast, acme_lists):
    sync = add_sync(cast, acme_lists, cadence="daily", daily_hour=23)
    expected = datetime.now(UTC).replace(hour=23, minute=0, second=0, microsecond=0)
    if expected <= datetime.now(UTC):
        expected += timedelta(days=1)
    assert sync.next_run_at == expected


def test_a_synced_cohort_cannot_be_deleted_until_its_syncs_are(cast, acme_lists, client_for):
    from portal import actions as portal_actions
    from portal.models import Cohort

    sync = add_sync(cast, acme_lists)
    cohort = sync.cohort
    with pytest.raises(ActionError, match="Power users is synced to a destination") as refused:
        portal_actions.cohort_delete(acting_user=cast.alice, cohort=cohort)
    assert (refused.value.status, refused.value.code) == (409, "cohort_in_use")
    page = client_for(cast.alice).post(
        f"/cohorts/{cohort.public_id}/delete", {"confirm": "Power users"}, follow=True
    )
    assert "delete those syncs first" in page.content.decode()
    assert Cohort.objects.filter(pk=cohort.pk).exists() and not audit("cohort.deleted")
    actions.sync_delete(acting_user=cast.alice, sync=sync, empty_first=False)
    portal_actions.cohort_delete(acting_user=cast.alice, cohort=cohort)
    assert not Cohort.objects.filter(pk=cohort.pk).exists()
