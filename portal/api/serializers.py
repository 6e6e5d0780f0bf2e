"""API representations of tenancy objects (input parsing and output shapes only)."""

from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

from portal.actions import MAX_NAME_LENGTH
from portal.api.fields import Flag, Text
from portal.flags import FLAGS
from portal.models import (
    AccessRequest,
    AuditEvent,
    Cohort,
    CohortMember,
    Membership,
    Organization,
    Project,
)


class MembershipSerializer(serializers.ModelSerializer):
    org_id = serializers.IntegerField(source="org.pk")
    org_name = Text(source="org.name")

    class Meta:
        model = Membership
        fields = ["org_id", "org_name", "role", "is_developer"]


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = Text()
    staff_role = Text()
    current_org_id = serializers.IntegerField(allow_null=True)
    memberships = MembershipSerializer(many=True)


class OrganizationSerializer(serializers.ModelSerializer):
    org_id = serializers.IntegerField(source="pk", read_only=True)
    flags = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["org_id", "name", "created_at", "flags"]

    def get_flags(self, org: Organization) -> dict[str, bool]:
        enabled = {row.flag for row in org.flags.all() if row.enabled}
        return {flag: flag in enabled for flag in FLAGS}


class FlagSetSerializer(serializers.Serializer):
    flag = serializers.ChoiceField(choices=list(FLAGS))
    enabled = Flag()


class AccessRequestSerializer(serializers.ModelSerializer):
    org_id = serializers.IntegerField(source="org.pk", read_only=True)
    org_name = Text(source="org.name", read_only=True)
    requested_by = serializers.EmailField(source="requested_by.email", read_only=True)

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "org_id",
            "org_name",
            "flag",
            "message",
            "status",
            "requested_by",
            "created_at",
            "resolved_at",
        ]
        read_only_fields = ["id", "status", "created_at", "resolved_at"]


class AccessRequestCreateSerializer(serializers.Serializer):
    flag = serializers.ChoiceField(choices=list(FLAGS))
    message = Text(required=False, allow_blank=True, max_length=2000)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.EmailField(source="actor.email", allow_null=True, default=None)
    org_id = serializers.IntegerField(source="org.pk", allow_null=True, default=None)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "org_id",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "before",
            "after",
        ]


class ProjectSerializer(serializers.ModelSerializer):
    project_id = serializers.IntegerField(source="public_id", read_only=True)
    api_key_masked = Text(read_only=True)

    class Meta:
        model = Project
        fields = ["project_id", "name", "api_key_masked", "created_at"]
        read_only_fields = ["created_at"]


class ProjectKeySerializer(ProjectSerializer):
    api_key = Text(read_only=True)

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "api_key"]


# Names are required text: at least one character that is not a space.
NOT_BLANK = RegexValidator(r"\S", "This field may not be blank.")


class NameSerializer(serializers.Serializer):
    name = Text(max_length=200, validators=[NOT_BLANK])


class ProjectNameSerializer(serializers.Serializer):
    name = Text(max_length=MAX_NAME_LENGTH, validators=[NOT_BLANK])


class CohortSerializer(serializers.ModelSerializer):
    cohort_id = Text(source="public_id", read_only=True)
    project_id = serializers.IntegerField(source="project.public_id", read_only=True)
    size = serializers.IntegerField(source="member_count", read_only=True)

    class Meta:
        model = Cohort
        fields = ["cohort_id", "project_id", "name", "size", "created_at", "updated_at"]


class CohortMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = CohortMember
        fields = ["user_id", "amplitude_id", "device_id", "email", "properties"]


class MembersInputSerializer(serializers.Serializer):
    members = serializers.ListField(
        child=serializers.DictField(),
        max_length=10_000,
        help_text="Objects with user_id and/or amplitude_id, optional device_id, email and "
        "other user properties.",
    )


class MembersResultSerializer(serializers.Serializer):
    size = serializers.IntegerField()
