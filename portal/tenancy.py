"""Which organisation a request acts for.

Signed-in people may belong to several organisations; the one they act for is kept in the
session and can be switched. Staff pages do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from portal.access import PortalRequest
from portal.flags import DEVELOPER_PORTAL
from portal.models import Membership, OrgFlag

SESSION_ORG_KEY = "current_org_id"


def memberships_of(request: HttpRequest) -> tuple[Membership | None, list[Membership]]:
    """The membership the request acts for (the session's org, else the oldest) and the
    person's others, by organisation name (the navigation's switcher), in one query.

    Every page asks whether the org's Developer Portal is on (the access check, the
    navigation): the same query reads it, and each org remembers it for the request."""
    user = request.user
    if not user.is_authenticated:
        return None, []
    portal_on = OrgFlag.objects.filter(org=OuterRef("org"), flag=DEVELOPER_PORTAL, enabled=True)
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("org")
        .annotate(portal_on=Exists(portal_on))
    )
    for membership in memberships:
        membership.org.remember_flag(DEVELOPER_PORTAL, membership.portal_on)
    org_id = request.session.get(SESSION_ORG_KEY)
    chosen = next((m for m in memberships if org_id and m.org_id == org_id), None)
    chosen = chosen or min(memberships, key=lambda m: (m.created_at, m.pk), default=None)
    return chosen, [m for m in memberships if m is not chosen]


class CurrentOrgMiddleware:
    """Sets `request.membership` and `request.org` (None for people without an org), and
    `request.other_memberships`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    # The request becomes a PortalRequest here: this sets the attributes it adds.
    def __call__(self, request: PortalRequest) -> HttpResponseBase:
        membership, others = memberships_of(request)
        request.membership = membership
        request.org = membership.org if membership else None
        request.other_memberships = others
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
        "other_memberships": getattr(request, "other_memberships", []) if membership else [],
    }
