"""Org settings: members, invitations, the Developer Portal entry or its access request."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal import access, actions
from portal.access import MemberRequest, PortalRequest
from portal.errors import ActionError
from portal.flags import DEVELOPER_PORTAL
from portal.forms import AccessRequestForm, InviteForm, MemberForm
from portal.models import AccessRequest, AccessRequestStatus, Membership
from portal.tenancy import SESSION_ORG_KEY


def home(request: PortalRequest) -> HttpResponse:
    """Everyone lands on their role's home."""
    if not request.user.is_authenticated:
        return redirect("signin")
    if request.membership is not None:
        return redirect("dashboard")
    if request.user.is_platform_admin:
        return redirect("platform_orgs")
    if request.user.is_reviewer:
        return redirect("review_queue")
    return render(request, "org/no_org.html")


@access.member_required
def dashboard(request: MemberRequest) -> HttpResponse:
    org = request.org
    projects = list(access.projects_for(org).annotate(cohort_total=Count("cohorts")))
    return render(
        request,
        "org/dashboard.html",
        {
            "projects": projects,
            "cohort_total": sum(project.cohort_total for project in projects),
        },
    )


@access.member_required
def settings_page(request: MemberRequest) -> HttpResponse:
    org = request.org
    latest = AccessRequest.objects.filter(org=org, flag=DEVELOPER_PORTAL).first()
    pending = latest if latest and latest.status == AccessRequestStatus.PENDING else None
    declined = latest if latest and latest.status == AccessRequestStatus.DECLINED else None
    members = Membership.objects.filter(org=org).select_related("user").order_by("user__email")
    invitations = [i for i in org.invitations.filter(accepted_at__isnull=True) if i.is_open]
    return render(
        request,
        "org/settings.html",
        {
            "members": members,
            "invitations": invitations,
            "pending_request": pending,
            "declined_request": declined,
            "invite_form": InviteForm(),
            "request_form": AccessRequestForm(),
        },
    )


@require_POST
@access.member_required
def switch_org(request: MemberRequest) -> HttpResponse:
    try:
        org_id = int(request.POST.get("org", ""))
    except ValueError:
        raise Http404("No such organisation.") from None
    if not Membership.objects.filter(user=request.user, org_id=org_id).exists():
        raise Http404("No such organisation.")
    request.session[SESSION_ORG_KEY] = org_id
    return redirect("dashboard")


@require_POST
@access.member_required
def request_access(request: MemberRequest) -> HttpResponse:
    form = AccessRequestForm(request.POST)
    if form.is_valid():
        try:
            actions.access_request_create(
                acting_user=request.user,
                org=request.org,
                flag=DEVELOPER_PORTAL,
                message=form.cleaned_data["message"],
            )
        except ActionError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Access requested. The integrations team will email you.")
    else:
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("org_settings")


@require_POST
@access.org_admin_required
def invite(request: MemberRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            actions.member_invite(acting_user=request.user, org=request.org, **form.cleaned_data)
        except ActionError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
    else:
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("org_settings")


@require_POST
@access.org_admin_required
def member_update(request: MemberRequest, member_id: int) -> HttpResponse:
    membership = access.get_member(request.org, member_id)
    form = MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("org_settings")
    try:
        actions.member_update(acting_user=request.user, membership=membership, **form.cleaned_data)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Updated {membership.user.email}.")
    return redirect("org_settings")


@require_POST
@access.org_admin_required
def member_remove(request: MemberRequest, member_id: int) -> HttpResponse:
    membership = access.get_member(request.org, member_id)
    try:
        actions.member_remove(acting_user=request.user, membership=membership)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Removed {membership.user.email}.")
    return redirect("org_settings")
