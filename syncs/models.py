"""Connections of an organisation to a destination, the cohort syncs on them, and what
each sync run planned, sent and the partner acknowledged.

- `Connection`: one organisation's use of a destination in one project: the Connect-modal
  values (secrets encrypted) and mapping choices, and the version of the integration it
  runs on (kept until the org upgrades or a compatible new version upgrades it).
- `CohortSync`: one cohort sent through a connection on a cadence; its `list_id` (list
  integrations) and its delivered state.
- `SyncRun`: one run of a sync, a `Job`: planned first (`SyncBatch` rows), then sent batch
  by batch, resumable from its plan after a crash.
- `SyncBatch`: one planned request batch, its users frozen at planning time, its
  Idempotency-Key (`batch_id`) and its outcome.
- `DeliveredMember`: per sync, each user the partner acknowledged as in the cohort (and
  the partner's id for them when a lookup resolved one). Written in the transaction that
  marks the batch done, so it is exactly what the partner holds.
- `SyncExchange`: every attempt of every request, masked, as the inspector shows it.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from integrations.models import Destination, IntegrationVersion
from portal.crypto import EncryptedJSONField
from portal.jobs import Job, queue_patience
from portal.models import Cohort, MemberKeyField, Organization, Project, member_user
from syncengine.models import RecordedExchange


class Connection(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="connections")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="connections")
    destination = models.ForeignKey(
        Destination, on_delete=models.CASCADE, related_name="connections"
    )
    version = models.ForeignKey(IntegrationVersion, on_delete=models.RESTRICT, related_name="+")
    name = models.CharField(max_length=120)
    values = EncryptedJSONField(default=dict, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    # A newer version whose Connect modal differs: syncs wait until the org reconnects.
    needs_reconnect = models.BooleanField(default=False)
    reconnect_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "org", name="connection_name_unique_in_org")
        ]

    def __str__(self) -> str:
        return self.name


class Cadence(models.TextChoices):
    HOURLY = "hourly", "Every hour"
    DAILY = "daily", "Every day"
    MANUAL = "manual", "Manual only"


class CohortSync(models.Model):
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="syncs")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="syncs")
    cadence = models.CharField(max_length=10, choices=Cadence.choices, default=Cadence.DAILY)
    daily_hour = models.PositiveSmallIntegerField(null=True, blank=True)  # UTC, 0-23
    paused = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=300, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    list_id = models.CharField(max_length=200, blank=True)
    # The cohort snapshot the partner holds exactly (the last run delivered all of it);
    # None when not known to be exact (never synced, or a run ended with failures).
    delivered_snapshot = models.PositiveIntegerField(null=True, blank=True)
    delivered_count = models.PositiveIntegerField(default=0)
    failed_runs_in_row = models.PositiveSmallIntegerField(default=0)
    # Deleting with "empty the partner's list first": the emptying run is queued or
    # running, and the sync is deleted when it succeeds (see `syncs.actions.sync_delete`).
    delete_when_emptied = models.BooleanField(default=False)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "cohort"], name="one_sync_per_cohort"),
            models.CheckConstraint(
                condition=Q(daily_hour__isnull=True) | Q(daily_hour__lte=23),
                name="daily_hour_is_an_hour",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cohort} → {self.connection}"


# A run whose workers died this many times is failed instead of queued again.
MAX_CRASHES = 4


class RunKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Sync now"
    RETRY = "retry", "Retry failed"
    FULL_RESYNC = "full_resync", "Full resync"
    EMPTY = "empty", "Empty the list"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partly failed"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class SyncRun(Job):
    FINISHED_STATUSES: ClassVar[frozenset[str]] = frozenset(
        {RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELED}
    )

    sync = models.ForeignKey(CohortSync, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=12, choices=RunKind.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    version = models.ForeignKey(IntegrationVersion, on_delete=models.RESTRICT, related_name="+")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Full resync of a list integration: start a new list instead of reusing the old one.
    new_list = models.BooleanField(default=False)
    snapshot = models.PositiveIntegerField(null=True, blank=True)
    planned = models.BooleanField(default=False)
    list_id = models.CharField(max_length=200, blank=True)
    # The attempt create_list resumes at after a deferred wait.
    list_attempt = models.PositiveSmallIntegerField(default=1)
    # Not before this time (a partner asked to wait, or a batch was deferred).
    not_before = models.DateTimeField(null=True, blank=True)
    crashes = models.PositiveSmallIntegerField(default=0)
    entered = models.PositiveIntegerField(default=0)
    left = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    batches_total = models.PositiveIntegerField(default=0)
    batches_done = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)
    diagnosis = models.JSONField(null=True, blank=True)
    # A retry run re-sends what this run's failed batches did not deliver.
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the run was last put on the queue (created, resumed or deferred): the queue lag.
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sync"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_run_per_sync",
            )
        ]

    def __str__(self) -> str:
        return f"sync run {self.pk} ({self.kind}, {self.status})"

    @property
    def looks_abandoned(self) -> bool:
        """Running: its lease lapsed. Queued: no worker took it within the queue patience
        counted from when it was last queued (or from when its countdown ends)."""
        if self.status == RunStatus.QUEUED:
            since = max(self.queued_at, self.not_before or self.queued_at)
            return timezone.now() - since > queue_patience()
        return super().looks_abandoned

    def on_lease_lapsed(self, *, worker_lost: bool) -> bool:
        """A run is resumable from its plan: queue it again. A run whose workers died
        `MAX_CRASHES` times is failed honestly instead of being tried forever."""
        from syncs.runs import enqueue_run

        now = timezone.now()
        held = SyncRun.objects.filter(pk=self.pk, status=self.status, lease_token=self.lease_token)
        if self.status == RunStatus.RUNNING and self.crashes + 1 >= MAX_CRASHES:
            summary = (
                f"The worker running this sync stopped {self.crashes + 1} times before the "
                "run finished, so it was given up. What the partner acknowledged is kept; "
                "the next run sends the rest."
            )
            changed = held.update(
                status=RunStatus.FAILED,
                finished_at=now,
                lease_expires_at=None,
                crashes=self.crashes + 1,
                summary=summary,
            )
            if changed:
                CohortSync.objects.filter(pk=self.sync_id).update(delivered_snapshot=None)
                if self.kind == RunKind.EMPTY:
                    emptying_failed(self.sync_id)
            return bool(changed)
        with transaction.atomic():
            changed = held.update(
                status=RunStatus.QUEUED,
                lease_expires_at=None,
                lease_token="",
                queued_at=now,
                crashes=self.crashes + (1 if self.status == RunStatus.RUNNING else 0),
            )
            if changed:
                enqueue_run(self.pk, self.not_before)
        return bool(changed)

    def close_unsent(self) -> bool:
        """The run's task never reached the broker: it ends canceled, nothing sent (a run
        that would be queued again could never start either)."""
        summary = (
            "The task queue could not be reached, so this run never started and nothing "
            "was sent. Start it again in a few minutes."
        )
        closed = SyncRun.finish(self.pk, None, status=RunStatus.CANCELED, summary=summary)
        if closed and self.kind == RunKind.EMPTY:
            emptying_failed(self.sync_id)
        return closed


EMPTYING_FAILED_REASON = (
    "Not deleted: emptying the partner's list did not succeed (its run says why). Delete "
    "the sync again to retry emptying the list, or delete it leaving the list as it is."
)


def emptying_failed(sync_id: int) -> None:
    """The run that empties a sync's list before deleting it did not succeed: the sync
    stays (paused), saying so, and can be deleted again either way."""
    CohortSync.objects.filter(pk=sync_id, delete_when_emptied=True).update(
        delete_when_emptied=False,
        paused=True,
        paused_reason=EMPTYING_FAILED_REASON,
        next_run_at=None,
    )


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    PARTIAL = "partial", "Partly delivered"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class SyncBatch(models.Model):
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="batches")
    sequence = models.PositiveIntegerField()
    endpoint = models.CharField(max_length=20)
    in_cohort = models.BooleanField(null=True)
    batch_id = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    # The planned users, frozen, column by column: one JSON array per column, the users in
    # the same (key) order in each. A user is not one JSON object: building a million of
    # them in SQL was half of a first sync; the sending thread builds each from its columns
    # (`planned_users`), and settling copies the columns into the delivered state as they
    # are. Empty once pruned (`syncs.housekeeping`).
    member_keys = models.JSONField(default=list)
    partner_ids = models.JSONField(default=list)  # known partner id, or null
    user_ids = models.JSONField(default=list)
    amplitude_ids = models.JSONField(default=list)
    device_ids = models.JSONField(default=list)
    emails = models.JSONField(default=list)
    properties = models.JSONField(default=list)
    status = models.CharField(
        max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.JSONField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A batch whose retry waits were deferred resumes at this attempt, without the users
    # a per-user endpoint already delivered or skipped (`done_keys`).
    next_attempt = models.PositiveSmallIntegerField(default=1)
    done_keys = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="one_batch_per_sequence")
        ]

    def __str__(self) -> str:
        return f"batch {self.sequence} of run {self.run_id} ({self.endpoint})"

    def planned_users(self) -> list[PlannedUser]:
        """The batch's users, in order, from its columns (see `PLANNED_COLUMNS`)."""
        return planned_users(*(getattr(self, name) for name in PLANNED_COLUMNS))


