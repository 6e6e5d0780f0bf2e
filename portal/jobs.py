"""The life cycle every piece of background work shares: test runs, conformance runs,
cohort imports and sync runs are all `Job`s.

    queued ──claim──→ running ──finish──→ one of the model's finished states
       │                 │
       └── no worker ────┴── lease lapsed / worker lost ──→ closed (or resumed) honestly

A worker that claims a job holds a **lease** on it (`lease_expires_at`, with a token only
that worker knows) and renews it while it works (`LeaseKeeper`, a small thread). A worker
killed with `kill -9` stops renewing, so within `JOB_LEASE_SECONDS` (plus one sweep) the
job is found lapsed by `sweep_lapsed_jobs` (beat) and handed to the model's
`on_lease_lapsed`: most jobs close themselves with a record of what happened; jobs whose
work can be resumed safely (sync runs) are queued again. A renewal that finds the lease
gone (the job was closed or taken over) tells the worker to stop.

Every model of every app that inherits `Job` takes part: the sweep finds them through the
app registry, so this ground-floor module never imports the apps above it.

Work is handed to the broker with `enqueue_on_commit`, once the job's row is committed (a
worker handed the message earlier would not find it). If the broker cannot take the
message, the job is closed at once as one that never started (`close_unsent`) and the
request that started it answers 503: nothing is left queued that no worker will ever take.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection, connections, models, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu.exceptions import KombuError

from portal.errors import ActionError

if TYPE_CHECKING:
    from celery import Task

logger = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
ACTIVE_STATUSES = (QUEUED, RUNNING)
QUEUE_UNAVAILABLE_MESSAGE = (
    "The task queue cannot be reached right now, so this was not started and nothing was "
    "sent. Try again in a few minutes."
)
# What publishing raises when the broker is down: kombu's errors, or the socket's own.
BROKER_ERRORS = (KombuError, OSError)


def lease_length() -> timedelta:
    return timedelta(seconds=settings.JOB_LEASE_SECONDS)


def queue_patience() -> timedelta:
    """How long a job may wait in the queue before it counts as one no worker will take."""
    return timedelta(seconds=settings.JOB_QUEUE_PATIENCE_SECONDS)


class JobQuerySet(models.QuerySet):
    def active(self) -> Self:
        return self.filter(status__in=ACTIVE_STATUSES)

    def lapsed(self, now: datetime | None = None) -> Self:
        """Running jobs whose lease ran out, and queued ones no worker took in time."""
        now = now or timezone.now()
        return self.filter(
            Q(status=RUNNING, lease_expires_at__lt=now)
            | Q(status=RUNNING, lease_expires_at__isnull=True, started_at__lt=now - lease_length())
            | Q(status=QUEUED, created_at__lt=now - queue_patience())
        )


class Job(models.Model):
    """Abstract: state, timestamps and a lease. Subclasses declare their `status` choices
    (which must include `queued` and `running`), `FINISHED_STATUSES`, and how a job whose
    worker went away ends (`on_lease_lapsed`)."""

    FINISHED_STATUSES: ClassVar[frozenset[str]] = frozenset()

    status = models.CharField(max_length=10, default=QUEUED)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, editable=False)

    objects = JobQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def looks_abandoned(self) -> bool:
        """No worker is on it: its lease lapsed, or it waited in the queue too long."""
        now = timezone.now()
        if self.status == RUNNING:
            if self.lease_expires_at is None:
                return self.started_at is not None and now - self.started_at > lease_length()
            return self.lease_expires_at < now
        if self.status == QUEUED:
            return now - self.created_at > queue_patience()
        return False

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    # --- the worker's side ---------------------------------------------------------------

    @classmethod
    def claim(cls, pk: int, *, from_statuses: Iterable[str] = (QUEUED,)) -> str | None:
        """Take a job for this worker: a conditional update, so of two workers handed the
        same message only one gets it. Returns the lease token, or None if it was taken.

        `from_statuses` may include `running` for a job whose lease lapsed (resuming)."""
        now = timezone.now()
        token = secrets.token_hex(16)
        claimable = Q(status__in=[s for s in from_statuses if s != RUNNING])
        if RUNNING in from_statuses:
            claimable |= Q(status=RUNNING, lease_expires_at__lt=now) | Q(
                status=RUNNING, lease_expires_at__isnull=True
            )
        claimed = (
            cls.objects.filter(pk=pk)
            .filter(claimable)
            .update(
                status=RUNNING,
                started_at=Coalesce("started_at", models.Value(now)),
                lease_expires_at=now + lease_length(),
                lease_token=token,
            )
        )
        return token if claimed else None

    @classmethod
    def renew_lease(cls, pk: int, token: str) -> bool:
        """Extend the lease; False when it is no longer ours (closed or taken over)."""
        held = cls.objects.filter(pk=pk, status=RUNNING, lease_token=token)
        return bool(held.update(lease_expires_at=timezone.now() + lease_length()))

    @classmethod
    def finish(cls, pk: int, token: str | None, *, status: str, **changes: Any) -> bool:
        """Record the end of a job, only while it is still ours (with `token`) or still
        active (without): a job closed as abandoned stays closed."""
        rows = cls.objects.filter(pk=pk)
        rows = rows.filter(status=RUNNING, lease_token=token) if token else rows.active()
        now = timezone.now()
        return bool(rows.update(status=status, finished_at=now, lease_expires_at=None, **changes))

    # --- when the worker went away -------------------------------------------------------

    def on_lease_lapsed(self, *, worker_lost: bool) -> bool:
        """End (or requeue) a job no worker is on any more; True if it changed anything.
        `worker_lost` means Celery handed the job's message out again because its worker
        died. Subclasses say what the record should show."""
        raise NotImplementedError

    def close_unsent(self) -> bool:
        """Close a job whose task never reached the broker (`enqueue_on_commit`). By
        default it ends like one no worker took; subclasses say it in their own words."""
        return self.on_lease_lapsed(worker_lost=False)

    @classmethod
    def close_if_abandoned(cls, pk: int, *, worker_lost: bool = False) -> bool:
        """Deal with one job if no worker is on it: with `worker_lost`, any job still
        running; otherwise one whose lease lapsed or that no worker took in time."""
        job = cls.objects.filter(pk=pk).first()
        if job is None or job.is_finished:
            return False
        lost = worker_lost and job.status == RUNNING
        if not (lost or job.looks_abandoned):
            return False
        changed = job.on_lease_lapsed(worker_lost=worker_lost)
        if changed:
            logger.warning("%s %s had no worker any more (%s)", cls.__name__, pk, job.status)
        return changed


def enqueue_on_commit(task: Task, job: Job) -> None:
    """Send `task(job.pk)` when the current transaction commits.

    When the broker cannot take the message, the job is closed (`close_unsent`) and an
    `ActionError` with status 503 is raised out of the commit, so the request that started
    the work answers 503 instead of leaving a queued job no worker will ever take.
    """
    model, pk = type(job), job.pk

    def send() -> None:
        try:
            task.apply_async((pk,))
        except BROKER_ERRORS as error:
            logger.warning(
                "%s %s not queued, the broker is unreachable: %r", model.__name__, pk, error
            )
            unsent = model.objects.filter(pk=pk).first()
            if unsent is not None and unsent.status == QUEUED:
                unsent.close_unsent()
            raise ActionError(
                QUEUE_UNAVAILABLE_MESSAGE, status=503, code="queue_unavailable"
            ) from None

    transaction.on_commit(send)


def job_models() -> list[type[Job]]:
    """Every concrete job model of every installed app."""
    return [model for model in apps.get_models() if issubclass(model, Job)]


def sweep_lapsed_jobs() -> dict[str, int]:
    """Close or requeue every job whose worker went away (beat, every few seconds)."""
    counts: dict[str, int] = {}
    for model in job_models():
        lapsed = model.objects.lapsed().values_list("pk", flat=True)
        changed = sum(model.close_if_abandoned(pk) for pk in lapsed)
        if changed:
            counts[model._meta.label] = changed
    return counts


class LeaseKeeper:
    """Renew a job's lease from a small thread while the worker does the job.

        with LeaseKeeper(TestRun, run.pk, token) as lease:
            ...
            if lease.lost: stop early

    The thread has its own database connection (closed when it stops); a renewal that
    cannot reach the database is retried at the next tick, and one that finds the lease
    gone sets `lost` for good.
    """

    def __init__(self, model: type[Job], pk: int, token: str, *, every: float | None = None):
        self.model, self.pk, self.token = model, pk, token
        self.every = every if every is not None else settings.JOB_LEASE_SECONDS / 3
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{model.__name__}-{pk}", daemon=True
        )

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def __enter__(self) -> Self:
        # Work done inside an open transaction (a synchronous call from a test, say) is
        # invisible to other connections until it commits, so no one can sweep it and a
        # renewal from another connection would only wait on its locks.
        if not connection.in_atomic_block:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    if not self.model.renew_lease(self.pk, self.token):
                        self._lost.set()
                        logger.warning(
                            "%s %s: lease lost; the worker stops", self.model.__name__, self.pk
                        )
                        return
                except DatabaseError as error:
                    logger.info(
                        "lease of %s %s not renewed: %s", self.model.__name__, self.pk, error
                    )
        finally:
            connections.close_all()
