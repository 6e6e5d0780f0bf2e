"""Access helpers: every read of tenant data goes through these, scoped by organisation.

A view never looks up tenant rows by primary key alone; another org's object is a 404,
exactly like one that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, Protocol, TypeGuard

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django_htmx.middleware import HtmxDetails

from portal.flags import DEVELOPER_PORTAL
from portal.models import Cohort, CohortImport, Invitation, Membership, Organization, Project, User
from portal.params import parse_id
from portal.roles import Access, allows, org_allows


def projects_for(org: Organization) -> QuerySet[Project]:
    return Project.objects.filter(org=org)


def get_project(org: Organization, public_id: int | str) -> Project:
    return get_object_or_404(projects_for(org), public_id=as_int(public_id))


def cohorts_for(org: Organization) -> QuerySet[Cohort]:
    return Cohort.objects.filter(project__org=org).select_related("project")


def projects_and_cohorts_for(org: Organization) -> tuple[list[Project], list[Cohort]]:
    """The org's projects by name and their cohorts by project and name, in one query, for
    a form that offers both (the Testing panel). Each holds what a list of them shows (ids,
    names, the sandbox mark, member counts); its other fields, the project's encrypted key
    among them, are read only if something asks for them."""
    project_fields = ["id", "org_id", "public_id", "name", "is_sandbox"]
    cohort_fields = ["id", "project_id", "public_id", "name", "member_count"]
    cohort_columns = ["cohorts__id", "cohorts__public_id", "cohorts__name", "cohorts__member_count"]
    rows = (
        Project.objects.filter(org=org)
        .order_by("name", "id", "cohorts__name", "cohorts__id")
        .values_list(*project_fields, *cohort_columns)
    )
    projects: list[Project] = []
    cohorts: list[Cohort] = []
    for row in rows:
        project_row, (cohort_id, public_id, name, member_count) = row[:5], row[5:]
        if not projects or projects[-1].pk != project_row[0]:
            projects.append(Project.from_db(rows.db, project_fields, project_row))
        if cohort_id is not None:  # a project without cohorts comes once, with none
            cohort_row = (cohort_id, projects[-1].pk, public_id, name, member_count)
            cohort = Cohort.from_db(rows.db, cohort_fields, cohort_row)
            cohort.project = projects[-1]
            cohorts.append(cohort)
    return projects, cohorts


def get_cohort(org: Organization, public_id: str) -> Cohort:
    return get_object_or_404(cohorts_for(org), public_id=str(public_id))


def edits_cohorts(membership: Membership) -> bool:
    """Org admins and developers create, replace, change and delete cohorts; other members
    only read them. The one rule behind the pages (`cohort_editor_required`, the buttons
    they show) and the API (`portal.api.permissions.EditsCohortsOrReadOnly`)."""
    return org_allows(Access.ORG_EDITOR, membership)


COHORT_EDITORS_ONLY = "Only org admins and developers can create, change and delete cohorts."


def get_cohort_import(org: Organization, pk: int | str) -> CohortImport:
    return get_object_or_404(
        CohortImport.objects.filter(cohort__project__org=org).select_related("cohort"),
        pk=as_int(pk),
    )


def get_member(org: Organization, pk: int | str) -> Membership:
    return get_object_or_404(
        Membership.objects.filter(org=org).select_related("user"), pk=as_int(pk)
    )


def get_invitation(org: Organization, pk: int | str) -> Invitation:
    return get_object_or_404(Invitation.objects.filter(org=org), pk=as_int(pk))


def as_int(value: object) -> int:
    """An id from a URL or query string; anything that is not a whole number is a 404."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    number = parse_id(value) if isinstance(value, str) else None
    if number is None:
        raise Http404("No such object.")
    return number


# --- what a view may rely on ---------------------------------------------------------------
#
# Django hands every view an HttpRequest. The middleware of settings.MIDDLEWARE adds `htmx`
# (django-htmx) and `membership`/`org` (CurrentOrgMiddleware); the decorators below check who
# is signed in. Each class names what a view behind one of them gets, and each `is_*` guard
# checks exactly what its class adds, so the type checker follows the decorators.


class PortalRequest(HttpRequest):
    """Any request past the middleware: `org` and `membership` are None for someone signed
    out or without an organisation."""

    user: User | AnonymousUser
    membership: Membership | None
    org: Organization | None
    # The person's memberships other than `membership` (the navigation's switcher).
    other_memberships: list[Membership]
    htmx: HtmxDetails


class SignedInRequest(PortalRequest):
    """A signed-in person, who may belong to no organisation (staff often do not)."""

    user: User


