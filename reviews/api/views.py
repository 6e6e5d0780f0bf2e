"""REST API of the review side: submit and withdraw, the reviewers' queue, a review in
full, comments, decisions, assignment and reviewers' runs (test re-run, conformance)."""

from __future__ import annotations

from typing import Any, Literal

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import access
from integrations.api.serializers import VersionSerializer
from integrations.api.views import DeveloperAPIView
from integrations.manifests import manifest_of
from integrations.models import IntegrationVersion, VersionState
from portal.api.parsers import JSONParser
from portal.api.permissions import (
    IsReviewer,
    IsReviewerOrDeveloper,
    ReviewerWritesDeveloperReads,
    api_membership,
    api_user,
)
from portal.errors import ActionError
from portal.models import User
from portal.params import optional_id
from reviews import decisions, selectors, submissions
from reviews.api.serializers import (
    AssignSerializer,
    CommentInputSerializer,
    CommentSerializer,
    ConformanceRunSerializer,
    DecisionSerializer,
    ReviewDetailSerializer,
    ReviewerRunInputSerializer,
    SubmitSerializer,
)
from reviews.checks import conformance_start, review_rerun_test
from syncengine.api.serializers import TestRunSerializer


class SubmitView(DeveloperAPIView):
    @extend_schema(
        request=SubmitSerializer,
        responses={201: VersionSerializer},
        summary="Submit the draft for review (needs a passing test of this exact configuration)",
    )
    def post(self, request: Request, integration_id: int) -> Response:
        integration = self.integration(request, integration_id)
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = submissions.integration_submit(
            acting_user=api_user(request),
            integration=integration,
            note=serializer.validated_data.get("note", ""),
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class WithdrawView(DeveloperAPIView):
    @extend_schema(
        request=None, responses=VersionSerializer, summary="Withdraw the submission in review"
    )
    def post(self, request: Request, integration_id: int) -> Response:
        version = submissions.integration_withdraw(
            acting_user=api_user(request), integration=self.integration(request, integration_id)
        )
        return Response(VersionSerializer(version).data)


class ReviewQueueView(generics.ListAPIView):
    """Submissions across all organisations, oldest first."""

    permission_classes = [IsReviewer]
    serializer_class = VersionSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state", str, enum=VersionState.values, description="default: in_review"
            ),
            OpenApiParameter("org", int, description="ORG ID"),
            OpenApiParameter("older_than_days", int),
            OpenApiParameter("assigned", str, enum=["any", "me", "unassigned"]),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[IntegrationVersion]:
        params = self.request.query_params
        state = params.get("state", VersionState.IN_REVIEW)
        if state not in VersionState.values:
            raise ActionError(
                f"state must be one of {', '.join(VersionState.values)}.", field="state"
            )
        assigned: User | Literal["any"] | None = {
            "me": api_user(self.request),
            "unassigned": None,
        }.get(params.get("assigned", "any"), "any")
        return selectors.review_queue(
            state=state,
            org_id=optional_id(params.get("org"), field="org"),
            older_than_days=optional_id(
                params.get("older_than_days"),
                field="older_than_days",
                maximum=selectors.MAX_REVIEW_AGE_DAYS,
            ),
            assigned_to=assigned,
        )


class ReviewDetailView(APIView):
    permission_classes = [IsReviewerOrDeveloper]

    @extend_schema(
        responses=ReviewDetailSerializer,
        summary="A version in full, its diff against the last approved version, "
        "checks and comments",
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), api_membership(request), version_id)
        report = selectors.version_report(version)
        return Response(
            {
                "version": VersionSerializer(version).data,
                "manifest": manifest_of(version),
                "diff": selectors.version_diff(version),
                "validation": report["validation"],
                "preview": report["preview"],
                "comments": CommentSerializer(
                    version.comments.select_related("author"), many=True
                ).data,
            }
        )


class CommentsView(APIView):
    # `parent` is a number or null: JSON says which, a form cannot.
    parser_classes = [JSONParser]

    permission_classes = [IsReviewerOrDeveloper]

    @extend_schema(responses=CommentSerializer(many=True))
    def get(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), api_membership(request), version_id)
        return Response(
            CommentSerializer(version.comments.select_related("author"), many=True).data
        )

    @extend_schema(
        request=CommentInputSerializer,
        responses={201: CommentSerializer},
        summary="Comment on a version (reviewers and the partner)",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), api_membership(request), version_id)
        serializer = CommentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parent_id = serializer.validated_data.get("parent")
        parent = (
            get_object_or_404(version.comments, pk=parent_id) if parent_id is not None else None
        )
        comment = decisions.review_comment(
            acting_user=api_user(request),
            version=version,
            body=serializer.validated_data["body"],
            parent=parent,
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class DecisionView(APIView):
    permission_classes = [IsReviewer]
    decision = "approve"
    ACTIONS = {
        "approve": decisions.review_approve,
        "request-changes": decisions.review_request_changes,
        "reject": decisions.review_reject,
    }

    @extend_schema(request=DecisionSerializer, responses=VersionSerializer)
    def post(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), None, version_id)
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = self.ACTIONS[self.decision](
            acting_user=api_user(request),
            version=version,
            message=serializer.validated_data.get("message", ""),
        )
        return Response(VersionSerializer(version).data)


class AssignView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=AssignSerializer,
        responses=VersionSerializer,
        summary="Assign the review to a reviewer (or unassign)",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), None, version_id)
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data.get("reviewer")
        reviewer = None
        if email:
            reviewer = User.objects.filter(email__iexact=email).first()
            if reviewer is None:
                raise ActionError(f"No account has the email {email}.", field="reviewer")
        version = decisions.review_assign(
            acting_user=api_user(request), version=version, reviewer=reviewer
        )
        return Response(VersionSerializer(version).data)


class RerunTestView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=ReviewerRunInputSerializer,
        responses={201: TestRunSerializer},
        summary="Re-run the full test on the submitted version (reviewers)",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), None, version_id)
        serializer = ReviewerRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = review_rerun_test(
            acting_user=api_user(request), version=version, **serializer.validated_data
        )
        return Response(TestRunSerializer(run).data, status=status.HTTP_201_CREATED)


class ConformanceView(APIView):
    permission_classes = [ReviewerWritesDeveloperReads]

    @extend_schema(
        responses={200: ConformanceRunSerializer, 404: None},
        summary="The latest conformance checks of the version",
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), api_membership(request), version_id)
        run = version.conformance_runs.select_related("started_by").first()
        if run is None:
            raise Http404("The conformance checks have not run yet.")
        return Response(ConformanceRunSerializer(run).data)

    @extend_schema(
        request=ReviewerRunInputSerializer,
        responses={201: ConformanceRunSerializer},
        summary="Run the automated conformance checks (reviewers)",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = access.get_version(api_user(request), None, version_id)
        serializer = ReviewerRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = conformance_start(
            acting_user=api_user(request),
            version=version,
            values=data.get("values"),
            mapping=data.get("mapping"),
        )
        return Response(ConformanceRunSerializer(run).data, status=status.HTTP_201_CREATED)
