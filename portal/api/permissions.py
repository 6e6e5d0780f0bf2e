"""Who may call what, and which organisation an API call acts for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import permissions
from rest_framework.exceptions import NotAuthenticated, PermissionDenied

from portal.access import COHORT_EDITORS_ONLY
from portal.models import ApiToken, Membership, Organization, User
from portal.roles import Access, allows

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


class RolePermission(permissions.BasePermission):
    """An API operation's access (`portal.roles`): `access` for reading, `write_access`
    for the other methods (the same unless a class says otherwise)."""

    access: Access = Access.SIGNED_IN
    write_access: Access | None = None

    def access_for(self, method: str | None) -> Access:
        if method in permissions.SAFE_METHODS or self.write_access is None:
            return self.access
        return self.write_access

    def has_permission(self, request: Request, view: APIView) -> bool:
        membership = api_membership(request) if request.user.is_authenticated else None
        return allows(self.access_for(request.method), request.user, membership)


class EditsCohortsOrReadOnly(RolePermission):
    """Members read cohorts; only admins and developers write them."""

    message = COHORT_EDITORS_ONLY
    access = Access.ORG_MEMBER
    write_access = Access.ORG_EDITOR


class IsOrgMember(RolePermission):
    message = "You must be a member of an organisation."
    access = Access.ORG_MEMBER


class IsOrgMemberOrPlatformAdmin(RolePermission):
    """Reading: an organisation's members (their own's) or platform admins (everyone's);
    writing: members, for their organisation."""

    message = "You must be a member of an organisation."
    access = Access.ORG_MEMBER_OR_PLATFORM_ADMIN
    write_access = Access.ORG_MEMBER


class IsOrgAdmin(RolePermission):
    message = "Only an admin of the organisation can do that."
    access = Access.ORG_MEMBER
    write_access = Access.ORG_ADMIN


class IsDeveloper(RolePermission):
    message = (
        "The Developer Portal is not enabled for this organisation, or you lack the "
        "developer permission."
    )
    access = Access.DEVELOPER


class IsReviewer(RolePermission):
    message = "This is for reviewers."
    access = Access.REVIEWER


class IsReviewerOrDeveloper(RolePermission):
    # Anyone but a reviewer is on the partner side, which is part of the Developer Portal.
    message = IsDeveloper.message
    access = Access.REVIEWER_OR_DEVELOPER


class ReviewerWritesDeveloperReads(IsReviewerOrDeveloper):
    """The integration's developers may look; only reviewers act."""

    write_access = Access.REVIEWER

    def has_permission(self, request: Request, view: APIView) -> bool:
        if super().has_permission(request, view):
            return True
        if request.method not in permissions.SAFE_METHODS:
            self.message = "Only reviewers do that; the integration's developers may look."
        return False


class IsPlatformAdmin(RolePermission):
    message = "This is for platform admins."
    access = Access.PLATFORM_ADMIN
