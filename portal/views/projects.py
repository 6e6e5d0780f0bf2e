"""Projects (Project ID and API key) and their cohorts."""

from __future__ import annotations

from django.contrib import messages
from django.core.cache import caches
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal import access, actions, cohorts
from portal.access import MemberRequest
from portal.actions import MAX_CSV_BYTES
from portal.errors import ActionError
from portal.forms import CohortUploadForm, NameForm
from portal.middleware_input import accepts_upload
from portal.models import CohortMember, Project
from portal.views.pages import paginate


@access.member_required
def project_list(request: MemberRequest) -> HttpResponse:
    projects = access.projects_for(request.org)
    return render(request, "projects/list.html", {"projects": projects, "form": NameForm()})


@require_POST
@access.org_admin_required
def project_create(request: MemberRequest) -> HttpResponse:
    form = NameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A project needs a name (at most 120 characters).")
        return redirect("project_list")
    try:
        project = actions.project_create(
            acting_user=request.user, org=request.org, name=form.cleaned_data["name"]
        )
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("project_list")
    messages.success(request, f"Project {project.name} created.")
    return redirect("project_detail", project.public_id)


def _project_page(
    request: MemberRequest, project: Project, *, revealed_key: str | None = None
) -> HttpResponse:
    return render(
        request,
        "projects/detail.html",
        {
            "project": project,
            "cohorts": paginate(request, project.cohorts.order_by("name", "pk")),
            "form": NameForm(),
            "revealed_key": revealed_key,
            "edits_cohorts": access.edits_cohorts(request.membership),
        },
    )


@access.member_required
def project_detail(request: MemberRequest, project_id: int) -> HttpResponse:
    return _project_page(request, access.get_project(request.org, project_id))


@require_POST
@access.org_admin_required
def project_regenerate_key(request: MemberRequest, project_id: int) -> HttpResponse:
    project = access.get_project(request.org, project_id)
    project = actions.project_regenerate_key(acting_user=request.user, project=project)
    messages.success(request, "A new API key was generated; the old one no longer works.")
    # Rendered in the POST response only: the clear key is never stored outside the
    # encrypted column, not even in the session.
    return _project_page(request, project, revealed_key=project.api_key)


@require_POST
@access.org_admin_required
def project_reveal_key(request: MemberRequest, project_id: int) -> HttpResponse:
    project = access.get_project(request.org, project_id)
    actions.project_reveal_key(acting_user=request.user, project=project)
    return _project_page(request, project, revealed_key=project.api_key)


@require_POST
@access.cohort_editor_required
def cohort_create(request: MemberRequest, project_id: int) -> HttpResponse:
    project = access.get_project(request.org, project_id)
    form = NameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A cohort needs a name (at most 200 characters).")
        return redirect("project_detail", project.public_id)
    try:
        cohort = actions.cohort_create(
            acting_user=request.user, project=project, name=form.cleaned_data["name"]
        )
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("project_detail", project.public_id)
    return redirect("cohort_detail", cohort.public_id)


@access.member_required
def cohort_detail(request: MemberRequest, cohort_id: str) -> HttpResponse:
    cohort = access.get_cohort(request.org, cohort_id)
    members = CohortMember.objects.filter(cohort=cohort).order_by("member_key")
    return render(
        request,
        "projects/cohort.html",
        {
            "cohort": cohort,
            "page": paginate(request, members, per_page=50),
            "form": CohortUploadForm(),
            "latest_import": cohort.imports.first(),
            "recent_changes": cohorts.recent_changes(cohort),
            "edits_cohorts": access.edits_cohorts(request.membership),
        },
    )


@accepts_upload(MAX_CSV_BYTES)
@require_POST
@access.cohort_editor_required
def cohort_upload(request: MemberRequest, cohort_id: str) -> HttpResponse:
    cohort = access.get_cohort(request.org, cohort_id)
    form = CohortUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV file to upload.")
        return redirect("cohort_detail", cohort.public_id)
    try:
        actions.cohort_import_start(
            acting_user=request.user, cohort=cohort, upload=form.cleaned_data["file"]
        )
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.info(request, "Upload received; members are loading.")
    return redirect("cohort_detail", cohort.public_id)


@access.member_required
def cohort_import_status(request: MemberRequest, cohort_id: str, import_id: int) -> HttpResponse:
    """The import's progress, polled by htmx while it runs."""
    cohort = access.get_cohort(request.org, cohort_id)
    job = access.get_cohort_import(request.org, import_id)
    if job.cohort_id != cohort.pk:
        return render(request, "404.html", status=404)
    progress = caches["progress"].get(job.progress_cache_key, job.rows_read)
    return render(
        request,
        "projects/_import_status.html",
        {"cohort": cohort, "job": job, "progress": progress},
    )


@require_POST
@access.cohort_editor_required
def cohort_delete(request: MemberRequest, cohort_id: str) -> HttpResponse:
    cohort = access.get_cohort(request.org, cohort_id)
    if request.POST.get("confirm") != cohort.name:
        messages.error(request, "Type the cohort's name exactly to confirm deletion.")
        return redirect("cohort_detail", cohort.public_id)
    project_id = cohort.project.public_id
    try:
        actions.cohort_delete(acting_user=request.user, cohort=cohort)
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("cohort_detail", cohort.public_id)
    messages.success(request, f"Cohort {cohort.name} deleted.")
    return redirect("project_detail", project_id)
