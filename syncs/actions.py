"""Writes of connections and cohort syncs, as pages and the API make them.

Each action is one transaction with an audit row, checks that the acting person is an
admin or a developer of the organisation (`access.require_manager`), and refuses bad input
with an `ActionError` naming the field. Secrets typed in the Connect form are stored
encrypted in `Connection.values` and never reach an audit row: only which fields changed.
Starting runs goes through `syncs.runs` (one active run per sync); these actions add the
permission check and the audit entry.

Connections follow their destination: when it starts serving another version
(`integrations.signals.destination_version_changed`), `connections_follow_version` moves
every connection whose values still fit, and asks the organisation to reconnect the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.access import catalogue_for
from integrations.catalogue import MAX_CONNECTION_NAME_LENGTH
from integrations.models import Destination, IntegrationVersion
from portal.audit import audit_record
from portal.emails import email_on_commit
from portal.errors import ActionError
from portal.models import Cohort, MemberRole, Membership, Organization, Project, User
from syncengine.connect_values import clean_mapping, clean_values, field_label, fields_of
from syncengine.core.manifest.schema import SELECT_TYPES
from syncs import cadence, runs
from syncs.access import require_manager
from syncs.compatibility import upgrade_problem
from syncs.models import Cadence, CohortSync, Connection, DeliveredMember, RunKind, SyncRun

HOURS_IN_A_DAY = 24
EMPTYING_REASON = "Deleting — emptying the partner's list. The sync is deleted when it is empty."


# --- helpers --------------------------------------------------------------------------------


def _clean_connection_name(connection: Connection, given: Any) -> str:
    if not isinstance(given, str) or not given.strip():
        raise ActionError("Give the connection a name.", field="name")
    name = given.strip()
    if len(name) > MAX_CONNECTION_NAME_LENGTH or any(ord(c) < 32 for c in name):
        raise ActionError(
            f"The name must be one line of at most {MAX_CONNECTION_NAME_LENGTH} characters.",
            field="name",
        )
    taken = Connection.objects.filter(org_id=connection.org_id, name__iexact=name)
    if connection.pk:
        taken = taken.exclude(pk=connection.pk)
    if taken.exists():
        raise ActionError(
            f"{connection.org.name} already has a connection named {name!r}.", field="name"
        )
    return name


def connect_values(
    manifest: Mapping[str, Any],
    *,
    values: Mapping[str, Any],
    mapping: Mapping[str, Any],
    stored: Mapping[str, Any],
) -> tuple[dict[str, str], dict[str, str]]:
    """The Connect form's values and mapping choices, checked against `manifest`.

    An empty secret keeps the stored one; a field left out takes its default; every
    required field needs a value; a select mapping field left out reads its first option
    (as the form preselects it)."""
    cleaned = clean_values(manifest, values, stored)
    fields = fields_of(manifest, "custom_fields")
    for variable, raw in fields.items():
        default = raw.get("default")
        if not cleaned.get(variable) and isinstance(default, str) and default:
            cleaned[variable] = default
    for variable, raw in fields.items():
        if raw.get("required") is True and not cleaned.get(variable):
            raise ActionError(f"{field_label(raw)} is required.", field=f"values.{variable}")
    chosen = clean_mapping(manifest, mapping)
    for variable, raw in fields_of(manifest, "mapping_fields").items():
        if chosen.get(variable):
            continue
        options = raw.get("options") or []
        if raw.get("type") in SELECT_TYPES and options:
            first = options[0]
            chosen[variable] = str(first.get("value") if isinstance(first, dict) else first)
        elif raw.get("required") is True:
            raise ActionError(
                f"Enter the user property {field_label(raw)} reads.", field=f"mapping.{variable}"
            )
    return cleaned, chosen


def _project_of(org_id: int, project: Project | None) -> Project:
    if project is None or project.org_id != org_id:
        raise ActionError("Choose a project of your organisation.", field="project_id")
    return project


def _clean_schedule(cadence_value: Any, daily_hour: Any) -> tuple[str, int | None]:
    if cadence_value not in Cadence.values:
        raise ActionError(f"The cadence is one of: {', '.join(Cadence.values)}.", field="cadence")
    if cadence_value != Cadence.DAILY:
        return cadence_value, None
    if daily_hour in (None, ""):
        raise ActionError("Choose the hour (UTC) of the daily sync.", field="daily_hour")
    try:
        hour = int(daily_hour)
    except (TypeError, ValueError):
        hour = -1
    if isinstance(daily_hour, bool) or not 0 <= hour < HOURS_IN_A_DAY:
        raise ActionError(
            "The hour of a daily sync is a whole number from 0 to 23 (UTC).", field="daily_hour"
        )
    return cadence_value, hour


def _schedule(sync: CohortSync, now: datetime | None = None) -> None:
    sync.next_run_at = None if sync.paused else cadence.next_run_at(sync, now or timezone.now())


def _lock_sync(sync: CohortSync) -> CohortSync:
    return (
        CohortSync.objects.select_for_update(of=("self",))
        .select_related("connection__org", "connection__version", "cohort")
        .get(pk=sync.pk)
    )


def _sync_label(sync: CohortSync) -> str:
    return f"{sync.cohort.name} → {sync.connection.name}"


def _schedule_facts(sync: CohortSync) -> dict[str, Any]:
    return {"cadence": sync.cadence, "daily_hour": sync.daily_hour}


# --- connections ----------------------------------------------------------------------------


@transaction.atomic
def connection_create(
    *,
    acting_user: User,
    org: Organization,
    destination: Destination,
    project: Project | None,
    name: Any,
    values: Mapping[str, Any],
    mapping: Mapping[str, Any],
) -> Connection:
    """Connect `destination` (from `org`'s catalogue) to one of `org`'s projects."""
    require_manager(acting_user, org)
    project = _project_of(org.pk, project)
    if not catalogue_for(org).filter(pk=destination.pk).exists():
        raise ActionError(
            "This destination is not in your organisation's catalogue.", field="destination_id"
        )
    version = destination.version
    connection = Connection(
        org=org, project=project, destination=destination, version=version, created_by=acting_user
    )
    connection.name = _clean_connection_name(connection, name)
    connection.values, connection.mapping = connect_values(
        version.config, values=values, mapping=mapping, stored={}
    )
    connection.save()
    audit_record(
        actor=acting_user,
        org=org,
        action="connection.created",
        target=connection,
        after={
            "name": connection.name,
            "destination": version.display_name,
            "version": version.number,
            "project_id": project.public_id,
            "values": sorted(connection.values),
            "mapping": connection.mapping,
        },
    )
    return connection


@transaction.atomic
def connection_update(
    *,
    acting_user: User,
    connection: Connection,
    name: Any = None,
    values: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
) -> Connection:
    """Rename a connection or change its Connect-modal values (an empty secret keeps the
    stored one). Saving moves the connection onto the version its destination serves now:
    this is how an organisation reconnects after an incompatible new version."""
    require_manager(acting_user, connection.org)
    connection = (
        Connection.objects.select_for_update(of=("self",))
        .select_related("org", "destination__version", "version")
        .get(pk=connection.pk)
    )
    before = {
        "name": connection.name,
        "version": connection.version.number,
        "mapping": dict(connection.mapping),
    }
    old_values = dict(connection.values)
    if name is not None:
        connection.name = _clean_connection_name(connection, name)
    target = connection.destination.version
    reconnect = connection.needs_reconnect or target.pk != connection.version_id
    if values is not None or mapping is not None or reconnect:
        connection.values, connection.mapping = connect_values(
            target.config,
            values=values if values is not None else {},
            mapping=mapping if mapping is not None else connection.mapping,
            stored=old_values,
        )
    connection.version = target
    connection.needs_reconnect, connection.reconnect_reason = False, ""
    connection.updated_at = timezone.now()
    connection.save()
    changed_values = sorted(
        n
        for n in set(old_values) | set(connection.values)
        if old_values.get(n) != connection.values.get(n)
    )
    audit_record(
        actor=acting_user,
        org=connection.org,
        action="connection.reconnected" if reconnect else "connection.updated",
        target=connection,
        before=before,
        after={
            "name": connection.name,
            "version": target.number,
            "mapping": connection.mapping,
            "values_changed": changed_values,
        },
    )
    return connection


@transaction.atomic
def connection_delete(*, acting_user: User, connection: Connection) -> None:
    """Delete a connection without syncs (each sync is deleted first, with the choice of
    emptying the partner's list)."""
    require_manager(acting_user, connection.org)
    connection = Connection.objects.select_for_update().select_related("org").get(pk=connection.pk)
    count = connection.syncs.count()
    if count:
        raise ActionError(
            f"Delete the {count} cohort sync{'s' if count != 1 else ''} of {connection.name} "
            "first: each asks whether to empty the partner's list.",
            status=409,
            code="has_syncs",
        )
    audit_record(
        actor=acting_user,
        org=connection.org,
        action="connection.deleted",
        target=connection,
        before={"name": connection.name, "destination_id": connection.destination_id},
    )
    connection.delete()


def connections_follow_version(
    *, destination: Destination, version: IntegrationVersion, acting_user: User | None
) -> None:
    """`destination` serves `version` now: move its connections onto it where their values
    fit, and ask the organisations of the others to reconnect (their admins are emailed).
    Runs inside the transaction that changed the destination."""
    rows = (
        Connection.objects.select_for_update(of=("self",))
        .filter(destination=destination)
        .select_related("org", "version")
        .order_by("pk")
    )
    for connection in rows:
        before = {
            "version": connection.version.number,
            "needs_reconnect": connection.needs_reconnect,
        }
        if connection.version_id == version.pk:
            problem = None
        else:
            problem = upgrade_problem(
                connection.version.config,
                version.config,
                values=connection.values,
                mapping=connection.mapping,
                number=version.number,
            )
        if problem is None:
            if connection.version_id == version.pk and not connection.needs_reconnect:
                continue
            connection.version = version
            connection.needs_reconnect, connection.reconnect_reason = False, ""
            action = "connection.upgraded"
        else:
            if connection.needs_reconnect and connection.reconnect_reason == problem[:300]:
                continue
            connection.needs_reconnect, connection.reconnect_reason = True, problem[:300]
            action = "connection.needs_reconnect"
            _email_reconnect(connection, version, problem)
        connection.updated_at = timezone.now()
        connection.save(
            update_fields=["version", "needs_reconnect", "reconnect_reason", "updated_at"]
        )
        audit_record(
            actor=acting_user,
            org=connection.org,
            action=action,
            target=connection,
            before=before,
            after={
                "version": connection.version.number,
                "needs_reconnect": connection.needs_reconnect,
                "reason": connection.reconnect_reason,
            },
        )


def _email_reconnect(connection: Connection, version: IntegrationVersion, problem: str) -> None:
    admins = Membership.objects.filter(org=connection.org, role=MemberRole.ADMIN).values_list(
        "user__email", flat=True
    )
    email_on_commit(
        to=admins,
        subject=f"Reconnect {connection.name}: {version.display_name} changed its Connect form",
        template="emails/connection_reconnect.txt",
        context={"connection": connection, "version": version, "problem": problem},
    )


# --- cohort syncs ---------------------------------------------------------------------------


@transaction.atomic
def sync_create(
    *,
    acting_user: User,
    connection: Connection,
    cohort: Cohort | None,
    cadence_value: Any,
    daily_hour: Any = None,
) -> CohortSync:
    """Sync a cohort of the connection's project through it, on a cadence."""
    require_manager(acting_user, connection.org)
    if cohort is None or cohort.project_id != connection.project_id:
        raise ActionError(
            f"Choose a cohort of the project {connection.project.name}.", field="cohort_id"
        )
    if CohortSync.objects.filter(connection=connection, cohort=cohort).exists():
        raise ActionError(
            f"{cohort.name} already syncs through {connection.name}.", field="cohort_id"
        )
    chosen, hour = _clean_schedule(cadence_value, daily_hour)
    sync = CohortSync(
        connection=connection,
        cohort=cohort,
        cadence=chosen,
        daily_hour=hour,
        created_by=acting_user,
    )
    _schedule(sync)
    sync.save()
    audit_record(
        actor=acting_user,
        org=connection.org,
        action="sync.created",
        target=sync,
        label=_sync_label(sync),
        after={"cohort_id": cohort.public_id, "connection": connection.pk, **_schedule_facts(sync)},
    )
    return sync


@transaction.atomic
def sync_update(
    *, acting_user: User, sync: CohortSync, cadence_value: Any, daily_hour: Any = None
) -> CohortSync:
    """Change when a sync runs by itself."""
    require_manager(acting_user, sync.connection.org)
    sync = _lock_sync(sync)
    before = _schedule_facts(sync)
    sync.cadence, sync.daily_hour = _clean_schedule(cadence_value, daily_hour)
    _schedule(sync)
    sync.save(update_fields=["cadence", "daily_hour", "next_run_at"])
    audit_record(
        actor=acting_user,
        org=sync.connection.org,
        action="sync.updated",
        target=sync,
        label=_sync_label(sync),
        before=before,
        after=_schedule_facts(sync),
    )
    return sync


@transaction.atomic
def sync_pause(*, acting_user: User, sync: CohortSync) -> CohortSync:
    """Stop scheduled runs (a run already started finishes)."""
    require_manager(acting_user, sync.connection.org)
    sync = _lock_sync(sync)
    if sync.paused:
        raise ActionError("This sync is already paused.", status=409, code="invalid_transition")
    sync.paused, sync.paused_reason, sync.next_run_at = True, "", None
    sync.save(update_fields=["paused", "paused_reason", "next_run_at"])
    audit_record(
        actor=acting_user,
        org=sync.connection.org,
        action="sync.paused",
        target=sync,
        label=_sync_label(sync),
    )
    return sync


@transaction.atomic
def sync_resume(*, acting_user: User, sync: CohortSync) -> CohortSync:
    """Schedule a paused sync again (also after it paused itself on failures)."""
    require_manager(acting_user, sync.connection.org)
    sync = _lock_sync(sync)
    if not sync.paused:
        raise ActionError("This sync is not paused.", status=409, code="invalid_transition")
    before = {"paused_reason": sync.paused_reason}
    sync.paused, sync.paused_reason, sync.failed_runs_in_row = False, "", 0
    _schedule(sync)
    sync.save(update_fields=["paused", "paused_reason", "failed_runs_in_row", "next_run_at"])
    audit_record(
        actor=acting_user,
        org=sync.connection.org,
        action="sync.resumed",
        target=sync,
        label=_sync_label(sync),
        before=before,
        after={"next_run_at": sync.next_run_at.isoformat() if sync.next_run_at else None},
    )
    return sync


def _audit_run(acting_user: User, sync: CohortSync, run: SyncRun) -> None:
    audit_record(
        actor=acting_user,
        org=sync.connection.org,
        action="sync.run_started",
        target=sync,
        label=_sync_label(sync),
        after={"run": run.pk, "kind": run.kind, "new_list": run.new_list},
    )


@transaction.atomic
def sync_run_now(*, acting_user: User, sync: CohortSync) -> SyncRun:
    """Sync now: send what changed since the last delivered state."""
    require_manager(acting_user, sync.connection.org)
    run = runs.run_create(sync, kind=RunKind.MANUAL, acting_user=acting_user)
    _audit_run(acting_user, sync, run)
    return run


@transaction.atomic
def sync_retry_failed(*, acting_user: User, sync: CohortSync) -> SyncRun:
    """Re-send only what the failed batches of the last run did not deliver."""
    require_manager(acting_user, sync.connection.org)
    run = runs.retry_failed(sync, acting_user)
    _audit_run(acting_user, sync, run)
    return run


@transaction.atomic
def sync_full_resync(*, acting_user: User, sync: CohortSync, new_list: bool = False) -> SyncRun:
    """Send the whole cohort again; for a list integration, optionally to a new list."""
    require_manager(acting_user, sync.connection.org)
    run = runs.full_resync(sync, acting_user, new_list=new_list)
    _audit_run(acting_user, sync, run)
    return run


@transaction.atomic
def sync_delete(*, acting_user: User, sync: CohortSync, empty_first: bool) -> SyncRun | None:
    """Delete a sync, leaving the partner's list as it is; or, with `empty_first`, in one
    step: queue a final run that removes every member the partner holds, and delete the
    sync when that run succeeds (`delete_emptied_sync`, on the worker). Meanwhile the sync
    is paused and shown as being deleted; if the emptying run does not succeed the sync
    stays, saying so, and can be deleted again either way. Returns the emptying run, or
    None once deleted (at once when nothing was delivered)."""
    require_manager(acting_user, sync.connection.org)
    sync = _lock_sync(sync)
    if sync.runs.active().exists():
        message = (
            "This sync is being deleted: its partner's list is being emptied. Wait for that "
            "run to finish."
            if sync.delete_when_emptied
            else "A run of this sync is queued or running: wait for it to finish, or pause "
            "the sync and wait, then delete it."
        )
        raise ActionError(message, status=409, code="sync_busy")
    label = _sync_label(sync)
    delivered = sync.delivered_count or DeliveredMember.objects.filter(sync_id=sync.pk).exists()
    if empty_first and delivered:
        run = runs.run_create(sync, kind=RunKind.EMPTY, acting_user=acting_user)
        sync.delete_when_emptied, sync.paused = True, True
        sync.paused_reason, sync.next_run_at = EMPTYING_REASON, None
        sync.save(update_fields=["delete_when_emptied", "paused", "paused_reason", "next_run_at"])
        audit_record(
            actor=acting_user,
            org=sync.connection.org,
            action="sync.emptying",
            target=sync,
            label=label,
            after={"run": run.pk, "delivered": sync.delivered_count, "then": "delete"},
        )
        # With the broker down, the commit raises 503 and the run's `close_unsent` leaves
        # the sync paused, no longer being deleted, saying so.
        return run
    _delete(sync, acting_user, label)
    return None


def _delete(sync: CohortSync, acting_user: User | None, label: str, **facts: Any) -> None:
    audit_record(
        actor=acting_user,
        org=sync.connection.org,
        action="sync.deleted",
        target=sync,
        label=label,
        before={
            "cohort_id": sync.cohort.public_id,
            "list_id": sync.list_id,
            "delivered": sync.delivered_count,
            **_schedule_facts(sync),
            **facts,
        },
    )
    sync.delete()


def delete_emptied_sync(sync: CohortSync, run: SyncRun) -> None:
    """On the worker, inside the transaction that ends the emptying run: the partner's
    list is empty, so the sync is deleted (its runs with it), as `sync_delete` promised
    the person who asked."""
    _delete(sync, run.started_by, _sync_label(sync), emptied_by_run=run.pk)
