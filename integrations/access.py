"""Access helpers for integrations: every lookup is scoped by organisation."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from integrations.models import (
    Destination,
    Integration,
    IntegrationRevision,
    IntegrationVersion,
    VersionKind,
)
from portal.access import as_int
from portal.models import Organization, User


def integrations_for(org: Organization) -> QuerySet[Integration]:
    return Integration.objects.filter(org=org).select_related("logo", "updated_by")


def get_integration(org: Organization, pk, *, for_update: bool = False) -> Integration:
    rows = integrations_for(org)
    if for_update:
        rows = Integration.objects.select_for_update().filter(org=org)
    return get_object_or_404(rows, pk=as_int(pk))


def get_revision(integration: Integration, number) -> IntegrationRevision:
    return get_object_or_404(
        integration.revisions.select_related("logo", "created_by"), number=as_int(number)
    )


def versions_visible_to(user: User, org: Organization | None) -> QuerySet[IntegrationVersion]:
    """Reviewers see every submission; a partner sees the versions of their own org."""
    rows = IntegrationVersion.objects.select_related(
        "integration__org", "created_by", "assigned_to", "decided_by", "logo"
    )
    if user.is_reviewer:
        return rows
    if org is None:
        return rows.none()
    return rows.filter(integration__org=org)


def get_version(user: User, org: Organization | None, pk) -> IntegrationVersion:
    return get_object_or_404(versions_visible_to(user, org), pk=as_int(pk))


def review_queue(
    *,
    state: str | None = None,
    org_id: int | None = None,
    older_than_days: int | None = None,
    assigned_to: User | str | None = "any",
) -> QuerySet[IntegrationVersion]:
    """Submissions for reviewers, oldest first (the next to review is at the top)."""
    rows = IntegrationVersion.objects.filter(kind=VersionKind.SUBMISSION).select_related(
        "integration__org", "created_by", "assigned_to", "logo"
    )
    rows = rows.filter(state=state) if state else rows
    if org_id:
        rows = rows.filter(integration__org_id=org_id)
    if older_than_days:
        rows = rows.filter(created_at__lte=timezone.now() - timedelta(days=older_than_days))
    if assigned_to is None:
        rows = rows.filter(assigned_to__isnull=True)
    elif assigned_to != "any":
        rows = rows.filter(assigned_to=assigned_to)
    return rows.order_by("created_at", "id")


def destinations_for(org: Organization) -> QuerySet[Destination]:
    return Destination.objects.filter(org=org).select_related("version__logo", "integration")


def get_destination(org: Organization, pk) -> Destination:
    return get_object_or_404(destinations_for(org), pk=as_int(pk))
