"""The portal home: the cards of the organisation's drafts, searched and filtered."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from integrations.listing import integration_listing
from portal.access import DeveloperRequest, developer_required
from portal.views.pages import paginate, query_without_page

HOME_PAGE_SIZE = 12


@developer_required
def portal_home(request: DeveloperRequest) -> HttpResponse:
    listing = integration_listing(
        request.org, search=request.GET.get("q", ""), status=request.GET.get("status", "")
    )
    return render(
        request,
        "integrations/home.html",
        {
            "listing": listing,
            "page": paginate(request, listing.rows, per_page=HOME_PAGE_SIZE),
            "query": query_without_page(request),
        },
    )
