"""Work handed to Celery workers (conformance runs, cohort imports) whose worker is gone.

Tasks are acknowledged late and rejected when their worker is lost, so a message is handed
out again only when the worker that had it died: the broker's visibility timeout outlasts
the task's hard time limit. A task that finds its row still running is therefore looking at
work nobody is doing. And nothing runs longer than the hard time limit, so work unfinished
after that has lost its worker too (closed by housekeeping, or by the next start).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

TASK_LIFETIME = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


def lost_work(rows: QuerySet, *, queued: str, running: str, worker_lost: bool) -> QuerySet:
    """The rows no worker is on any more: with `worker_lost`, those still `running`;
    otherwise those `queued` or `running` for longer than any task may last."""
    if worker_lost:
        return rows.filter(status=running)
    cutoff = timezone.now() - TASK_LIFETIME
    return rows.filter(
        Q(status=queued, created_at__lt=cutoff) | Q(status=running, started_at__lt=cutoff)
    )