class MemberRequest(SignedInRequest):
    """A member acting for `org` (behind `member_required` or `org_admin_required`)."""

    membership: Membership
    org: Organization


class DeveloperRequest(MemberRequest):
    """A developer of an organisation whose Developer Portal is on (`developer_required`)."""


class StaffRequest(SignedInRequest):
    """A reviewer or a platform admin (`staff_required`)."""


def is_signed_in(request: HttpRequest) -> TypeGuard[SignedInRequest]:
    return request.user.is_authenticated


def is_member(request: SignedInRequest) -> TypeGuard[MemberRequest]:
    return request.membership is not None


def is_developer(request: MemberRequest) -> TypeGuard[DeveloperRequest]:
    return allows(Access.DEVELOPER, request.user, request.membership)


def is_staff(request: SignedInRequest, *, admin: bool = False) -> TypeGuard[StaffRequest]:
    access = Access.PLATFORM_ADMIN if admin else Access.REVIEWER
    return allows(access, request.user, request.membership)


def _enforcing[F](access: Access, wrapper: F) -> F:
    """Mark a decorated view with the access it enforces (read by the role-matrix test)."""
    wrapper.access = access  # type: ignore[attr-defined]
    return wrapper


# The view as the URL resolver calls it: any request, the URL's arguments.
type View[**P] = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def member_required[**P](
    view: Callable[Concatenate[MemberRequest, P], HttpResponseBase],
) -> View[P]:
    """The person must belong to an organisation (the current one is `request.org`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not is_signed_in(request):
            return redirect_to_login(request.get_full_path())
        allowed = allows(Access.ORG_MEMBER, request.user, request.membership)
        if not allowed or not is_member(request):
            raise PermissionDenied("You do not belong to an organisation yet.")
        return view(request, *args, **kwargs)

    return _enforcing(Access.ORG_MEMBER, wrapper)


def org_admin_required[**P](
    view: Callable[Concatenate[MemberRequest, P], HttpResponseBase],
) -> View[P]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not is_signed_in(request):
            return redirect_to_login(request.get_full_path())
        allowed = allows(Access.ORG_ADMIN, request.user, request.membership)
        if not allowed or not is_member(request):
            raise PermissionDenied("Only an admin of this organisation can do that.")
        return view(request, *args, **kwargs)

    return _enforcing(Access.ORG_ADMIN, wrapper)


def cohort_editor_required[**P](
    view: Callable[Concatenate[MemberRequest, P], HttpResponseBase],
) -> View[P]:
    """Cohort writes: an org admin or a developer (`edits_cohorts`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not is_signed_in(request):
            return redirect_to_login(request.get_full_path())
        if not is_member(request):
            raise PermissionDenied("You do not belong to an organisation yet.")
        if not edits_cohorts(request.membership):
            raise PermissionDenied(COHORT_EDITORS_ONLY)
        return view(request, *args, **kwargs)

    return _enforcing(Access.ORG_EDITOR, wrapper)


class PortalNotEnabled(PermissionDenied):
    """The org's Developer Portal flag is off; the 403 page points to Request access."""


def developer_required[**P](
    view: Callable[Concatenate[DeveloperRequest, P], HttpResponseBase],
) -> View[P]:
    """Developer Portal pages: the org's flag must be on and the member a developer."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not is_signed_in(request):
            return redirect_to_login(request.get_full_path())
        if not is_member(request) or not is_developer(request):
            membership = request.membership
            if membership is None or not membership.org.flag_enabled(DEVELOPER_PORTAL):
                raise PortalNotEnabled(
                    "The Developer Portal is not enabled for your organisation. "
                    "An org admin can request access from Org settings."
                )
            raise PermissionDenied(
                "You need the developer permission; ask an admin of your organisation."
            )
        return view(request, *args, **kwargs)

    return _enforcing(Access.DEVELOPER, wrapper)


class StaffDecorator(Protocol):
    def __call__[**P](
        self, view: Callable[Concatenate[StaffRequest, P], HttpResponseBase]
    ) -> View[P]: ...


def staff_required(*, admin: bool = False) -> StaffDecorator:
    """Reviewer pages (admin=False) or platform-admin pages (admin=True)."""

    def decorator[**P](view: Callable[Concatenate[StaffRequest, P], HttpResponseBase]) -> View[P]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not is_signed_in(request):
                return redirect_to_login(request.get_full_path())
            if not is_staff(request, admin=admin):
                raise PermissionDenied(
                    "This page is for platform admins." if admin else "This page is for reviewers."
                )
            return view(request, *args, **kwargs)

        return _enforcing(Access.PLATFORM_ADMIN if admin else Access.REVIEWER, wrapper)

    return decorator
