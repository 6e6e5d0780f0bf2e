"""REST API of connections and cohort syncs (tagged *Cohort syncs*, as the whole app):
connecting a destination of the catalogue, adding syncs, starting runs (Sync now, Retry
failed, Full resync), pausing, deleting, and reading the delivery log (runs, batches,
exchanges). Bodies are JSON.

Thin: parse with a serializer, call an action or an access helper, present. Every lookup
goes through the caller's organisation, so another org's connection, sync or run is a 404;
members read, admins and developers change.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import access as integration_access
from portal import access as portal_access
from portal.api.parsers import JSONParser
from portal.api.permissions import IsOrgMember, api_org, api_user
from portal.errors import ActionError
from portal.models import Cohort, Project
from syncs import access, actions
from syncs.access import IsSyncManagerOrReadOnly
from syncs.api.serializers import (
    ConnectionInputSerializer,
    ConnectionSerializer,
    ConnectionUpdateSerializer,
    FullResyncSerializer,
    SyncBatchSerializer,
    SyncDeleteSerializer,
    SyncExchangeSerializer,
    SyncInputSerializer,
    SyncRunSerializer,
    SyncSerializer,
    SyncUpdateSerializer,
)
from syncs.models import CohortSync, Connection, RunStatus, SyncBatch, SyncExchange, SyncRun

PERMISSIONS = [IsOrgMember, IsSyncManagerOrReadOnly]
# Bodies are JSON: the values of a Connect form are an object, a daily hour may be null.
PARSERS = [JSONParser]
BUSY = OpenApiResponse(description="A run of this sync is queued or running (`sync_busy`).")


def active_runs(syncs: list[CohortSync]) -> dict[int, SyncRun]:
    """The queued or running run of each sync, for their `state`."""
    rows = SyncRun.objects.filter(sync__in=syncs, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
    return {run.sync_id: run for run in rows}


def sync_data(sync: CohortSync) -> dict[str, Any]:
    data: dict[str, Any] = SyncSerializer(sync, context={"active": active_runs([sync])}).data
    return data


def _project(request: Request, project_id: int) -> Project | None:
    try:
        return portal_access.get_project(api_org(request), project_id)
    except Http404:
        return None


# --- connections ----------------------------------------------------------------------------


class ConnectionListView(generics.ListAPIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS
    serializer_class = ConnectionSerializer

    @extend_schema(summary="Your organisation's connections (secrets masked)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Connection]:
        return access.connections_for(api_org(self.request))

    @extend_schema(
        request=ConnectionInputSerializer,
        responses={201: ConnectionSerializer},
        summary="Connect a destination of your catalogue to one of your projects",
    )
    def post(self, request: Request) -> Response:
        serializer = ConnectionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        org = api_org(request)
        try:
            destination = integration_access.get_catalogue_destination(org, data["destination_id"])
        except Http404:
            raise ActionError(
                "There is no such destination in your organisation's catalogue.",
                field="destination_id",
            ) from None
        connection = actions.connection_create(
            acting_user=api_user(request),
            org=org,
            destination=destination,
            project=_project(request, data["project_id"]),
            name=data["name"],
            values=data.get("values", {}),
            mapping=data.get("mapping", {}),
        )
        connection = access.get_connection(org, connection.pk)
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)


class ConnectionDetailView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(responses=ConnectionSerializer, summary="A connection (secrets masked)")
    def get(self, request: Request, connection_id: int) -> Response:
        connection = access.get_connection(api_org(request), connection_id)
        return Response(ConnectionSerializer(connection).data)

    @extend_schema(
        request=ConnectionUpdateSerializer,
        responses=ConnectionSerializer,
        summary="Rename, change values, or reconnect onto the version the destination serves",
    )
    def patch(self, request: Request, connection_id: int) -> Response:
        org = api_org(request)
        connection = access.get_connection(org, connection_id)
        serializer = ConnectionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actions.connection_update(
            acting_user=api_user(request),
            connection=connection,
            name=data.get("name"),
            values=data.get("values"),
            mapping=data.get("mapping"),
        )
        return Response(ConnectionSerializer(access.get_connection(org, connection_id)).data)

    @extend_schema(
        responses={204: None, 409: OpenApiResponse(description="It still has cohort syncs.")},
        summary="Delete a connection without cohort syncs",
    )
    def delete(self, request: Request, connection_id: int) -> Response:
        connection = access.get_connection(api_org(request), connection_id)
        actions.connection_delete(acting_user=api_user(request), connection=connection)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- cohort syncs ---------------------------------------------------------------------------


class SyncListBase(generics.ListAPIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS
    serializer_class = SyncSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset())) or []
        context = {**self.get_serializer_context(), "active": active_runs(list(page))}
        return self.get_paginated_response(SyncSerializer(page, many=True, context=context).data)


class SyncListView(SyncListBase):
    @extend_schema(summary="Every cohort sync of your organisation")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[CohortSync]:
        return access.syncs_for(api_org(self.request)).order_by("pk")


class ConnectionSyncsView(SyncListBase):
    @extend_schema(summary="The cohort syncs of a connection")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[CohortSync]:
        connection = access.get_connection(api_org(self.request), self.kwargs["connection_id"])
        return access.syncs_for(api_org(self.request)).filter(connection=connection).order_by("pk")

    @extend_schema(
        request=SyncInputSerializer,
        responses={201: SyncSerializer},
        summary="Sync a cohort of the connection's project, on a cadence",
    )
    def post(self, request: Request, connection_id: int) -> Response:
        connection = access.get_connection(api_org(request), connection_id)
        serializer = SyncInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        cohort = Cohort.objects.filter(
            project=connection.project, public_id=data["cohort_id"]
        ).first()
        sync = actions.sync_create(
            acting_user=api_user(request),
            connection=connection,
            cohort=cohort,
            cadence_value=data["cadence"],
            daily_hour=data.get("daily_hour"),
        )
        return Response(sync_data(sync), status=status.HTTP_201_CREATED)


class SyncDetailView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(responses=SyncSerializer, summary="A cohort sync")
    def get(self, request: Request, sync_id: int) -> Response:
        return Response(sync_data(access.get_sync(api_org(request), sync_id)))

    @extend_schema(
        request=SyncUpdateSerializer, responses=SyncSerializer, summary="Change the schedule"
    )
    def patch(self, request: Request, sync_id: int) -> Response:
        sync = access.get_sync(api_org(request), sync_id)
        serializer = SyncUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sync = actions.sync_update(
            acting_user=api_user(request),
            sync=sync,
            cadence_value=serializer.validated_data["cadence"],
            daily_hour=serializer.validated_data.get("daily_hour"),
        )
        return Response(sync_data(sync))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "empty_first",
                bool,
                description="Empty the partner's list first: 202 with the emptying run. The "
                "sync is shown as being deleted (`deleting`) and is deleted by the worker "
                "when that run has removed every delivered member; if the run does not "
                "succeed the sync stays, paused, saying so, and DELETE can be sent again. "
                "503 `queue_unavailable` when the task queue is down (nothing started).",
            )
        ],
        request=None,
        responses={
            202: SyncRunSerializer,
            204: None,
            409: BUSY,
        },
        summary="Delete a sync, leaving the partner's list as it is or emptying it first",
    )
    def delete(self, request: Request, sync_id: int) -> Response:
        sync = access.get_sync(api_org(request), sync_id)
        serializer = SyncDeleteSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        run = actions.sync_delete(
            acting_user=api_user(request),
            sync=sync,
            empty_first=serializer.validated_data["empty_first"],
        )
        if run is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncPauseView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(request=None, responses=SyncSerializer, summary="Pause scheduled runs")
    def post(self, request: Request, sync_id: int) -> Response:
        sync = access.get_sync(api_org(request), sync_id)
        return Response(sync_data(actions.sync_pause(acting_user=api_user(request), sync=sync)))


class SyncResumeView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(request=None, responses=SyncSerializer, summary="Resume a paused sync")
    def post(self, request: Request, sync_id: int) -> Response:
        sync = access.get_sync(api_org(request), sync_id)
        return Response(sync_data(actions.sync_resume(acting_user=api_user(request), sync=sync)))


class SyncNowView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(
        request=None,
        responses={202: SyncRunSerializer, 409: BUSY},
        summary="Sync now: send what changed since the last delivered state",
    )
    def post(self, request: Request, sync_id: int) -> Response:
        sync = access.get_sync(api_org(request), sync_id)
        run = actions.sync_run_now(acting_user=api_user(request), sync=sync)
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncRetryView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(
        request=None,
        responses={202: SyncRunSerializer, 409: BUSY},
        summary="Retry failed: re-send only what the last run's failed batches did not deliver",
    )
    def post(self, request: Request, sync_id: int) -> Response:
        sync = access.get_sync(api_org(request), sync_id)
        run = actions.sync_retry_failed(acting_user=api_user(request), sync=sync)
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncFullResyncView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(
        request=FullResyncSerializer,
        responses={202: SyncRunSerializer, 409: BUSY},
        summary="Full resync: send the whole cohort again (optionally to a new list)",
    )
    def post(self, request: Request, sync_id: int) -> Response:
        sync = access.get_sync(api_org(request), sync_id)
        serializer = FullResyncSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = actions.sync_full_resync(
            acting_user=api_user(request),
            sync=sync,
            new_list=serializer.validated_data["new_list"],
        )
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


# --- the delivery log -----------------------------------------------------------------------


class SyncRunListView(generics.ListAPIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS
    serializer_class = SyncRunSerializer

    @extend_schema(summary="The runs of a sync, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[SyncRun]:
        sync = access.get_sync(api_org(self.request), self.kwargs["sync_id"])
        return SyncRun.objects.filter(sync=sync).select_related("version", "started_by")


class SyncRunDetailView(APIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS

    @extend_schema(responses=SyncRunSerializer, summary="A sync run: state, counts, diagnosis")
    def get(self, request: Request, sync_run_id: int) -> Response:
        return Response(SyncRunSerializer(access.get_run(api_org(request), sync_run_id)).data)


class SyncRunBatchesView(generics.ListAPIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS
    serializer_class = SyncBatchSerializer

    @extend_schema(summary="The planned batches of a run, in order, with their outcome")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[SyncBatch]:
        run = access.get_run(api_org(self.request), self.kwargs["sync_run_id"])
        return run.batches.order_by("sequence")


class SyncRunExchangesView(generics.ListAPIView):
    permission_classes = PERMISSIONS
    parser_classes = PARSERS
    serializer_class = SyncExchangeSerializer

    @extend_schema(
        parameters=[OpenApiParameter("batch", int, description="Only the attempts of this batch.")],
        summary="Every request and response of a run (secrets masked, bodies truncated)",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[SyncExchange]:
        run = access.get_run(api_org(self.request), self.kwargs["sync_run_id"])
        rows = run.exchanges.select_related("batch").order_by("sequence")
        batch = self.request.query_params.get("batch")
        if batch is not None:
            rows = rows.filter(batch=access.get_batch(run, batch))
        return rows