# A planned batch's columns, in the order `planned_users` takes them.
PLANNED_COLUMNS = (
    "member_keys",
    "partner_ids",
    "user_ids",
    "amplitude_ids",
    "device_ids",
    "emails",
    "properties",
)


class PlannedUser(NamedTuple):
    key: str
    user: dict[str, Any]
    partner_id: str | None


def planned_users(
    keys: list[str],
    partner_ids: list[str | None],
    user_ids: list[str],
    amplitude_ids: list[int | None],
    device_ids: list[str],
    emails: list[str],
    properties: list[dict[str, Any]],
) -> list[PlannedUser]:
    """Users as templates see them (`portal.models.member_user`) from a batch's columns."""
    return [
        PlannedUser(key, member_user(props, user_id, amplitude_id, device_id, email), partner)
        for key, partner, user_id, amplitude_id, device_id, email, props in zip(
            keys, partner_ids, user_ids, amplitude_ids, device_ids, emails, properties, strict=True
        )
    ]


class DeliveredMember(models.Model):
    pk = models.CompositePrimaryKey("sync_id", "member_key")
    # The primary key's index starts with the sync: no second index on it (every settled
    # batch writes here). No foreign key constraint in the database either: its check runs
    # once per row at commit and cost a first sync of a million members 4 s; rows only
    # come from settling a run of an existing sync, and deleting the sync deletes them
    # (Django's cascade, one DELETE).
    sync = models.ForeignKey(
        CohortSync,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    member_key = MemberKeyField(max_length=210)
    partner_id = models.CharField(max_length=200, blank=True)
    # The user as the partner received them, in the member's columns (`as_user`): a
    # removal sends what the addition sent, even once the member has left the cohort.
    user_id = models.CharField(max_length=200, blank=True)
    amplitude_id = models.BigIntegerField(null=True, blank=True)
    device_id = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    properties = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.member_key

    def as_user(self) -> dict[str, Any]:
        """The user as the partner received them (see `portal.models.member_user`)."""
        return member_user(
            self.properties, self.user_id, self.amplitude_id, self.device_id, self.email
        )


class SyncExchange(RecordedExchange):
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="exchanges")
    batch = models.ForeignKey(
        SyncBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="exchanges"
    )
    sequence = models.PositiveIntegerField()
    step = models.CharField(max_length=20)
    # Bodies are emptied after SYNC_BODY_RETENTION_DAYS; counts stay.
    bodies_pruned = models.BooleanField(default=False)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="one_sync_exchange_per_seq")
        ]

    def __str__(self) -> str:
        return f"sync run {self.run_id} #{self.sequence} {self.step}"
