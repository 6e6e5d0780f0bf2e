"""The review side: reviewers' and partners' comments on a submitted version, and the
automated conformance checks a worker runs against the partner's endpoint."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from integrations.models import IntegrationVersion
from portal.crypto import EncryptedJSONField
from portal.jobs import Job


class ReviewComment(models.Model):
    """A message on a submitted version, from a reviewer or the partner; decisions that
    need words (request changes, reject) are comments too."""

    class Kind(models.TextChoices):
        COMMENT = "comment", "Comment"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        REJECTED = "rejected", "Rejected"
        APPROVED = "approved", "Approved"

    version = models.ForeignKey(
        IntegrationVersion, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.COMMENT)
    body = models.TextField(max_length=4000)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.version_id}"


class ConformanceStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    ERROR = "error", "Could not run"


CONFORMANCE_LOST_MESSAGE = (
    "The worker running these checks stopped before they finished. Run them again."
)


class ConformanceRun(Job):
    """The automated conformance checks of a submitted version, run by a worker against
    the partner's endpoint. `values` (the Connect-modal credentials used) are encrypted and
    never leave the database except inside the worker."""

    FINISHED_STATUSES = frozenset({ConformanceStatus.DONE, ConformanceStatus.ERROR})

    version = models.ForeignKey(
        IntegrationVersion, on_delete=models.CASCADE, related_name="conformance_runs"
    )
    status = models.CharField(
        max_length=10, choices=ConformanceStatus.choices, default=ConformanceStatus.QUEUED
    )
    values = EncryptedJSONField(default=dict, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"conformance {self.pk} of version {self.version_id} ({self.status})"

    def close_unsent(self) -> bool:
        return ConformanceRun.finish(
            self.pk,
            None,
            status=ConformanceStatus.ERROR,
            error="The task queue could not be reached, so the checks never started and "
            "nothing was sent. Run them again.",
        )

    def on_lease_lapsed(self, *, worker_lost: bool) -> bool:
        # Each check's request is sent once and not replayed behind the reviewer's back.
        return ConformanceRun.finish(
            self.pk, None, status=ConformanceStatus.ERROR, error=CONFORMANCE_LOST_MESSAGE
        )

    @property
    def passed_count(self) -> int:
        return sum(result.get("status") == "passed" for result in self.results)

    @property
    def failed_count(self) -> int:
        return sum(result.get("status") == "failed" for result in self.results)
