"""Connections, syncs and runs as pages and the API show them: secrets masked, schedules
and states in words, progress as a percentage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncengine.presenters import masked_values
from syncs.models import (
    Cadence,
    CohortSync,
    Connection,
    RunKind,
    RunStatus,
    SyncExchange,
    SyncRun,
)

RUN_BADGES = {
    RunStatus.QUEUED: "badge-warning",
    RunStatus.RUNNING: "badge-info",
    RunStatus.SUCCEEDED: "badge-success",
    RunStatus.PARTIAL: "badge-warning",
    RunStatus.FAILED: "badge-danger",
    RunStatus.CANCELED: "",
}


def connection_values(connection: Connection) -> dict[str, Any]:
    """The connection's Connect-modal values with every secret masked."""
    return masked_values(connection.values, connection.version.config)


def schedule_text(sync: CohortSync) -> str:
    """`Every hour`, `Every day at 06:00 UTC` or `Manual only`."""
    if sync.cadence == Cadence.DAILY and sync.daily_hour is not None:
        return f"Every day at {sync.daily_hour:02d}:00 UTC"
    return Cadence(sync.cadence).label


@dataclass(frozen=True)
class SyncState:
    """One word for where a sync stands, with the badge it wears and why."""

    key: str
    label: str
    badge: str
    reason: str = ""


def sync_state(sync: CohortSync, active: SyncRun | None = None) -> SyncState:
    connection = sync.connection
    if connection.needs_reconnect:
        return SyncState("reconnect", "Reconnect", "badge-danger", connection.reconnect_reason)
    if sync.delete_when_emptied:
        return SyncState("deleting", "Deleting — emptying the partner's list", "badge-warning")
    if active is not None:
        label = "Running" if active.status == RunStatus.RUNNING else "Queued"
        return SyncState(active.status, label, RUN_BADGES[RunStatus(active.status)])
    if sync.paused:
        return SyncState("paused", "Paused", "badge-warning", sync.paused_reason)
    if sync.cadence == Cadence.MANUAL:
        return SyncState("manual", "Manual", "")
    return SyncState("scheduled", "Scheduled", "badge-success")


def run_badge(run: SyncRun) -> str:
    return RUN_BADGES.get(RunStatus(run.status), "")


def run_percent(run: SyncRun) -> int:
    """How much of the run's plan is done (0 until it is planned)."""
    if run.status == RunStatus.SUCCEEDED:
        return 100
    if not run.batches_total:
        return 0
    return min(100, int(100 * run.batches_done / run.batches_total))


def run_counts(run: SyncRun) -> dict[str, int]:
    return {
        "entered": run.entered,
        "left": run.left,
        "sent": run.sent,
        "failed": run.failed,
        "skipped": run.skipped,
    }


def run_kind_label(kind: str) -> str:
    return RunKind(kind).label if kind in RunKind.values else kind


def is_list(sync: CohortSync) -> bool:
    return sync.connection.version.integration_type == "list"


class InspectedExchange:
    """A sync exchange as the test page's inspector reads it: on a sync exchange the
    `batch_id` attribute is the batch row's key, while the inspector shows the batch's
    Idempotency-Key under that name."""

    def __init__(self, exchange: SyncExchange):
        self._exchange = exchange

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exchange, name)

    @property
    def batch_id(self) -> str:
        batch = self._exchange.batch
        return batch.batch_id if batch is not None else ""
