"""Housekeeping of cohort syncs (beat, hourly):

- request and response bodies of sync exchanges older than `SYNC_BODY_RETENTION_DAYS` are
  emptied (`bodies_pruned`); statuses, counts, sizes and diagnoses stay, so the delivery
  log still says what happened;
- the users frozen in the batches of runs that finished before then are dropped too
  (except the last run of each sync, which Retry failed may still need);
- cohort changes every sync of the cohort has delivered past are deleted: a sync only
  reads changes after the snapshot its partner holds (`syncs.planning`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from portal.models import Cohort, CohortChange
from syncs.models import PLANNED_COLUMNS, CohortSync, SyncBatch, SyncExchange, SyncRun

logger = logging.getLogger("syncs")

CHUNK = 2_000


def prune_exchange_bodies(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.SYNC_BODY_RETENTION_DAYS)
    pruned = 0
    while True:
        ids = list(
            SyncExchange.objects.filter(bodies_pruned=False, started_at__lt=cutoff).values_list(
                "pk", flat=True
            )[:CHUNK]
        )
        if not ids:
            return pruned
        pruned += SyncExchange.objects.filter(pk__in=ids).update(
            request_body="",
            response_body="",
            request_body_truncated=False,
            response_body_truncated=False,
            bodies_pruned=True,
        )


def prune_batch_users(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.SYNC_BODY_RETENTION_DAYS)
    latest = CohortSync.objects.annotate(last=Max("runs__id")).values_list("last", flat=True)
    old_runs = SyncRun.objects.filter(finished_at__lt=cutoff).exclude(pk__in=latest)
    pruned = 0
    while True:
        ids = list(
            SyncBatch.objects.filter(run__in=old_runs)
            .exclude(member_keys=[])
            .values_list("pk", flat=True)[: CHUNK // 10]
        )
        if not ids:
            return pruned
        pruned += SyncBatch.objects.filter(pk__in=ids).update(
            **{column: [] for column in PLANNED_COLUMNS}
        )


def change_log_bound(cohort: Cohort) -> int:
    """The newest snapshot whose changes no sync of the cohort will read again."""
    syncs = CohortSync.objects.filter(cohort=cohort)
    bound = cohort.snapshot
    delivered = syncs.aggregate(low=Min("delivered_snapshot"))["low"]
    if delivered is not None:
        bound = min(bound, delivered)
    planned = (
        SyncRun.objects.filter(sync__in=syncs, planned=True)
        .active()
        .aggregate(low=Min("snapshot"))["low"]
    )
    if planned is not None:
        bound = min(bound, planned)
    return int(bound)


def prune_cohort_changes() -> int:
    deleted = 0
    cohorts = Cohort.objects.filter(pk__in=CohortChange.objects.values("cohort_id").distinct())
    for cohort in cohorts:
        removed, _ = CohortChange.objects.filter(
            cohort=cohort, snapshot__lte=change_log_bound(cohort)
        ).delete()
        deleted += removed
    return deleted


def run_housekeeping() -> dict[str, int]:
    done = {
        "exchange_bodies": prune_exchange_bodies(),
        "batch_users": prune_batch_users(),
        "cohort_changes": prune_cohort_changes(),
    }
    logger.info("sync housekeeping: %s", done)
    return done
