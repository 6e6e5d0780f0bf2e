"""REST API for tenancy: me, organisations and flags, access requests, audit log,
projects, cohorts and their members (read by every member of the org, written by its
admins and developers)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import access, actions, cohorts
from portal.api.parsers import CSVParser, FormParser, JSONParser, MultiPartParser
from portal.api.permissions import (
    EditsCohortsOrReadOnly,
    IsOrgAdmin,
    IsOrgMember,
    IsOrgMemberOrPlatformAdmin,
    IsPlatformAdmin,
    api_membership,
    api_org,
    api_user,
)
from portal.api.serializers import (
    AccessRequestCreateSerializer,
    AccessRequestDeclineSerializer,
    AccessRequestSerializer,
    AuditEventSerializer,
    CohortMemberSerializer,
    CohortSerializer,
    FlagSetSerializer,
    MemberInputSerializer,
    MembersChangeInputSerializer,
    MembersChangeSerializer,
    MembersInputSerializer,
    MeSerializer,
    NameSerializer,
    OrganizationSerializer,
    ProjectKeySerializer,
    ProjectNameSerializer,
    ProjectSerializer,
)
from portal.models import (
    AccessRequest,
    AuditEvent,
    Cohort,
    CohortMember,
    Membership,
    Organization,
    Project,
)
from portal.params import optional_id


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The caller and their organisations")
    def get(self, request: Request) -> Response:
        user = api_user(request)
        membership = api_membership(request)
        data = {
            "email": user.email,
            "full_name": user.full_name,
            "staff_role": user.staff_role,
            "current_org_id": membership.org_id if membership else None,
            "memberships": Membership.objects.filter(user=user).select_related("org"),
        }
        return Response(MeSerializer(data).data)


class OrgListView(generics.ListAPIView):
    """All organisations with their flags (platform admins)."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = OrganizationSerializer
    queryset = Organization.objects.prefetch_related("flags").order_by("id")


class OrgDetailView(generics.RetrieveAPIView):
    permission_classes = [IsPlatformAdmin]
    serializer_class = OrganizationSerializer
    queryset = Organization.objects.prefetch_related("flags")
    lookup_url_kwarg = "org_id"


class OrgFlagView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        request=FlagSetSerializer,
        responses=OrganizationSerializer,
        summary="Switch a feature flag on or off for an organisation",
    )
    def post(self, request: Request, org_id: int) -> Response:
        org = get_object_or_404(Organization, pk=org_id)
        serializer = FlagSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actions.flag_set(acting_user=api_user(request), org=org, **serializer.validated_data)
        return Response(OrganizationSerializer(org).data)


class AccessRequestListView(generics.ListAPIView):
    """Platform admins see every request; members see their own organisation's."""

    permission_classes = [IsOrgMemberOrPlatformAdmin]
    serializer_class = AccessRequestSerializer

    def get_queryset(self) -> QuerySet[AccessRequest]:
        rows = AccessRequest.objects.select_related("org", "requested_by")
        if api_user(self.request).is_platform_admin:
            status_filter = self.request.query_params.get("status")
            return rows.filter(status=status_filter) if status_filter else rows
        return rows.filter(org=api_org(self.request))

    @extend_schema(
        request=AccessRequestCreateSerializer,
        responses={201: AccessRequestSerializer},
        summary="Ask the integrations team to switch a flag on for your organisation",
    )
    def post(self, request: Request) -> Response:
        serializer = AccessRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = actions.access_request_create(
            acting_user=api_user(request), org=api_org(request), **serializer.validated_data
        )
        return Response(AccessRequestSerializer(created).data, status=status.HTTP_201_CREATED)


class AccessRequestDecisionView(APIView):
    permission_classes = [IsPlatformAdmin]
    decision = "grant"

    @extend_schema(
        request=AccessRequestDeclineSerializer,
        responses=AccessRequestSerializer,
        summary="Grant an access request, or decline it with a reason the organisation reads",
    )
    def post(self, request: Request, request_id: int) -> Response:
        access_request = get_object_or_404(AccessRequest, pk=request_id)
        if self.decision == "grant":
            actions.access_request_grant(
                acting_user=api_user(request), access_request=access_request
            )
        else:
            serializer = AccessRequestDeclineSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            actions.access_request_decline(
                acting_user=api_user(request),
                access_request=access_request,
                reason=serializer.validated_data["reason"],
            )
        access_request.refresh_from_db()
        return Response(AccessRequestSerializer(access_request).data)


