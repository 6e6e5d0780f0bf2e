"""Pages of the Destinations catalogue: an organisation's Destinations page (with each
tile's Connect form, which the syncs app answers), the tiles' logos, the partner's internal
release, and the platform admins' list of destinations (rollback, hide and show)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations import access, releases
from integrations.catalogue import catalogue_tiles, connect_form, may_connect
from integrations.models import Destination, IntegrationVersion, VersionState
from portal import access as portal_access
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
    tiles = catalogue_tiles(request.org)
    can_connect = may_connect(request.membership)
    projects = list(portal_access.projects_for(request.org)) if can_connect else []
    forms = {
        tile.primary.pk: connect_form(tile.primary, projects=projects, choices=tile.choices)
        for tile in tiles
        if can_connect
    }
    return render(
        request,
        "destinations/index.html",
        {"tiles": tiles, "forms": forms, "can_connect": can_connect},
    )


@require_GET
@member_required
def destination_logo(request: MemberRequest, destination_id: int) -> HttpResponse:
    """A tile's logo, for every organisation whose catalogue shows the tile."""
    destination = access.get_catalogue_destination(request.org, destination_id)
    logo = destination.version.logo
    if logo is None:
        raise Http404("No logo.")
    response = HttpResponse(bytes(logo.tile_png), content_type="image/png")
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


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


@require_POST
@staff_required(admin=True)
def platform_destination_visibility(request: StaffRequest, destination_id: int) -> HttpResponse:
    destination = get_object_or_404(
        Destination.objects.select_related("version"), pk=destination_id
    )
    hidden = request.POST.get("hidden") == "true"
    try:
        releases.destination_hide(acting_user=request.user, destination=destination, hidden=hidden)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        name = destination.version.display_name
        messages.success(
            request,
            f"{name} is hidden from the catalogue; its connections keep syncing."
            if hidden
            else f"{name} is back in the catalogue.",
        )
    return redirect("platform_destinations")
