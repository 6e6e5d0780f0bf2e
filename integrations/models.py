"""Integrations: drafts (the partner's workspace), their revisions, and stored logos."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
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
