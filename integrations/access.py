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
from portal.flags import DEVELOPER_PORTAL
from portal.models import Membership, Organization, User

# The review queue's "waiting at least N days" filter goes back ten years at most; the
# date arithmetic overflows not far beyond what a query string can carry.
MAX_REVIEW_AGE_DAYS = 3650


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


def sees_partner_reviews(membership: Membership | None) -> bool:
    """The partner side of reviews belongs to the Developer Portal: the org's flag must be
    on and the member a developer, as for every portal page (`developer_required`)."""
    return bool(
        membership is not None
        and membership.is_developer
        and membership.org.flag_enabled(DEVELOPER_PORTAL)
    )


def versions_visible_to(user: User, membership: Membership | None) -> QuerySet[IntegrationVersion]:
    """Reviewers see every submission; a partner's developer sees the versions of their
    own org (pages and API refuse everyone else with a 403 before asking)."""
    rows = IntegrationVersion.objects.select_related(
        "integration__org", "created_by", "assigned_to", "decided_by", "logo"
    )
    if user.is_reviewer:
        return rows
    if not sees_partner_reviews(membership):
        return rows.none()
    return rows.filter(integration__org=membership.org)


def get_version(user: User, membership: Membership | None, pk) -> IntegrationVersion:
    return get_object_or_404(versions_visible_to(user, membership), pk=as_int(pk))


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
        days = min(older_than_days, MAX_REVIEW_AGE_DAYS)
        rows = rows.filter(created_at__lte=timezone.now() - timedelta(days=days))
    if assigned_to is None:
        rows = rows.filter(assigned_to__isnull=True)
    elif assigned_to != "any":
        rows = rows.filter(assigned_to=assigned_to)
    return rows.order_by("created_at", "id")


def destinations_for(org: Organization) -> QuerySet[Destination]:
    return Destination.objects.filter(org=org).select_related("version__logo", "integration")


def get_destination(org: Organization, pk) -> Destination:
    return get_object_or_404(destinations_for(org), pk=as_int(pk))
