"""Who may call what, and which organisation an API call acts for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import permissions
from rest_framework.exceptions import NotAuthenticated, PermissionDenied

from portal.access import COHORT_EDITORS_ONLY, edits_cohorts
from portal.flags import DEVELOPER_PORTAL
from portal.models import ApiToken, Membership, Organization, User

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


def api_user(request: Request) -> User:
    """The caller. Every API view's permission classes require a signed-in caller, so the
    refusal here is the one those classes would have given."""
    user = request.user
    if not user.is_authenticated:
        raise NotAuthenticated()
    return user


def api_membership(request: Request) -> Membership | None:
    """A token acts for the org it was made in (if its owner still belongs to it); a
    browser session acts for the org chosen in the session."""
    if isinstance(request.auth, ApiToken):
        if request.auth.org_id is None:
            return None
        return (
            Membership.objects.select_related("org")
            .filter(user_id=request.auth.user_id, org_id=request.auth.org_id)
            .first()
        )
    return getattr(request._request, "membership", None)


def api_org(request: Request) -> Organization:
    membership = api_membership(request)
    if membership is None:
        raise PermissionDenied(
            "This call needs an organisation: use a token made while "
            "acting for one, or sign in as one of its members."
        )
    return membership.org


class IsOrgMember(permissions.BasePermission):
    message = "You must be a member of an organisation."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user.is_authenticated and api_membership(request))


class IsOrgAdmin(permissions.BasePermission):
    message = "Only an admin of the organisation can do that."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return bool(request.user.is_authenticated and api_membership(request))
        membership = api_membership(request) if request.user.is_authenticated else None
        return bool(membership and membership.is_admin)


class EditsCohortsOrReadOnly(permissions.BasePermission):
    """Members read cohorts; only admins and developers write them (after IsOrgMember)."""

    message = COHORT_EDITORS_ONLY

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        membership = api_membership(request) if request.user.is_authenticated else None
        return bool(membership and edits_cohorts(membership))


class IsDeveloper(permissions.BasePermission):
    message = (
        "The Developer Portal is not enabled for this organisation, or you lack the "
        "developer permission."
    )

    def has_permission(self, request: Request, view: APIView) -> bool:
        membership = api_membership(request) if request.user.is_authenticated else None
        return bool(
            membership and membership.is_developer and membership.org.flag_enabled(DEVELOPER_PORTAL)
        )


class IsReviewer(permissions.BasePermission):
    message = "This is for reviewers."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user.is_authenticated and request.user.is_reviewer)


class IsPlatformAdmin(permissions.BasePermission):
    message = "This is for platform admins."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user.is_authenticated and request.user.is_platform_admin)
