"""Which organisation a request acts for.

Signed-in people may belong to several organisations; the one they act for is kept in the
session and can be switched. Staff pages do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from portal.access import PortalRequest
from portal.flags import DEVELOPER_PORTAL
from portal.models import Membership

SESSION_ORG_KEY = "current_org_id"


def current_membership(request: HttpRequest) -> Membership | None:
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("org")
    org_id = request.session.get(SESSION_ORG_KEY)
    chosen = memberships.filter(org_id=org_id).first() if org_id else None
    return chosen or memberships.order_by("created_at", "id").first()


class CurrentOrgMiddleware:
    """Sets `request.membership` and `request.org` (None for people without an org)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    # The request becomes a PortalRequest here: this sets the two attributes it adds.
    def __call__(self, request: PortalRequest) -> HttpResponseBase:
        membership = current_membership(request)
        request.membership = membership
        request.org = membership.org if membership else None
        return self.get_response(request)


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the current org and what the navigation may show.

    Nothing for a request that turned anonymous after the middleware ran (the API's
    session check refuses a post without its CSRF token and drops the user): its
    membership belongs to no one who is signed in."""
    user = getattr(request, "user", None)
    membership = getattr(request, "membership", None)
    if user is None or not user.is_authenticated:
        membership = None
    portal_on = bool(membership and membership.org.flag_enabled(DEVELOPER_PORTAL))
    return {
        "membership": membership,
        "current_org": membership.org if membership else None,
        "portal_enabled": portal_on,
        "can_use_portal": portal_on and bool(membership and membership.is_developer),
        "other_memberships": (
            Membership.objects.filter(user=user).exclude(pk=membership.pk).select_related("org")
            if membership
            else []
        ),
    }
