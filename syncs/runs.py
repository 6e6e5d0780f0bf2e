"""Starting sync runs: the one place a `SyncRun` row is created and put on the queue.

    run_create(sync, kind="manual", acting_user=alice)      # Sync now
    retry_failed(sync, acting_user=alice)                   # re-send what the last run failed
    full_resync(sync, acting_user=alice, new_list=True)     # everyone again, to a new list
    run_create(sync, kind="empty")                          # empty the partner's list first

At most one run of a sync is queued or running at a time (the `one_active_run_per_sync`
constraint): a second start is refused with 409 `sync_busy`. The run is enqueued when the
transaction commits, with its id as the only task argument (a run someone started, through
`portal.jobs.enqueue_on_commit`: with the broker unreachable the run ends canceled at once
and the request answers 503 `queue_unavailable`); the worker plans it (which
users, in which batches) and sends it (`syncs.engine`). The action functions of the pages
and the API (syncs/actions.py) call these and record the audit entry.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.errors import ActionError
from portal.jobs import enqueue_on_commit
from portal.models import User
from syncs.models import BatchStatus, CohortSync, RunKind, RunStatus, SyncRun

BUSY_MESSAGE = (
    "This sync is already running (or queued to run). Wait for it to finish, then try again."
)


def enqueue_run(run_id: int, not_before: datetime | None = None) -> None:
    """Put the run's task on the queue once the current transaction commits; with a
    `not_before` in the future, as a countdown."""
    from syncs.tasks import sync_run_execute

    countdown = (not_before - timezone.now()).total_seconds() if not_before else 0.0
    if countdown > 0:

        def later() -> None:
            sync_run_execute.apply_async((run_id,), countdown=countdown)

        transaction.on_commit(later)
    else:
        sync_run_execute.delay_on_commit(run_id)


def run_create(
    sync: CohortSync,
    *,
    kind: str,
    acting_user: User | None = None,
    new_list: bool = False,
    enqueue: bool = True,
    retry_of: SyncRun | None = None,
) -> SyncRun:
    """A queued run of `sync` (see the module docstring). `new_list` only with a full
    resync of a list-based sync. Refused (409) while another run is queued or running, or
    while the connection waits for the org to reconnect."""
    if kind not in RunKind.values:
        raise ActionError(f"Unknown kind of run {kind!r}.", field="kind")
    if kind == RunKind.RETRY and retry_of is None:
        raise ActionError("A retry names the run it retries: use retry_failed.", field="kind")
    connection = sync.connection
    if new_list and (kind != RunKind.FULL_RESYNC or connection.version.integration_type != "list"):
        raise ActionError(
            "A new list can only be started by a full resync of a list-based destination.",
            field="new_list",
        )
    if connection.needs_reconnect and kind != RunKind.EMPTY:
        reason = connection.reconnect_reason or "the destination changed its Connect form"
        raise ActionError(
            f"Reconnect {connection.name} before syncing: {reason}.",
            status=409,
            code="needs_reconnect",
        )
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                sync=sync,
                kind=kind,
                version=connection.version,
                started_by=acting_user,
                new_list=new_list,
                retry_of=retry_of,
                status=RunStatus.QUEUED,
                queued_at=timezone.now(),
            )
            if enqueue and kind == RunKind.SCHEDULED:
                enqueue_run(run.pk)
            elif enqueue:
                # Started by someone: with the broker down the run is closed and the
                # request answers 503 (`portal.jobs.enqueue_on_commit`).
                from syncs.tasks import sync_run_execute

                enqueue_on_commit(sync_run_execute, run)
    except IntegrityError:
        if SyncRun.objects.filter(sync=sync).active().exists():
            raise ActionError(BUSY_MESSAGE, status=409, code="sync_busy") from None
        raise
    return run


def last_finished_run(sync: CohortSync) -> SyncRun | None:
    return (
        SyncRun.objects.filter(sync=sync, status__in=SyncRun.FINISHED_STATUSES)
        .exclude(status=RunStatus.CANCELED)
        .order_by("-created_at", "-id")
        .first()
    )


def retry_failed(
    sync: CohortSync, acting_user: User | None = None, *, enqueue: bool = True
) -> SyncRun:
    """A run that re-sends only what the failed batches of the last run did not deliver
    (its users planned again, in batches of their own)."""
    last = last_finished_run(sync)
    if last is None or last.status not in (RunStatus.PARTIAL, RunStatus.FAILED):
        raise ActionError(
            "The last run of this sync did not fail, so there is nothing to retry.",
            status=409,
            code="nothing_to_retry",
        )
    if not last.batches.exclude(status__in=(BatchStatus.DELIVERED, BatchStatus.SKIPPED)).exists():
        raise ActionError(
            "The last run failed before it planned any batch: use Sync now instead.",
            status=409,
            code="nothing_to_retry",
        )
    return run_create(
        sync, kind=RunKind.RETRY, acting_user=acting_user, retry_of=last, enqueue=enqueue
    )


def full_resync(
    sync: CohortSync,
    acting_user: User | None = None,
    new_list: bool = False,
    *,
    enqueue: bool = True,
) -> SyncRun:
    """A run that sends every member of the cohort again, ignoring what was delivered
    (and removes those that left); with `new_list`, to a new list."""
    return run_create(
        sync,
        kind=RunKind.FULL_RESYNC,
        acting_user=acting_user,
        new_list=new_list,
        enqueue=enqueue,
    )
