"""REST API of versions and the Destinations catalogue: internal release, an integration's
versions, a version's tile logo, the caller's catalogue and the platform admins' rollback,
hide and show."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import access, releases
from integrations.api.serializers import (
    DestinationSerializer,
    RollbackSerializer,
    VersionSerializer,
    VisibilitySerializer,
)
from integrations.api.views import DeveloperAPIView
from integrations.models import Destination, IntegrationVersion
from portal.api.permissions import (
    IsDeveloper,
    IsOrgMember,
    IsPlatformAdmin,
    IsReviewerOrDeveloper,
    api_membership,
    api_org,
    api_user,
)


class ReleaseView(DeveloperAPIView):
    @extend_schema(
        request=None,
        responses={201: VersionSerializer},
        summary="Release the current draft to your own organisation (no review)",
    )
    def post(self, request: Request, integration_id: int) -> Response:
        version = releases.integration_release(
            acting_user=api_user(request), integration=self.integration(request, integration_id)
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class IntegrationVersionsView(generics.ListAPIView):
    permission_classes = [IsDeveloper]
    serializer_class = VersionSerializer

    def get_queryset(self) -> QuerySet[IntegrationVersion]:
        integration = access.get_integration(api_org(self.request), self.kwargs["integration_id"])
        return integration.versions.select_related(
            "integration__org", "created_by", "assigned_to", "decided_by"
        )


class VersionLogoView(APIView):
    permission_classes = [IsReviewerOrDeveloper]

    @extend_schema(responses={(200, "image/png"): bytes}, summary="The version's tile logo")
    def get(self, request: Request, version_id: int) -> HttpResponse:
        version = access.get_version(api_user(request), api_membership(request), version_id)
        if version.logo is None:
            raise Http404("No logo.")
        response = HttpResponse(bytes(version.logo.tile_png), content_type="image/png")
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response


class DestinationListView(generics.ListAPIView):
    """The Destinations catalogue of the caller's organisation: every approved destination
    not hidden, and the organisation's own internal releases."""

    permission_classes = [IsOrgMember]
    serializer_class = DestinationSerializer

    @extend_schema(summary="The Destinations catalogue: what your organisation can connect")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Destination]:
        return access.catalogue_for(api_org(self.request))


class DestinationRollbackView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=RollbackSerializer,
        responses=DestinationSerializer,
        summary="Serve an earlier approved version again",
    )
    def post(self, request: Request, destination_id: int) -> Response:
        destination = get_object_or_404(
            Destination.objects.select_related("version"), pk=destination_id
        )
        serializer = RollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = get_object_or_404(
            destination.integration.versions, number=serializer.validated_data["version"]
        )
        destination = releases.destination_rollback(
            acting_user=api_user(request), destination=destination, version=version
        )
        return Response(DestinationSerializer(destination).data)


class DestinationVisibilityView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=VisibilitySerializer,
        responses=DestinationSerializer,
        summary="Hide an approved destination from the catalogue, or show it again",
    )
    def post(self, request: Request, destination_id: int) -> Response:
        destination = get_object_or_404(
            Destination.objects.select_related("version", "org"), pk=destination_id
        )
        serializer = VisibilitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        destination = releases.destination_hide(
            acting_user=api_user(request),
            destination=destination,
            hidden=serializer.validated_data["hidden"],
        )
        return Response(DestinationSerializer(destination).data)
