"""The scheduler: due syncs are found in the database and started, exactly once.

Each sync keeps its next run time (`next_run_at`, from `syncs.cadence`). The periodic task
`syncs.dispatch_due` (beat, every `SYNC_DISPATCH_SECONDS`) claims due syncs with
`SELECT … FOR UPDATE SKIP LOCKED`, moves each to its next grid point after now and starts a
scheduled run, in one transaction. So:

- two beats (or two dispatchers at once) never start a sync twice: a row one of them
  holds is skipped by the other, and once it commits the sync is no longer due;
- a beat that was down for a while starts each sync once, not once per missed hour
  (missed runs are coalesced);
- a sync still running when it falls due is not started again: its next point is taken
  and the run in progress covers it;
- nothing lives in beat's own schedule file, so restarting beat loses nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from portal.errors import ActionError
from syncs.cadence import next_run_at
from syncs.models import Cadence, CohortSync, RunKind, SyncRun
from syncs.runs import run_create

logger = logging.getLogger("syncs")

DISPATCH_LIMIT = 200


def schedule_next(sync: CohortSync, *, now: datetime | None = None) -> CohortSync:
    """Set the sync's next run time from its cadence (after a create, an edit, a resume
    or a pause) and save it."""
    sync.next_run_at = next_run_at(sync, now or timezone.now())
    CohortSync.objects.filter(pk=sync.pk).update(next_run_at=sync.next_run_at)
    return sync


def dispatch_due(*, now: datetime | None = None, limit: int = DISPATCH_LIMIT) -> int:
    """Start a scheduled run of every due sync (see the module docstring); returns how
    many runs were started."""
    now = now or timezone.now()
    started = 0
    with transaction.atomic():
        due = list(
            CohortSync.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(paused=False, next_run_at__lte=now)
            .exclude(cadence=Cadence.MANUAL)
            .select_related("connection__version")
            .order_by("next_run_at", "pk")[:limit]
        )
        for sync in due:
            CohortSync.objects.filter(pk=sync.pk).update(next_run_at=next_run_at(sync, now))
            if sync.connection.needs_reconnect:
                continue
            if SyncRun.objects.filter(sync=sync).active().exists():
                continue  # the run in progress covers this point
            try:
                run_create(sync, kind=RunKind.SCHEDULED)
            except ActionError as refused:
                logger.info("sync %s not started: %s", sync.pk, refused.message)
                continue
            started += 1
        # Syncs that have a cadence but no next run time yet (just created or resumed).
        unscheduled = list(
            CohortSync.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(paused=False, next_run_at__isnull=True)
            .exclude(cadence=Cadence.MANUAL)[:limit]
        )
        for sync in unscheduled:
            schedule_next(sync, now=now)
    return started
