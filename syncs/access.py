"""Reads of connections, syncs and their runs, scoped by organisation, and who may change
them.

Every lookup goes through the organisation: another organisation's connection, sync, run
or batch is a 404 exactly like a missing one. Any member may look; changing anything is for
the organisation's admins and developers (`integrations.catalogue.may_connect`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from integrations.catalogue import may_connect
from portal.access import MemberRequest, View, as_int, is_member, is_signed_in
from portal.api.permissions import api_membership
from portal.errors import ActionError
from portal.models import Membership, Organization, User
from syncs.models import CohortSync, Connection, SyncBatch, SyncExchange, SyncRun

MANAGERS_ONLY = "Only admins and developers of your organisation can change connections and syncs."


def connections_for(org: Organization) -> QuerySet[Connection]:
    return Connection.objects.filter(org=org).select_related(
        "destination__org", "destination__version", "version", "project", "org", "created_by"
    )


def get_connection(org: Organization, pk: int | str) -> Connection:
    return get_object_or_404(connections_for(org), pk=as_int(pk))


def syncs_for(org: Organization) -> QuerySet[CohortSync]:
    return CohortSync.objects.filter(connection__org=org).select_related(
        "cohort",
        "connection__destination__version",
        "connection__version",
        "connection__project",
        "connection__org",
    )


def get_sync(org: Organization, pk: int | str) -> CohortSync:
    return get_object_or_404(syncs_for(org), pk=as_int(pk))


def runs_for(org: Organization) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(sync__connection__org=org).select_related(
        "sync__cohort", "sync__connection", "version", "started_by"
    )


def get_run(org: Organization, pk: int | str) -> SyncRun:
    return get_object_or_404(runs_for(org), pk=as_int(pk))


def get_run_of(sync: CohortSync, pk: int | str) -> SyncRun:
    """A run of `sync`; a run of another sync (even of the same org) is a 404."""
    return get_object_or_404(
        SyncRun.objects.filter(sync=sync).select_related("version", "started_by"), pk=as_int(pk)
    )


def get_batch(run: SyncRun, sequence: int | str) -> SyncBatch:
    return get_object_or_404(run.batches.all(), sequence=as_int(sequence))


def get_exchange(run: SyncRun, sequence: int | str) -> SyncExchange:
    return get_object_or_404(run.exchanges.select_related("batch"), sequence=as_int(sequence))


# --- who may change things ------------------------------------------------------------------


def require_manager(user: User, org: Organization) -> Membership:
    """The acting person's membership of `org`, if they may change its connections and
    syncs; otherwise the refusal (403) that pages and the API show."""
    membership = Membership.objects.filter(user=user, org=org).select_related("org").first()
    if not may_connect(membership):
        raise ActionError(MANAGERS_ONLY, status=403, code="permission_denied")
    assert membership is not None  # may_connect refuses None
    return membership


def manager_required[**P](
    view: Callable[Concatenate[MemberRequest, P], HttpResponseBase],
) -> View[P]:
    """Pages that change connections or syncs: an admin or a developer of the org."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not is_signed_in(request):
            return redirect_to_login(request.get_full_path())
        if not is_member(request):
            raise PermissionDenied("You do not belong to an organisation yet.")
        if not may_connect(request.membership):
            raise PermissionDenied(MANAGERS_ONLY)
        return view(request, *args, **kwargs)

    return wrapper


class IsSyncManagerOrReadOnly(permissions.BasePermission):
    """API: any member reads; admins and developers change."""

    message = MANAGERS_ONLY

    def has_permission(self, request: Request, view: APIView) -> bool:
        membership = api_membership(request) if request.user.is_authenticated else None
        if membership is None:
            return False
        return request.method in permissions.SAFE_METHODS or may_connect(membership)
