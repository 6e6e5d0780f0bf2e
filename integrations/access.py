"""Access helpers for integrations: every lookup is scoped by organisation."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from integrations.models import Integration, IntegrationRevision
from portal.access import as_int
from portal.models import Organization


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
