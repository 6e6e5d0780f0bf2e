"""Integrations: drafts (the partner's workspace), their revisions, and stored logos."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from portal.models import Organization


class IntegrationType(models.TextChoices):
    LIST = "list", "List-based"
    PROPERTY = "property", "Property-based"


class IntegrationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RELEASED = "released", "Released internally"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class StoredLogo(models.Model):
    """A processed logo, stored once per content (drafts, revisions and versions share it)."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    png = models.BinaryField()
    tile_png = models.BinaryField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"logo {self.sha256[:12]} ({self.width}×{self.height})"


class Integration(models.Model):
    """A partner's integration: the current draft configuration and its lifecycle status.

    `config` is the manifest (DESIGN §4) without the logo; `display_name` and
    `integration_type` mirror it as columns for uniqueness and filtering.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="integrations")
    display_name = models.CharField(max_length=100)
    integration_type = models.CharField(max_length=10, choices=IntegrationType.choices)
    config = models.JSONField(default=dict)
    logo = models.ForeignKey(
        StoredLogo, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=IntegrationStatus.choices, default=IntegrationStatus.DRAFT
    )
    revision = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("display_name"), name="integration_name_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def logo_url(self, kind: str = "tile") -> str | None:
        """The logo (`full`) or its 128×128 tile rendition; the URL changes with the
        logo's content, so it can be cached for ever."""
        if self.logo_id is None:
            return None
        path = reverse("api_integration_logo", args=[self.pk])
        return f"{path}?kind={kind}&v={self.logo_id[:12]}"

    @property
    def tile_logo_url(self) -> str | None:
        return self.logo_url("tile")


class IntegrationRevision(models.Model):
    """The draft as it was after one save; any two can be compared and any one restored."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    logo = models.ForeignKey(
        StoredLogo, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "number"], name="one_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} r{self.number}"


class VersionKind(models.TextChoices):
    SUBMISSION = "submission", "Submitted for review"
    INTERNAL = "internal", "Released internally"


class VersionState(models.TextChoices):
    INTERNAL = "internal", "Released internally"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


# The seed document promises partners an answer within about a week.
EXPECTED_REVIEW_TIME = timedelta(days=7)


class IntegrationVersion(models.Model):
    """A frozen configuration: what was submitted for review or released internally.

    Never edited after creation except for its review state; the draft moves on freely.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=VersionKind.choices)
    state = models.CharField(max_length=20, choices=VersionState.choices)
    display_name = models.CharField(max_length=100)
    integration_type = models.CharField(max_length=10, choices=IntegrationType.choices)
    config = models.JSONField()
    logo = models.ForeignKey(
        StoredLogo, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fingerprint = models.CharField(max_length=32)
    # The passing full test the submission rests on (the partner's evidence).
    test_run_id = models.BigIntegerField(null=True, blank=True)
    note = models.TextField(blank=True, max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_reviews",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_message = models.TextField(blank=True, max_length=4000)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "number"], name="one_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} v{self.number} ({self.state})"

    @property
    def expected_review_by(self) -> datetime | None:
        """When a submission in review can expect its answer (None for any other state)."""
        if self.state != VersionState.IN_REVIEW:
            return None
        return self.created_at + EXPECTED_REVIEW_TIME

    @property
    def tile_logo_url(self) -> str | None:
        if self.logo_id is None:
            return None
        return f"{reverse('api_version_logo', args=[self.pk])}?v={self.logo_id[:12]}"


class DestinationChannel(models.TextChoices):
    APPROVED = "approved", "Approved"
    INTERNAL = "internal", "Internal"


class Destination(models.Model):
    """A tile on an organisation's Destinations page, serving one version of an integration.

    An approved tile keeps serving its version until the next approval; an internal tile
    is the partner's own draft release, seen only by the partner's organisation.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="destinations")
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="destinations"
    )
    channel = models.CharField(max_length=10, choices=DestinationChannel.choices)
    version = models.ForeignKey(IntegrationVersion, on_delete=models.RESTRICT, related_name="+")
    # Platform admins may take an approved destination out of the catalogue; existing
    # connections keep working.
    hidden = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["version__display_name", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "channel"], name="one_tile_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.version.display_name} ({self.channel}) for org {self.org_id}"


class Deployment(models.Model):
    """Every time a destination started serving a version (approvals and rollbacks)."""

    destination = models.ForeignKey(
        Destination, on_delete=models.CASCADE, related_name="deployments"
    )
    version = models.ForeignKey(IntegrationVersion, on_delete=models.RESTRICT, related_name="+")
    reason = models.CharField(max_length=20)
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    deployed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-deployed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reason} of v{self.version.number}"