class AuditLogView(generics.ListAPIView):
    permission_classes = [IsPlatformAdmin]
    serializer_class = AuditEventSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("org", int, description="ORG ID"),
            OpenApiParameter("action", str, description="Action name or prefix, e.g. flag."),
            OpenApiParameter("actor", str, description="Actor email"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[AuditEvent]:
        rows = AuditEvent.objects.select_related("actor", "org")
        params = self.request.query_params
        if (org_id := optional_id(params.get("org"), field="org")) is not None:
            rows = rows.filter(org_id=org_id)
        if action := params.get("action"):
            rows = rows.filter(action__startswith=action[:60])
        if actor := params.get("actor"):
            rows = rows.filter(actor__email__iexact=actor[:254])
        return rows


class ProjectListView(generics.ListAPIView):
    permission_classes = [IsOrgAdmin]
    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return access.projects_for(api_org(self.request))

    @extend_schema(request=ProjectNameSerializer, responses={201: ProjectKeySerializer})
    def post(self, request: Request) -> Response:
        serializer = ProjectNameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = actions.project_create(
            acting_user=api_user(request),
            org=api_org(request),
            name=serializer.validated_data["name"],
        )
        return Response(ProjectKeySerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    permission_classes = [IsOrgMember]

    @extend_schema(responses=ProjectSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        return Response(ProjectSerializer(access.get_project(api_org(request), project_id)).data)


class ProjectKeyView(APIView):
    permission_classes = [IsOrgAdmin]

    @extend_schema(
        request=None,
        responses=ProjectKeySerializer,
        summary="Generate a new API key (returned once)",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = access.get_project(api_org(request), project_id)
        project = actions.project_regenerate_key(acting_user=api_user(request), project=project)
        return Response(ProjectKeySerializer(project).data)


COHORT_PERMISSIONS = [IsOrgMember, EditsCohortsOrReadOnly]


class CohortListView(generics.ListAPIView):
    permission_classes = COHORT_PERMISSIONS
    serializer_class = CohortSerializer

    def get_queryset(self) -> QuerySet[Cohort]:
        project = access.get_project(api_org(self.request), self.kwargs["project_id"])
        return project.cohorts.select_related("project")

    @extend_schema(
        request=NameSerializer,
        responses={201: CohortSerializer},
        summary="Create a cohort (org admins and developers)",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = access.get_project(api_org(request), project_id)
        serializer = NameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cohort = actions.cohort_create(
            acting_user=api_user(request), project=project, name=serializer.validated_data["name"]
        )
        return Response(CohortSerializer(cohort).data, status=status.HTTP_201_CREATED)


class CohortDetailView(APIView):
    permission_classes = COHORT_PERMISSIONS

    @extend_schema(responses=CohortSerializer)
    def get(self, request: Request, cohort_id: str) -> Response:
        return Response(CohortSerializer(access.get_cohort(api_org(request), cohort_id)).data)

    @extend_schema(responses={204: None}, summary="Delete a cohort (org admins and developers)")
    def delete(self, request: Request, cohort_id: str) -> Response:
        cohort = access.get_cohort(api_org(request), cohort_id)
        actions.cohort_delete(acting_user=api_user(request), cohort=cohort)
        return Response(status=status.HTTP_204_NO_CONTENT)


def change_result(cohort: Cohort, report: cohorts.ChangeReport) -> Response:
    return Response(
        MembersChangeSerializer(
            {
                "cohort_id": cohort.public_id,
                "snapshot": cohort.snapshot,
                "entered": report.entered,
                "left": report.left,
                "updated": report.updated,
                "total": cohort.member_count,
                "duplicates": report.duplicates,
            }
        ).data
    )


MEMBERS_AS_CSV = OpenApiTypes.STR
SNAPSHOT_DESCRIPTION = (
    "The cohort's members become exactly these, as one change: one new snapshot (if "
    "anything changed) whose entered and left members syncs send. The body is JSON "
    '(`{"members": [...]}` or the bare array, at most 10,000 members) or `text/csv` (a header '
    "row with user_id and/or amplitude_id, then one member per line; at most 20 MB). A body "
    "with any invalid member changes nothing; the error names it (`members[3]`, `line 4`)."
)


class CohortMembersView(generics.ListAPIView):
    permission_classes = COHORT_PERMISSIONS
    serializer_class = CohortMemberSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser, CSVParser]

    def get_queryset(self) -> QuerySet[CohortMember]:
        cohort = access.get_cohort(api_org(self.request), self.kwargs["cohort_id"])
        return CohortMember.objects.filter(cohort=cohort).order_by("member_key")

    @extend_schema(
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="MembersSnapshot",
                serializers=[MembersInputSerializer(), MemberInputSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            ),
            "text/csv": MEMBERS_AS_CSV,
        },
        responses=MembersChangeSerializer,
        summary="Replace all members with a full snapshot (org admins and developers)",
        description=SNAPSHOT_DESCRIPTION,
    )
    def put(self, request: Request, cohort_id: str) -> Response:
        cohort = access.get_cohort(api_org(request), cohort_id)
        if request.content_type.split(";")[0].strip().lower() == CSVParser.media_type:
            # CSVParser's data is {"csv": the file}; an empty body gives no file.
            body = request.data
            upload = body.get("csv") if hasattr(body, "get") else None
            if upload is None:
                raise ParseError("The CSV body is empty: send the members as text/csv.")
            with upload as csv_file:
                report = actions.cohort_members_replace_csv(
                    acting_user=api_user(request), cohort=cohort, csv_file=csv_file
                )
            return change_result(cohort, report)
        # A bare array is the members themselves: checked by the same rules.
        body = {"members": request.data} if isinstance(request.data, list) else request.data
        serializer = MembersInputSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        members = serializer.validated_data["members"]
        report = actions.cohort_members_replace(
            acting_user=api_user(request), cohort=cohort, members=members
        )
        return change_result(cohort, report)

    @extend_schema(
        request={"application/json": MembersChangeInputSerializer},
        responses=MembersChangeSerializer,
        summary="Add and remove members (org admins and developers)",
        description=(
            "Additions and removals as one change: one new snapshot if anything changed. "
            "Adding a member already in the cohort updates its identifiers and properties "
            "(not an entry); removing one that is not there does nothing. A member may not "
            "be both added and removed. At most 10,000 of each."
        ),
    )
    def patch(self, request: Request, cohort_id: str) -> Response:
        cohort = access.get_cohort(api_org(request), cohort_id)
        if request.content_type.split(";")[0].strip().lower() == CSVParser.media_type:
            # Only a full snapshot (PUT) may be a CSV file; a change names what it adds
            # and removes in JSON.
            raise UnsupportedMediaType(CSVParser.media_type)
        serializer = MembersChangeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = actions.cohort_members_change(
            acting_user=api_user(request),
            cohort=cohort,
            add=serializer.validated_data.get("add", []),
            remove=serializer.validated_data.get("remove", []),
        )
        return change_result(cohort, report)


class CohortMembersChangeView(APIView):
    """The older form of PATCH, one direction per call."""

    permission_classes = COHORT_PERMISSIONS
    change = "add"

    @extend_schema(
        request=MembersInputSerializer,
        responses=MembersChangeSerializer,
        deprecated=True,
        description="Kept for existing clients: `PATCH …/members/` adds and removes at once.",
    )
    def post(self, request: Request, cohort_id: str) -> Response:
        cohort = access.get_cohort(api_org(request), cohort_id)
        serializer = MembersInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = (
            actions.cohort_members_add if self.change == "add" else actions.cohort_members_remove
        )
        report = action(
            acting_user=api_user(request),
            cohort=cohort,
            members=serializer.validated_data["members"],
        )
        return change_result(cohort, report)
