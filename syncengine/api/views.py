"""REST API for testing an integration: test settings, test runs, exchanges, signing secret.

Thin: parse with a serializer, call an action or a selector, present. Every lookup goes
through the caller's organisation, so another org's integration or run is a 404.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import access
from integrations.manifests import config_fingerprint, manifest_of
from integrations.models import Integration
from portal.api.parsers import FormParser, JSONParser, MultiPartParser
from portal.api.permissions import IsDeveloper, api_org, api_user
from portal.errors import ActionError
from syncengine import actions, selectors
from syncengine.api.serializers import (
    SigningSecretSerializer,
    TestExchangeSerializer,
    TestRunDetailSerializer,
    TestRunInputSerializer,
    TestRunSerializer,
    TestSettingsInputSerializer,
    TestSettingsSerializer,
)
from syncengine.core.signing import SIGNATURE_HEADER
from syncengine.models import SigningSecret, TestExchange, UsersSource
from syncengine.presenters import settings_for_display
from syncengine.testusers import MAX_CSV_BYTES

PARSERS = [JSONParser, MultiPartParser, FormParser]


def read_csv_upload(upload: UploadedFile | str | None) -> bytes:
    """The bytes of an uploaded CSV, refusing one over the size limit without reading it all."""
    if upload is None or isinstance(upload, str):
        raise ActionError("Send the CSV as a file.", field="csv")
    data: bytes = upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise ActionError(
            f"The CSV of test users may be at most {MAX_CSV_BYTES // 1024} KiB.", field="csv"
        )
    return data


class IntegrationTestingView(APIView):
    permission_classes = [IsDeveloper]
    parser_classes = PARSERS

    def integration(self, request: Request, integration_id: int | str) -> Integration:
        return access.get_integration(api_org(request), integration_id)


class TestSettingsView(IntegrationTestingView):
    @extend_schema(responses=TestSettingsSerializer, summary="The test settings (secrets masked)")
    def get(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        settings = selectors.test_settings_for(integration)
        return Response(settings_for_display(settings, manifest_of(integration)))

    @extend_schema(
        request={
            "application/json": TestSettingsInputSerializer,
            "multipart/form-data": TestSettingsInputSerializer,
        },
        responses=TestSettingsSerializer,
        summary="Save the test settings: project and API key, Connect-modal values, users",
    )
    def put(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        serializer = TestSettingsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        csv_name = ""
        csv_data = None
        if "csv" in data:
            upload = data.pop("csv")
            csv_data, csv_name = read_csv_upload(upload), getattr(upload, "name", "")
        elif "csv_text" in data:
            csv_data, csv_name = data.pop("csv_text").encode("utf-8"), "users.csv"
        settings = actions.test_settings_save(
            acting_user=api_user(request),
            integration=integration,
            csv_data=csv_data,
            csv_name=csv_name,
            **data,
        )
        return Response(settings_for_display(settings, manifest_of(integration)))


class TestRunListView(IntegrationTestingView, generics.GenericAPIView):
    serializer_class = TestRunSerializer

    @extend_schema(responses=TestRunSerializer(many=True), summary="The draft's test runs")
    def get(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        page = self.paginate_queryset(selectors.test_runs_for(integration))
        context = {"fingerprint": config_fingerprint(integration)}
        return self.get_paginated_response(TestRunSerializer(page, many=True, context=context).data)

    @extend_schema(
        request={
            "application/json": TestRunInputSerializer,
            "multipart/form-data": TestRunInputSerializer,
        },
        responses={202: TestRunSerializer, 409: OpenApiResponse(description="A test is running")},
        summary="Start a test (full, or one endpoint) with the saved test settings",
    )
    def post(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        serializer = TestRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # A CSV sent with the run becomes the saved test users, in the same transaction:
        # if the run cannot start, nothing changes.
        with transaction.atomic():
            if "csv" in data:
                upload = data["csv"]
                actions.test_settings_save(
                    acting_user=api_user(request),
                    integration=integration,
                    users_source=UsersSource.CSV,
                    csv_data=read_csv_upload(upload),
                    csv_name=getattr(upload, "name", ""),
                )
            run = actions.test_run_start(
                acting_user=api_user(request),
                integration=integration,
                kind=data["kind"],
                list_id=data.get("list_id") or None,
                no_retries=data["no_retries"],
            )
        context = {"fingerprint": run.fingerprint}
        return Response(
            TestRunSerializer(run, context=context).data, status=status.HTTP_202_ACCEPTED
        )


class TestRunDetailView(APIView):
    permission_classes = [IsDeveloper]

    @extend_schema(
        responses=TestRunDetailSerializer,
        summary="A test run with its steps and its first 100 exchanges",
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = selectors.get_test_run(api_org(request), run_id)
        context = {"fingerprint": config_fingerprint(run.integration)}
        return Response(TestRunDetailSerializer(run, context=context).data)


class TestRunExchangesView(generics.ListAPIView):
    permission_classes = [IsDeveloper]
    serializer_class = TestExchangeSerializer

    @extend_schema(summary="Every request and response of a test run (secrets masked)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[TestExchange]:
        run = selectors.get_test_run(api_org(self.request), self.kwargs["run_id"])
        return run.exchanges.all()


class SigningSecretView(IntegrationTestingView):
    def _answer(
        self,
        stored: SigningSecret | None,
        clear: str | None = None,
        code: int = status.HTTP_200_OK,
    ) -> Response:
        return Response(
            {
                "exists": stored is not None,
                "secret": clear if clear else (stored.masked if stored else None),
                "created_at": stored.created_at if stored else None,
                "previous_signs_until": (
                    stored.previous_until if stored is not None and stored.rotating else None
                ),
                "header": SIGNATURE_HEADER,
            },
            status=code,
        )

    @extend_schema(responses=SigningSecretSerializer, summary="The signing secret (masked)")
    def get(self, request: Request, integration_id: int) -> Response:
        return self._answer(selectors.signing_secret_of(self.integration(request, integration_id)))

    @extend_schema(
        request=None,
        responses={201: SigningSecretSerializer},
        summary="Create or rotate the signing secret; the answer shows it once",
    )
    def post(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        clear = actions.signing_secret_rotate(
            acting_user=api_user(request), integration=integration
        )
        return self._answer(
            selectors.signing_secret_of(integration), clear, status.HTTP_201_CREATED
        )
