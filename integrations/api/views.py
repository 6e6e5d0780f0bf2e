"""REST API for integration drafts: CRUD, manifest export/import, validation, previews,
logo, revisions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FileUploadParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import access, actions
from integrations.api.serializers import (
    CopyErrorsSerializer,
    DiffSerializer,
    IntegrationCreateSerializer,
    IntegrationRenameSerializer,
    IntegrationSerializer,
    PreviewInputSerializer,
    PreviewSerializer,
    RevisionSerializer,
    SaveResultSerializer,
    ValidateInputSerializer,
    ValidationSerializer,
)
from integrations.configuration import preview_report, validation_report
from integrations.logo import MAX_LOGO_BYTES
from integrations.manifests import manifest_of
from integrations.models import (
    Integration,
    IntegrationRevision,
    IntegrationStatus,
    IntegrationType,
)
from portal.api.parsers import JSONParser, MultiPartParser
from portal.api.permissions import IsDeveloper, api_org, api_user
from portal.errors import ActionError
from portal.middleware_input import accepts_upload
from portal.params import optional_id
from syncengine.core.manifest.normalize import canonical_json
from syncengine.core.manifest_diff import manifest_diff

MAX_LOGO_UPLOAD = 1024 * 1024 + 1


class DeveloperAPIView(APIView):
    permission_classes = [IsDeveloper]

    def integration(self, request: Request, integration_id: int | str) -> Integration:
        return access.get_integration(api_org(request), integration_id)


def _save_result(integration: Integration) -> dict[str, Any]:
    report = validation_report(manifest_of(integration))
    return {
        "revision": integration.revision,
        **{k: report[k] for k in ("valid", "error_count", "warning_count", "diagnostics")},
    }


class IntegrationListView(generics.ListAPIView):
    permission_classes = [IsDeveloper]
    serializer_class = IntegrationSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=IntegrationStatus.values),
            OpenApiParameter("type", str, enum=IntegrationType.values),
            OpenApiParameter("q", str, description="Search in display names"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Integration]:
        rows = access.integrations_for(api_org(self.request))
        params = self.request.query_params
        if (wanted := params.get("status")) in IntegrationStatus.values:
            rows = rows.filter(status=wanted)
        elif wanted is not None:
            raise ActionError(
                f"status must be one of {', '.join(IntegrationStatus.values)}.", field="status"
            )
        if (kind := params.get("type")) in IntegrationType.values:
            rows = rows.filter(integration_type=kind)
        elif kind is not None:
            raise ActionError(
                f"type must be one of {', '.join(IntegrationType.values)}.", field="type"
            )
        if search := params.get("q", "").strip():
            rows = rows.filter(display_name__icontains=search[:100])
        return rows

    @extend_schema(
        request=IntegrationCreateSerializer,
        responses={201: IntegrationSerializer},
        summary="Create a draft (Part 1: display name and type)",
    )
    def post(self, request: Request) -> Response:
        serializer = IntegrationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration = actions.integration_create(
            acting_user=api_user(request), org=api_org(request), **serializer.validated_data
        )
        return Response(IntegrationSerializer(integration).data, status=status.HTTP_201_CREATED)


class IntegrationImportView(DeveloperAPIView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: IntegrationSerializer},
        summary="Create a draft from a whole manifest",
    )
    def post(self, request: Request) -> Response:
        integration = actions.integration_import(
            acting_user=api_user(request), org=api_org(request), manifest=request.data
        )
        return Response(IntegrationSerializer(integration).data, status=status.HTTP_201_CREATED)


class IntegrationDetailView(DeveloperAPIView):
    @extend_schema(responses=IntegrationSerializer)
    def get(self, request: Request, integration_id: int) -> Response:
        return Response(IntegrationSerializer(self.integration(request, integration_id)).data)

    @extend_schema(
        request=IntegrationRenameSerializer,
        responses=IntegrationSerializer,
        summary="Rename the draft (every field optional: nothing given, nothing changes)",
    )
    def patch(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        serializer = IntegrationRenameSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "display_name" not in data:
            return Response(IntegrationSerializer(integration).data)
        manifest = {**integration.config, "display_name": data["display_name"]}
        integration = actions.integration_save(
            acting_user=api_user(request),
            integration=integration,
            manifest=manifest,
            base_revision=data.get("base_revision"),
            note="Renamed",
        )
        return Response(IntegrationSerializer(integration).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, integration_id: int) -> Response:
        actions.integration_delete(
            acting_user=api_user(request), integration=self.integration(request, integration_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ManifestView(DeveloperAPIView):
    parser_classes = [JSONParser]

    @extend_schema(
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
        summary="Export the manifest (canonical JSON)",
    )
    def get(self, request: Request, integration_id: int) -> HttpResponse:
        integration = self.integration(request, integration_id)
        response = HttpResponse(
            canonical_json(manifest_of(integration)), content_type="application/json"
        )
        if request.query_params.get("download"):
            response["Content-Disposition"] = (
                f'attachment; filename="integration-{integration.pk}.json"'
            )
        return response

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses=SaveResultSerializer,
        parameters=[OpenApiParameter("base_revision", int)],
        summary="Import a manifest into this draft (replaces its configuration)",
    )
    def put(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        base = optional_id(request.query_params.get("base_revision"), field="base_revision")
        integration = actions.integration_save(
            acting_user=api_user(request),
            integration=integration,
            manifest=request.data,
            base_revision=base,
            replace_logo=True,
            note="Imported manifest",
        )
        return Response(_save_result(integration))


class ValidateView(DeveloperAPIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=ValidationSerializer, summary="Diagnostics and variable tracker")
    def get(self, request: Request, integration_id: int) -> Response:
        return Response(validation_report(manifest_of(self.integration(request, integration_id))))

    @extend_schema(
        request=ValidateInputSerializer,
        responses=ValidationSerializer,
        summary="Validate a manifest you are editing (nothing is saved)",
    )
    def post(self, request: Request, integration_id: int) -> Response:
        self.integration(request, integration_id)
        serializer = ValidateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(validation_report(serializer.validated_data["manifest"]))


class PreviewView(DeveloperAPIView):
    # Values and mappings are objects: JSON only (a form would flatten them away).
    parser_classes = [JSONParser]

    @extend_schema(
        responses=PreviewSerializer, summary="Rendered requests with mock users, and curl commands"
    )
    def get(self, request: Request, integration_id: int) -> Response:
        return Response(preview_report(manifest_of(self.integration(request, integration_id))))

    @extend_schema(
        request=PreviewInputSerializer,
        responses=PreviewSerializer,
        summary="Preview with your own test values, or an unsaved manifest",
    )
    def post(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        serializer = PreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        manifest = data.get("manifest")
        if manifest is not None and not isinstance(manifest, dict):
            raise ActionError("manifest must be a JSON object.", field="manifest")
        return Response(
            preview_report(
                manifest or manifest_of(integration),
                values=data.get("values"),
                mapping=data.get("mapping"),
                reveal=data["reveal"],
            )
        )


@accepts_upload(MAX_LOGO_BYTES)
class LogoView(DeveloperAPIView):
    parser_classes = [MultiPartParser, FileUploadParser]

    @extend_schema(
        parameters=[OpenApiParameter("kind", str, enum=["full", "tile"])],
        responses={(200, "image/png"): OpenApiTypes.BINARY, 404: None},
        summary="The logo as PNG (the tile rendition with kind=tile)",
    )
    def get(self, request: Request, integration_id: int) -> HttpResponse:
        integration = self.integration(request, integration_id)
        kind = request.query_params.get("kind", "full")
        if integration.logo is None or kind not in {"full", "tile"}:
            raise Http404("No logo.")
        data = integration.logo.png if kind == "full" else integration.logo.tile_png
        response = HttpResponse(bytes(data), content_type="image/png")
        # URLs carry the content hash (?v=), so a changed logo is a new URL.
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        responses=IntegrationSerializer,
        summary="Upload the PNG logo (at most 1 MB)",
    )
    def put(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise ActionError("Send the PNG as a multipart field named file.", field="file")
        data = upload.read(MAX_LOGO_UPLOAD)
        integration = actions.integration_set_logo(
            acting_user=api_user(request), integration=integration, data=data
        )
        return Response(IntegrationSerializer(integration).data)

    @extend_schema(responses={200: IntegrationSerializer}, summary="Remove the logo")
    def delete(self, request: Request, integration_id: int) -> Response:
        integration = actions.integration_set_logo(
            acting_user=api_user(request),
            integration=self.integration(request, integration_id),
            data=None,
        )
        return Response(IntegrationSerializer(integration).data)


class DuplicateView(DeveloperAPIView):
    @extend_schema(request=None, responses={201: IntegrationSerializer})
    def post(self, request: Request, integration_id: int) -> Response:
        copy = actions.integration_duplicate(
            acting_user=api_user(request), integration=self.integration(request, integration_id)
        )
        return Response(IntegrationSerializer(copy).data, status=status.HTTP_201_CREATED)


class CopyErrorsView(DeveloperAPIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=CopyErrorsSerializer,
        responses=SaveResultSerializer,
        summary="Copy error classifications from one endpoint to another",
    )
    def post(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        serializer = CopyErrorsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration = actions.integration_copy_errors(
            acting_user=api_user(request), integration=integration, **serializer.validated_data
        )
        return Response(_save_result(integration))


class RevisionListView(generics.ListAPIView):
    permission_classes = [IsDeveloper]
    serializer_class = RevisionSerializer

    def get_queryset(self) -> QuerySet[IntegrationRevision]:
        integration = access.get_integration(api_org(self.request), self.kwargs["integration_id"])
        return integration.revisions.select_related("created_by")


class RevisionManifestView(DeveloperAPIView):
    @extend_schema(
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
        summary="The manifest as it was at a revision",
    )
    def get(self, request: Request, integration_id: int, number: int) -> HttpResponse:
        revision = access.get_revision(self.integration(request, integration_id), number)
        return HttpResponse(canonical_json(manifest_of(revision)), content_type="application/json")


class RevisionRestoreView(DeveloperAPIView):
    @extend_schema(request=None, responses=SaveResultSerializer)
    def post(self, request: Request, integration_id: int, number: int) -> Response:
        integration = self.integration(request, integration_id)
        revision = access.get_revision(integration, number)
        integration = actions.integration_restore(
            acting_user=api_user(request), integration=integration, revision=revision
        )
        return Response(_save_result(integration))


class DiffView(DeveloperAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", int, description="default: current"),
        ],
        responses=DiffSerializer,
        summary="What changed between two revisions",
    )
    def get(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        start = access.get_revision(integration, request.query_params.get("from"))
        end_number = request.query_params.get("to")
        end = access.get_revision(integration, end_number) if end_number else integration
        changes = manifest_diff(manifest_of(start), manifest_of(end))
        return Response({"changes": [change.as_dict() for change in changes]})
