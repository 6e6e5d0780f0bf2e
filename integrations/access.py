"""Access helpers for integrations: every lookup is scoped by organisation."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from integrations.models import (
    Destination,
    DestinationChannel,
    Integration,
    IntegrationRevision,
    IntegrationVersion,
)
from portal.access import as_int
from portal.models import Membership, Organization, User
from portal.roles import Access, org_allows


def integrations_for(org: Organization) -> QuerySet[Integration]:
    return Integration.objects.filter(org=org).select_related("logo", "updated_by")


def get_integration(org: Organization, pk: int | str, *, for_update: bool = False) -> Integration:
    rows = integrations_for(org)
    if for_update:
        rows = Integration.objects.select_for_update().filter(org=org)
    return get_object_or_404(rows, pk=as_int(pk))


def get_revision(integration: Integration, number: int | str | None) -> IntegrationRevision:
    return get_object_or_404(
        integration.revisions.select_related("logo", "created_by"), number=as_int(number)
    )


def sees_partner_reviews(membership: Membership | None) -> bool:
    """The partner side of reviews belongs to the Developer Portal: the org's flag must be
    on and the member a developer, as for every portal page (`developer_required`)."""
    return org_allows(Access.DEVELOPER, membership)


def versions_visible_to(user: User, membership: Membership | None) -> QuerySet[IntegrationVersion]:
    """Reviewers see every submission; a partner's developer sees the versions of their
    own org (pages and API refuse everyone else with a 403 before asking)."""
    rows = IntegrationVersion.objects.select_related(
        "integration__org", "created_by", "assigned_to", "decided_by", "logo"
    )
    if user.is_reviewer:
        return rows
    if membership is None or not sees_partner_reviews(membership):
        return rows.none()
    return rows.filter(integration__org=membership.org)


def get_version(user: User, membership: Membership | None, pk: int | str) -> IntegrationVersion:
    return get_object_or_404(versions_visible_to(user, membership), pk=as_int(pk))


def destinations_for(org: Organization) -> QuerySet[Destination]:
    """The organisation's own tiles (approved and internal), as the partner manages them."""
    return Destination.objects.filter(org=org).select_related("version__logo", "integration")


def get_destination(org: Organization, pk: int | str) -> Destination:
    return get_object_or_404(destinations_for(org), pk=as_int(pk))


def catalogue_for(org: Organization) -> QuerySet[Destination]:
    """What `org` may connect: every approved destination that platform admins have not
    hidden, from any organisation, and the org's own internal releases."""
    visible = Q(channel=DestinationChannel.APPROVED, hidden=False) | Q(
        channel=DestinationChannel.INTERNAL, org=org
    )
    return (
        Destination.objects.filter(visible)
        .select_related("version", "integration", "org")
        .order_by("version__display_name", "integration_id", "channel")
    )


def get_catalogue_destination(org: Organization, pk: int | str) -> Destination:
    """A destination `org` may connect; another org's internal tile, or a hidden one, is a
    404 exactly like a missing one."""
    return get_object_or_404(catalogue_for(org), pk=as_int(pk))
