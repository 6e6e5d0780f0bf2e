"""Pages of the Destinations catalogue: an organisation's Destinations page, the partner's
internal release, and the platform admins' list of destinations (rollback)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations import access, releases
from integrations.editor.modal import connect_modal
from integrations.models import Destination, IntegrationVersion, VersionState
from portal.access import (
    DeveloperRequest,
    MemberRequest,
    StaffRequest,
    developer_required,
    member_required,
    staff_required,
)
from portal.errors import ActionError
from portal.params import parse_id
from portal.views.pages import paginate, query_without_page


@require_POST
@developer_required
def integration_release_post(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    try:
        releases.integration_release(acting_user=request.user, integration=integration)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "Released: your organisation sees the draft on its Destinations page "
            "(marked internal).",
        )
    return redirect("integration_submit", integration.pk)


# --- the catalogue -------------------------------------------------------------------------


@require_GET
@member_required
def destinations_page(request: MemberRequest) -> HttpResponse:
    tiles = list(access.destinations_for(request.org))
    return render(
        request,
        "destinations/index.html",
        {
            "destinations": tiles,
            "modals": {d.pk: connect_modal(d.version.config) for d in tiles},
        },
    )


@require_GET
@staff_required(admin=True)
def platform_destinations(request: StaffRequest) -> HttpResponse:
    approved = IntegrationVersion.objects.filter(state=VersionState.APPROVED).order_by("-number")
    rows = (
        Destination.objects.select_related("org", "version", "integration")
        .prefetch_related(
            Prefetch("integration__versions", queryset=approved, to_attr="approved_versions")
        )
        .order_by("org__name", "version__display_name")
    )
    page = paginate(request, rows)
    return render(
        request,
        "destinations/platform.html",
        {
            "page": page,
            "query": query_without_page(request),
            # approved_versions: set by the Prefetch above.
            "approved": {d.pk: getattr(d.integration, "approved_versions", []) for d in page},
        },
    )


@require_POST
@staff_required(admin=True)
def platform_destination_rollback(request: StaffRequest, destination_id: int) -> HttpResponse:
    destination = get_object_or_404(
        Destination.objects.select_related("version"), pk=destination_id
    )
    number = parse_id(request.POST.get("version"))
    version = (
        destination.integration.versions.filter(number=number).first()
        if number is not None
        else None
    )
    try:
        if version is None:
            raise ActionError("Choose one of the approved versions.")
        releases.destination_rollback(
            acting_user=request.user, destination=destination, version=version
        )
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"{destination.version.display_name} now serves v{version.number}."
        )
    return redirect("platform_destinations")
