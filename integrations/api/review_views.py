"""REST API for the lifecycle: release, submit, withdraw; the review queue, review detail,
comments and decisions; the Destinations catalog."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import access, lifecycle
from integrations.api.review_serializers import (
    AssignSerializer,
    CommentInputSerializer,
    CommentSerializer,
    ConformanceRunSerializer,
    DecisionSerializer,
    DestinationSerializer,
    ReviewDetailSerializer,
    ReviewerRunInputSerializer,
    RollbackSerializer,
    SubmitSerializer,
    VersionSerializer,
)
from integrations.api.views import DeveloperAPIView
from integrations.manifests import manifest_of
from integrations.models import Destination, VersionState
from integrations.reviewer_runs import conformance_start, review_rerun_test
from integrations.reviews import version_diff, version_report
from portal.api.permissions import (
    IsDeveloper,
    IsOrgMember,
    IsPlatformAdmin,
    IsReviewer,
    api_membership,
    api_org,
)
from portal.errors import ActionError
from portal.models import User
from portal.params import optional_id
from syncengine.api.serializers import TestRunSerializer


class IsReviewerOrDeveloper(BasePermission):
    """Reviews: reviewers see every version; anyone else is on the partner side, which is
    part of the Developer Portal (the org's flag on, the developer permission)."""

    message = IsDeveloper.message

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False
        return request.user.is_reviewer or access.sees_partner_reviews(api_membership(request))


class ReleaseView(DeveloperAPIView):
    @extend_schema(
        request=None,
        responses={201: VersionSerializer},
        summary="Release the current draft to your own organisation (no review)",
    )
    def post(self, request, integration_id: int):
        version = lifecycle.integration_release(
            acting_user=request.user, integration=self.integration(request, integration_id)
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class SubmitView(DeveloperAPIView):
    @extend_schema(
        request=SubmitSerializer,
        responses={201: VersionSerializer},
        summary="Submit the draft for review (needs a passing test of this exact configuration)",
    )
    def post(self, request, integration_id: int):
        integration = self.integration(request, integration_id)
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = lifecycle.integration_submit(
            acting_user=request.user,
            integration=integration,
            note=serializer.validated_data.get("note", ""),
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class WithdrawView(DeveloperAPIView):
    @extend_schema(
        request=None, responses=VersionSerializer, summary="Withdraw the submission in review"
    )
    def post(self, request, integration_id: int):
        version = lifecycle.integration_withdraw(
            acting_user=request.user, integration=self.integration(request, integration_id)
        )
        return Response(VersionSerializer(version).data)


class IntegrationVersionsView(generics.ListAPIView):
    permission_classes = [IsDeveloper]
    serializer_class = VersionSerializer

    def get_queryset(self):
        integration = access.get_integration(api_org(self.request), self.kwargs["integration_id"])
        return integration.versions.select_related(
            "integration__org", "created_by", "assigned_to", "decided_by"
        )


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
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        state = params.get("state", VersionState.IN_REVIEW)
        if state not in VersionState.values:
            raise ActionError(
                f"state must be one of {', '.join(VersionState.values)}.", field="state"
            )
        assigned = {"me": self.request.user, "unassigned": None}.get(
            params.get("assigned", "any"), "any"
        )
        return access.review_queue(
            state=state,
            org_id=optional_id(params.get("org"), field="org"),
            older_than_days=optional_id(
                params.get("older_than_days"),
                field="older_than_days",
                maximum=access.MAX_REVIEW_AGE_DAYS,
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
    def get(self, request, version_id: int):
        version = access.get_version(request.user, api_membership(request), version_id)
        report = version_report(version)
        return Response(
            {
                "version": VersionSerializer(version).data,
                "manifest": manifest_of(version),
                "diff": version_diff(version),
                "validation": report["validation"],
                "preview": report["preview"],
                "comments": CommentSerializer(
                    version.comments.select_related("author"), many=True
                ).data,
            }
        )


class VersionLogoView(APIView):
    permission_classes = [IsReviewerOrDeveloper]

    @extend_schema(responses={(200, "image/png"): bytes}, summary="The version's tile logo")
    def get(self, request, version_id: int):
        version = access.get_version(request.user, api_membership(request), version_id)
        if version.logo is None:
            raise Http404("No logo.")
        response = HttpResponse(bytes(version.logo.tile_png), content_type="image/png")
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response


class CommentsView(APIView):
    permission_classes = [IsReviewerOrDeveloper]

    @extend_schema(responses=CommentSerializer(many=True))
    def get(self, request, version_id: int):
        version = access.get_version(request.user, api_membership(request), version_id)
        return Response(
            CommentSerializer(version.comments.select_related("author"), many=True).data
        )

    @extend_schema(
        request=CommentInputSerializer,
        responses={201: CommentSerializer},
        summary="Comment on a version (reviewers and the partner)",
    )
    def post(self, request, version_id: int):
        version = access.get_version(request.user, api_membership(request), version_id)
        serializer = CommentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parent_id = serializer.validated_data.get("parent")
        parent = (
            get_object_or_404(version.comments, pk=parent_id) if parent_id is not None else None
        )
        comment = lifecycle.review_comment(
            acting_user=request.user,
            version=version,
            body=serializer.validated_data["body"],
            parent=parent,
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class DecisionView(APIView):
    permission_classes = [IsReviewer]
    decision = "approve"
    ACTIONS = {
        "approve": lifecycle.review_approve,
        "request-changes": lifecycle.review_request_changes,
        "reject": lifecycle.review_reject,
    }

    @extend_schema(request=DecisionSerializer, responses=VersionSerializer)
    def post(self, request, version_id: int):
        version = access.get_version(request.user, None, version_id)
        serializer = DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = self.ACTIONS[self.decision](
            acting_user=request.user,
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
    def post(self, request, version_id: int):
        version = access.get_version(request.user, None, version_id)
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data.get("reviewer")
        reviewer = None
        if email:
            reviewer = User.objects.filter(email__iexact=email).first()
            if reviewer is None:
                raise ActionError(f"No account has the email {email}.", field="reviewer")
        version = lifecycle.review_assign(
            acting_user=request.user, version=version, reviewer=reviewer
        )
        return Response(VersionSerializer(version).data)


class DestinationListView(generics.ListAPIView):
    """The Destinations catalog of the caller's organisation."""

    permission_classes = [IsOrgMember]
    serializer_class = DestinationSerializer

    def get_queryset(self):
        return access.destinations_for(api_org(self.request))


class DestinationRollbackView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=RollbackSerializer,
        responses=DestinationSerializer,
        summary="Serve an earlier approved version again",
    )
    def post(self, request, destination_id: int):
        destination = get_object_or_404(
            Destination.objects.select_related("version"), pk=destination_id
        )
        serializer = RollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = get_object_or_404(
            destination.integration.versions, number=serializer.validated_data["version"]
        )
        destination = lifecycle.destination_rollback(
            acting_user=request.user, destination=destination, version=version
        )
        return Response(DestinationSerializer(destination).data)


class RerunTestView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(
        request=ReviewerRunInputSerializer,
        responses={201: TestRunSerializer},
        summary="Re-run the full test on the submitted version (reviewers)",
    )
    def post(self, request, version_id: int):
        version = access.get_version(request.user, None, version_id)
        serializer = ReviewerRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = review_rerun_test(
            acting_user=request.user, version=version, **serializer.validated_data
        )
        return Response(TestRunSerializer(run).data, status=status.HTTP_201_CREATED)


class ConformanceView(APIView):
    permission_classes = [IsReviewerOrDeveloper]

    @extend_schema(
        responses={200: ConformanceRunSerializer, 404: None},
        summary="The latest conformance checks of the version",
    )
    def get(self, request, version_id: int):
        version = access.get_version(request.user, api_membership(request), version_id)
        run = version.conformance_runs.select_related("started_by").first()
        if run is None:
            raise Http404("The conformance checks have not run yet.")
        return Response(ConformanceRunSerializer(run).data)

    @extend_schema(
        request=ReviewerRunInputSerializer,
        responses={201: ConformanceRunSerializer},
        summary="Run the automated conformance checks (reviewers)",
    )
    def post(self, request, version_id: int):
        if not request.user.is_reviewer:
            raise ActionError("Only reviewers run conformance checks.", status=403)
        version = access.get_version(request.user, None, version_id)
        serializer = ReviewerRunInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = conformance_start(
            acting_user=request.user,
            version=version,
            values=data.get("values"),
            mapping=data.get("mapping"),
        )
        return Response(ConformanceRunSerializer(run).data, status=status.HTTP_201_CREATED)
