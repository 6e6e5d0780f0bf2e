"""Platform staff pages: organisations and their flags, access requests, audit log, staff."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal import actions
from portal.access import StaffRequest, staff_required
from portal.errors import ActionError
from portal.flags import FLAGS, flag_label
from portal.forms import AuditFilterForm, StaffRoleForm
from portal.models import (
    AccessRequest,
    AccessRequestStatus,
    AuditEvent,
    Organization,
    OrgFlag,
    PlatformSettings,
    User,
)
from portal.params import local_url, parse_id
from portal.views.pages import paginate, query_without_page


@staff_required()
def staff_home(request: StaffRequest) -> HttpResponse:
    return render(request, "platform/staff_home.html")


@staff_required(admin=True)
def org_list(request: StaffRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    orgs = Organization.objects.annotate(member_total=Count("memberships")).prefetch_related(
        Prefetch("flags", queryset=OrgFlag.objects.filter(enabled=True), to_attr="enabled_flags")
    )
    if search:
        org_id = parse_id(search)
        orgs = orgs.filter(pk=org_id) if org_id is not None else orgs.filter(name__icontains=search)
    page = paginate(request, orgs.order_by("name", "id"))
    for org in page:
        # Rows carry attributes for the template that no model declares: the prefetched
        # `enabled_flags` (which the Django plugin's row type loses through Page) and `enabled`.
        org.enabled = {row.flag for row in org.enabled_flags}  # type: ignore[attr-defined]
    pending = AccessRequest.objects.filter(status=AccessRequestStatus.PENDING).count()
    return render(
        request,
        "platform/orgs.html",
        {
            "platform_settings": PlatformSettings.current(),
            "page": page,
            "flags": FLAGS,
            "search": search,
            "pending_requests": pending,
            "query": query_without_page(request),
        },
    )


@require_POST
@staff_required(admin=True)
def org_flag_set(request: StaffRequest, org_id: int) -> HttpResponse:
    org = get_object_or_404(Organization, pk=org_id)
    flag = request.POST.get("flag", "")
    enabled = request.POST.get("enabled") == "true"
    try:
        actions.flag_set(acting_user=request.user, org=org, flag=flag, enabled=enabled)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        state = "on" if enabled else "off"
        messages.success(request, f"{flag_label(flag)} turned {state} for {org.name}.")
    return redirect(local_url(request, request.POST.get("back")) or reverse("platform_orgs"))


@staff_required(admin=True)
def access_requests(request: StaffRequest) -> HttpResponse:
    status = request.GET.get("status", AccessRequestStatus.PENDING)
    if status not in AccessRequestStatus.values:
        status = AccessRequestStatus.PENDING
    rows = AccessRequest.objects.filter(status=status).select_related(
        "org", "requested_by", "resolved_by"
    )
    return render(
        request,
        "platform/access_requests.html",
        {
            "page": paginate(request, rows),
            "status": status,
            "statuses": AccessRequestStatus.choices,
            "query": query_without_page(request),
        },
    )


@require_POST
@staff_required(admin=True)
def platform_settings_save(request: StaffRequest) -> HttpResponse:
    grant = request.POST.get("grant_portal_to_new_orgs") == "on"
    actions.platform_settings_set(acting_user=request.user, grant_portal_to_new_orgs=grant)
    messages.success(
        request,
        "New organisations get the Developer Portal at sign-up."
        if grant
        else "New organisations ask for the Developer Portal; you grant each request.",
    )
    return redirect("platform_orgs")


RESOLVED_WORDS = {"grant": "granted", "decline": "declined"}


@require_POST
@staff_required(admin=True)
def access_request_resolve(request: StaffRequest, request_id: int) -> HttpResponse:
    access_request = get_object_or_404(AccessRequest.objects.select_related("org"), pk=request_id)
    decision = request.POST.get("decision", "")
    try:
        if decision == "grant":
            actions.access_request_grant(acting_user=request.user, access_request=access_request)
        elif decision == "decline":
            actions.access_request_decline(
                acting_user=request.user,
                access_request=access_request,
                reason=request.POST.get("reason", ""),
            )
        else:
            raise ActionError("Choose grant or decline.")
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"{access_request.org.name}: {flag_label(access_request.flag)} request "
            f"{RESOLVED_WORDS[decision]}.",
        )
    return redirect("platform_access_requests")


@staff_required(admin=True)
def audit_log(request: StaffRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.select_related("actor", "org")
    if form.is_valid():
        data = form.cleaned_data
        if data["org"]:
            events = events.filter(org_id=data["org"])
        if data["action"]:
            events = events.filter(action__startswith=data["action"].strip())
        if data["actor"]:
            events = events.filter(actor__email__iexact=data["actor"].strip())
    actions_seen = AuditEvent.objects.order_by().values_list("action", flat=True).distinct()
    return render(
        request,
        "platform/audit.html",
        {
            "form": form,
            "page": paginate(request, events),
            "query": query_without_page(request),
            "known_actions": sorted(set(actions_seen)),
        },
    )


@staff_required(admin=True)
def staff_list(request: StaffRequest) -> HttpResponse:
    form = StaffRoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User.objects.filter(email__iexact=form.cleaned_data["email"]).first()
        if user is None:
            form.add_error("email", "No account has this email; they must sign up first.")
        else:
            try:
                actions.staff_role_set(
                    acting_user=request.user, user=user, role=form.cleaned_data["staff_role"] or ""
                )
            except ActionError as error:
                form.add_error("staff_role" if error.field == "role" else None, error.message)
            else:
                messages.success(request, f"{user.email}: staff role updated.")
                return redirect("platform_staff")
    staff = User.objects.exclude(staff_role="").order_by("email")
    return render(request, "platform/staff.html", {"staff": staff, "form": form})
