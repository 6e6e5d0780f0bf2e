"""Access helpers: every read of tenant data goes through these, scoped by organisation.

A view never looks up tenant rows by primary key alone; another org's object is a 404,
exactly like one that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django_htmx.middleware import HtmxDetails

from portal.flags import DEVELOPER_PORTAL
from portal.models import Cohort, CohortImport, Invitation, Membership, Organization, Project, User
from portal.params import parse_id


def projects_for(org: Organization) -> QuerySet[Project]:
    return Project.objects.filter(org=org)


def get_project(org: Organization, public_id) -> Project:
    return get_object_or_404(projects_for(org), public_id=as_int(public_id))


def cohorts_for(org: Organization) -> QuerySet[Cohort]:
    return Cohort.objects.filter(project__org=org).select_related("project")


def get_cohort(org: Organization, public_id: str) -> Cohort:
    return get_object_or_404(cohorts_for(org), public_id=str(public_id))


def get_cohort_import(org: Organization, pk) -> CohortImport:
    return get_object_or_404(
        CohortImport.objects.filter(cohort__project__org=org).select_related("cohort"),
        pk=as_int(pk),
    )


def get_member(org: Organization, pk) -> Membership:
    return get_object_or_404(
        Membership.objects.filter(org=org).select_related("user"), pk=as_int(pk)
    )


def get_invitation(org: Organization, pk) -> Invitation:
    return get_object_or_404(Invitation.objects.filter(org=org), pk=as_int(pk))


def as_int(value) -> int:
    """An id from a URL or query string; anything that is not a whole number is a 404."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    number = parse_id(value) if isinstance(value, str) else None
    if number is None:
        raise Http404("No such object.")
    return number


def _require_login(request: HttpRequest):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return None


def member_required(view):
    """The person must belong to an organisation (the current one is `request.org`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if (redirect := _require_login(request)) is not None:
            return redirect
        if request.membership is None:
            raise PermissionDenied("You do not belong to an organisation yet.")
        return view(request, *args, **kwargs)

    return wrapper


def org_admin_required(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if (redirect := _require_login(request)) is not None:
            return redirect
        if request.membership is None or not request.membership.is_admin:
            raise PermissionDenied("Only an admin of this organisation can do that.")
        return view(request, *args, **kwargs)

    return wrapper


class PortalNotEnabled(PermissionDenied):
    """The org's Developer Portal flag is off; the 403 page points to Request access."""


class DeveloperRequest(HttpRequest):
    """The request a view behind `developer_required` gets, for type checkers: a signed-in
    developer acting for `org` (set by `CurrentOrgMiddleware`), with django-htmx's `htmx`."""

    user: User
    membership: Membership
    org: Organization
    htmx: HtmxDetails


def developer_required(view):
    """Developer Portal pages: the org's flag must be on and the member a developer."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if (redirect := _require_login(request)) is not None:
            return redirect
        membership = request.membership
        if membership is None or not membership.org.flag_enabled(DEVELOPER_PORTAL):
            raise PortalNotEnabled(
                "The Developer Portal is not enabled for your organisation. "
                "An org admin can request access from Org settings."
            )
        if not membership.is_developer:
            raise PermissionDenied(
                "You need the developer permission; ask an admin of your organisation."
            )
        return view(request, *args, **kwargs)

    return wrapper


def staff_required(*, admin: bool = False):
    """Reviewer pages (admin=False) or platform-admin pages (admin=True)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if (redirect := _require_login(request)) is not None:
                return redirect
            allowed = request.user.is_platform_admin if admin else request.user.is_reviewer
            if not allowed:
                raise PermissionDenied(
                    "This page is for platform admins." if admin else "This page is for reviewers."
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
