"""The page of one cohort sync: what it delivered, its schedule, the run in progress (polled
while it runs), the run history a page at a time, and its buttons: Sync now, Retry failed,
Full resync, pause and resume, the schedule, delete."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from integrations.catalogue import may_connect
from portal.access import MemberRequest, member_required
from portal.errors import ActionError
from portal.views.pages import paginate
from syncs import access, actions, runs
from syncs.access import manager_required
from syncs.models import Cadence, CohortSync, Connection, RunStatus, SyncRun
from syncs.presenters import is_list, run_percent, schedule_text, sync_state
from syncs.views.connections import DEFAULT_DAILY_HOUR, HOURS

HISTORY_SIZE = 20
POLL_INTERVAL = "1s"


def _active_run(sync: CohortSync) -> SyncRun | None:
    return (
        SyncRun.objects.filter(sync=sync, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .select_related("started_by", "version")
        .first()
    )


def sync_context(
    request: MemberRequest, sync: CohortSync, *, watched: SyncRun | None = None, **extra: Any
) -> dict[str, Any]:
    """What the sync page shows. The live box shows the run in progress, else the run a
    poll watches (until the page reloads), else the latest run."""
    active = _active_run(sync)
    history = paginate(
        request,
        SyncRun.objects.filter(sync=sync).select_related("started_by", "version"),
        per_page=HISTORY_SIZE,
    )
    last = runs.last_finished_run(sync)
    shown = (
        active or watched or SyncRun.objects.filter(sync=sync).select_related("started_by").first()
    )
    return {
        "sync": sync,
        "connection": sync.connection,
        "active": active,
        "shown_run": shown,
        "watched": watched,
        "percent": run_percent(shown) if shown else 0,
        "state": sync_state(sync, active),
        "schedule": schedule_text(sync),
        "history": history,
        "can_retry": last is not None and last.status in (RunStatus.PARTIAL, RunStatus.FAILED),
        "is_list": is_list(sync),
        "can_manage": may_connect(request.membership),
        "cadences": Cadence.choices,
        "hours": HOURS,
        "chosen": {
            "cadence": sync.cadence,
            "daily_hour": str(
                sync.daily_hour if sync.daily_hour is not None else DEFAULT_DAILY_HOUR
            ),
        },
        "schedule_error": None,
        "poll_interval": POLL_INTERVAL,
        **extra,
    }


@require_GET
@member_required
def sync_detail(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    return render(request, "syncs/sync.html", sync_context(request, sync))


@require_GET
@member_required
def sync_progress(request: MemberRequest, sync_id: int) -> HttpResponse:
    """The live box, polled while a run is queued or running. Once it has finished, the
    answer also refreshes the facts, the buttons and the history (out of band)."""
    try:
        sync = access.get_sync(request.org, sync_id)
    except Http404:
        # Deleted meanwhile (its emptying run succeeded): the page goes to its connection.
        connection_id = request.GET.get("connection", "")
        if connection_id.isdigit() and Connection.objects.filter(
            pk=int(connection_id), org=request.org
        ):
            messages.success(request, "The sync has been deleted.")
            response = HttpResponse()
            response["HX-Redirect"] = reverse("connection_detail", args=[int(connection_id)])
            return response
        raise
    watched = access.get_run_of(sync, request.GET.get("run", ""))
    context = sync_context(request, sync, watched=watched)
    return render(request, "syncs/_sync_live.html", context)


def _done(request: MemberRequest, sync: CohortSync, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("sync_detail", sync.pk)


def _refused(request: MemberRequest, sync: CohortSync, error: ActionError) -> HttpResponse:
    messages.error(request, error.message)
    if error.status == 503:
        # Nothing was started (the task queue is down): say so with the status too.
        sync.refresh_from_db()
        return render(request, "syncs/sync.html", sync_context(request, sync), status=503)
    return redirect("sync_detail", sync.pk)


@require_POST
@manager_required
def sync_run_now(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    try:
        actions.sync_run_now(acting_user=request.user, sync=sync)
    except ActionError as error:
        return _refused(request, sync, error)
    return _done(request, sync, "Sync started: what changed since the last sync is on its way.")


@require_POST
@manager_required
def sync_retry(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    try:
        actions.sync_retry_failed(acting_user=request.user, sync=sync)
    except ActionError as error:
        return _refused(request, sync, error)
    return _done(request, sync, "Retrying what the last run could not deliver.")


@require_POST
@manager_required
def sync_resync(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    new_list = request.POST.get("new_list") == "on"
    try:
        actions.sync_full_resync(acting_user=request.user, sync=sync, new_list=new_list)
    except ActionError as error:
        return _refused(request, sync, error)
    return _done(
        request,
        sync,
        "Full resync started"
        + (": the whole cohort goes to a new list." if new_list else ": the whole cohort again."),
    )


@require_POST
@manager_required
def sync_pause(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    try:
        actions.sync_pause(acting_user=request.user, sync=sync)
    except ActionError as error:
        return _refused(request, sync, error)
    return _done(request, sync, "Paused: no scheduled runs until you resume.")


@require_POST
@manager_required
def sync_resume(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    try:
        sync = actions.sync_resume(acting_user=request.user, sync=sync)
    except ActionError as error:
        return _refused(request, sync, error)
    return _done(request, sync, f"Resumed: {schedule_text(sync).lower()}.")


@require_POST
@manager_required
def sync_schedule(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    try:
        sync = actions.sync_update(
            acting_user=request.user,
            sync=sync,
            cadence_value=request.POST.get("cadence"),
            daily_hour=request.POST.get("daily_hour"),
        )
    except ActionError as error:
        context = sync_context(
            request,
            sync,
            schedule_error=error,
            chosen={
                "cadence": request.POST.get("cadence", ""),
                "daily_hour": request.POST.get("daily_hour", ""),
            },
        )
        return render(request, "syncs/sync.html", context, status=400)
    return _done(request, sync, f"Schedule saved: {schedule_text(sync).lower()}.")


@require_POST
@manager_required
def sync_delete(request: MemberRequest, sync_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    connection = sync.connection
    choice = request.POST.get("partner_list", "")
    if choice not in ("keep", "empty"):
        return _refused(
            request,
            sync,
            ActionError("Choose what happens to the partner's list.", field="partner_list"),
        )
    try:
        run = actions.sync_delete(
            acting_user=request.user, sync=sync, empty_first=choice == "empty"
        )
    except ActionError as error:
        return _refused(request, sync, error)
    if run is not None:
        return _done(
            request,
            sync,
            "Deleting: the partner's list is being emptied, and the sync is deleted once "
            "every member is removed.",
        )
    messages.success(request, f"The sync of {sync.cohort.name} is deleted.")
    return redirect("connection_detail", connection.pk)
