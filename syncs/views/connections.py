"""Pages of connections: the Connect form of a destination (in the Destinations page's
dialog, or a page of its own), the organisation's connections, one connection with its
syncs (and the form that adds one), editing and reconnecting, deleting."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations import access as integration_access
from integrations.catalogue import ConnectForm, connect_form, may_connect, tile_of
from integrations.models import Destination
from portal import access as portal_access
from portal.access import MemberRequest, member_required
from portal.errors import ActionError
from portal.models import Cohort, Project
from portal.views.pages import paginate
from syncengine.connect_values import fields_of
from syncs import access, actions
from syncs.access import manager_required
from syncs.models import Cadence, Connection, RunStatus, SyncRun
from syncs.presenters import connection_values, schedule_text, sync_state

HOURS = list(range(24))
DEFAULT_DAILY_HOUR = 6


def connect_input(post: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    """The Connect form's values and mapping choices, by variable, as posted."""
    return {
        "values": {
            variable: post.get(f"values.{variable}", "")
            for variable in fields_of(manifest, "custom_fields")
            if f"values.{variable}" in post
        },
        "mapping": {
            variable: post.get(f"mapping.{variable}", "")
            for variable in fields_of(manifest, "mapping_fields")
            if f"mapping.{variable}" in post
        },
    }


def _project(request: MemberRequest, project_id: str | None) -> Project | None:
    try:
        return portal_access.get_project(request.org, project_id or "")
    except Http404:
        return None


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """Where to go after a change: htmx follows `HX-Redirect`, a plain form a 302."""
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _connect_page(request: MemberRequest, form: ConnectForm, *, status: int = 200) -> HttpResponse:
    if request.htmx:
        # A refusal answered to the dialog is still a 200: htmx swaps only those.
        return render(request, "destinations/_connect_form.html", {"form": form, "in_dialog": True})
    return render(request, "syncs/connect.html", {"form": form, "in_dialog": False}, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def connection_new(request: MemberRequest, destination_id: int) -> HttpResponse:
    """The Connect form of a destination (GET) and connecting it (POST)."""
    destination: Destination = integration_access.get_catalogue_destination(
        request.org, destination_id
    )
    choices = tile_of(request.org, destination).choices
    projects = portal_access.projects_for(request.org)
    if request.method == "GET":
        return _connect_page(request, connect_form(destination, projects=projects, choices=choices))
    try:
        connection = actions.connection_create(
            acting_user=request.user,
            org=request.org,
            destination=destination,
            project=_project(request, request.POST.get("project_id")),
            name=request.POST.get("name", ""),
            **connect_input(request.POST, destination.version.config),
        )
    except ActionError as error:
        form = connect_form(
            destination, projects=projects, choices=choices, given=request.POST, error=error
        )
        return _connect_page(request, form, status=400)
    messages.success(
        request, f"Connected {connection.name}. Add a cohort sync to start sending cohorts."
    )
    return _redirect(request, reverse("connection_detail", args=[connection.pk]))


@require_GET
@member_required
def connection_list(request: MemberRequest) -> HttpResponse:
    rows = (
        access.connections_for(request.org)
        .annotate(sync_count=Count("syncs"))
        .order_by("name", "pk")
    )
    return render(
        request,
        "syncs/connections.html",
        {"page": paginate(request, rows), "can_manage": may_connect(request.membership)},
    )


def sync_form_context(
    connection: Connection, *, error: ActionError | None = None, given: Any = None
) -> dict[str, Any]:
    """What the Add-a-sync form shows: the project's cohorts not yet synced here."""
    synced = connection.syncs.values_list("cohort_id", flat=True)
    cohorts = Cohort.objects.filter(project=connection.project).exclude(pk__in=synced)
    given = given or {}
    return {
        "cohorts": list(cohorts.order_by("name", "pk")),
        "cadences": Cadence.choices,
        "hours": HOURS,
        "sync_error": error,
        "chosen": {
            "cohort_id": given.get("cohort_id", ""),
            "cadence": given.get("cadence", Cadence.DAILY),
            "daily_hour": str(given.get("daily_hour", DEFAULT_DAILY_HOUR)),
        },
    }


def connection_page(
    request: MemberRequest, connection: Connection, *, status: int = 200, **extra: Any
) -> HttpResponse:
    syncs = list(connection.syncs.select_related("cohort", "connection").order_by("pk"))
    active = {
        run.sync_id: run
        for run in SyncRun.objects.filter(
            sync__in=syncs, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
        )
    }
    rows = [
        {"sync": s, "schedule": schedule_text(s), "state": sync_state(s, active.get(s.pk))}
        for s in syncs
    ]
    context = {
        "connection": connection,
        "values": connection_values(connection),
        "fields": fields_of(connection.version.config, "custom_fields"),
        "mapping_fields": fields_of(connection.version.config, "mapping_fields"),
        "rows": rows,
        "can_manage": may_connect(request.membership),
        **sync_form_context(connection),
        **extra,
    }
    return render(request, "syncs/connection.html", context, status=status)


@require_GET
@member_required
def connection_detail(request: MemberRequest, connection_id: int) -> HttpResponse:
    return connection_page(request, access.get_connection(request.org, connection_id))


@require_http_methods(["GET", "POST"])
@manager_required
def connection_edit(request: MemberRequest, connection_id: int) -> HttpResponse:
    """Rename, change values, or reconnect onto the version the destination serves now."""
    connection = access.get_connection(request.org, connection_id)
    destination = connection.destination
    error = None
    if request.method == "POST":
        try:
            actions.connection_update(
                acting_user=request.user,
                connection=connection,
                name=request.POST.get("name", ""),
                **connect_input(request.POST, destination.version.config),
            )
        except ActionError as refused:
            error = refused
        else:
            messages.success(request, f"{connection.name} saved.")
            return redirect("connection_detail", connection.pk)
    form = connect_form(
        destination,
        projects=[connection.project],
        given=request.POST if error else None,
        stored_values=connection.values,
        stored_mapping=connection.mapping,
        name=connection.name,
        error=error,
    )
    return render(
        request,
        "syncs/connection_edit.html",
        {"connection": connection, "form": form},
        status=400 if error else 200,
    )


@require_POST
@manager_required
def connection_delete(request: MemberRequest, connection_id: int) -> HttpResponse:
    connection = access.get_connection(request.org, connection_id)
    if request.POST.get("confirm", "").strip() != connection.name:
        messages.error(request, "Type the connection's name exactly to confirm deletion.")
        return redirect("connection_detail", connection.pk)
    try:
        actions.connection_delete(acting_user=request.user, connection=connection)
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("connection_detail", connection.pk)
    messages.success(request, f"Connection {connection.name} deleted.")
    return redirect("connection_list")


@require_POST
@manager_required
def sync_new(request: MemberRequest, connection_id: int) -> HttpResponse:
    """Add a cohort sync to a connection."""
    connection = access.get_connection(request.org, connection_id)
    cohort_id = request.POST.get("cohort_id", "").strip()
    cohort = Cohort.objects.filter(project=connection.project, public_id=cohort_id).first()
    try:
        sync = actions.sync_create(
            acting_user=request.user,
            connection=connection,
            cohort=cohort,
            cadence_value=request.POST.get("cadence"),
            daily_hour=request.POST.get("daily_hour"),
        )
    except ActionError as error:
        return connection_page(
            request,
            connection,
            status=400,
            **sync_form_context(connection, error=error, given=request.POST),
        )
    messages.success(
        request, f"{sync.cohort.name} syncs to {connection.name}: {schedule_text(sync)}."
    )
    return redirect("sync_detail", sync.pk)
