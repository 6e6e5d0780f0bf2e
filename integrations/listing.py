"""Reads for the Developer Portal home: the org's integrations, searched and filtered."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from integrations.access import integrations_for
from integrations.models import Integration, IntegrationStatus
from portal.models import Organization

MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True)
class StatusFilter:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class IntegrationListing:
    rows: QuerySet[Integration]
    search: str
    status: str
    filters: list[StatusFilter]
    total: int
    problem: str | None = None


def integration_listing(
    org: Organization, *, search: str = "", status: str = ""
) -> IntegrationListing:
    """The org's integrations matching `search` (in display names) and `status`.

    An unknown status is not an error page: the listing shows everything and says why.
    """
    every = integrations_for(org)
    counts = dict(
        every.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    total = sum(counts.values())
    problem = None
    if status and status not in IntegrationStatus.values:
        problem = f"There is no status “{status[:40]}”; showing every integration."
        status = ""
    # The cards show neither the configuration nor the logo's bytes (its URL needs only its
    # id): a page of twelve 20-field drafts would decode and carry both for nothing.
    rows = Integration.objects.filter(org=org).select_related("updated_by").defer("config")
    if status:
        rows = rows.filter(status=status)
    search = search.strip()[:MAX_SEARCH_LENGTH]
    if search:
        rows = rows.filter(display_name__icontains=search)
    filters = [StatusFilter("", "All", total, not status)] + [
        StatusFilter(value, label, counts.get(value, 0), status == value)
        for value, label in IntegrationStatus.choices
    ]
    return IntegrationListing(rows, search, status, filters, total, problem)
