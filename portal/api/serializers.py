"""API representations of tenancy objects (input parsing and output shapes only)."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.actions import MAX_NAME_LENGTH
from portal.api.fields import Flag, Text
from portal.cohort_members import MAX_API_MEMBERS
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
            "decline_reason",
        ]
        read_only_fields = ["id", "status", "created_at", "resolved_at", "decline_reason"]


class AccessRequestDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        default="",
        help_text="Why the request is declined (required to decline): the organisation reads it.",
    )


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
    snapshot = serializers.IntegerField(
        read_only=True,
        help_text="Goes up by one with every change of members; syncs read a snapshot.",
    )

    class Meta:
        model = Cohort
        fields = ["cohort_id", "project_id", "name", "size", "snapshot", "created_at", "updated_at"]


class CohortMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = CohortMember
        fields = ["user_id", "amplitude_id", "device_id", "email", "properties"]


MEMBER_HELP = (
    "A member is known by its amplitude_id when it has one, else by its user_id; any key "
    "besides the identifiers is a user property (or put them in a properties object)."
)


class MemberInputSerializer(serializers.Serializer):
    """A member as the API accepts it: documents the shape only. Members are read by
    portal.cohort_members, which turns numbers into text where text is meant, treats an
    empty value as a missing one, keeps other keys as properties and names the member at
    fault in errors (`members[3]: amplitude_id 'x' is not a whole number`)."""

    user_id = serializers.JSONField(required=False, help_text="Text (a number is read as text).")
    amplitude_id = serializers.JSONField(required=False, help_text="A whole number, at least 0.")
    device_id = serializers.JSONField(required=False, help_text="Text.")
    email = serializers.JSONField(required=False, help_text="Text.")
    properties = serializers.DictField(required=False, help_text="User properties.")


@extend_schema_field(MemberInputSerializer)
class MemberField(serializers.JSONField):
    """One member, kept as the JSON it came as. Its `properties`, when given, must be an
    object, as the schema says (a CSV column of that name is a property like any other)."""

    def to_internal_value(
        self, data: dict[str, Any] | list[dict[str, Any]]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        value = super().to_internal_value(data)
        if isinstance(value, dict):
            problem = _member_type_problem(value)
            if problem:
                raise serializers.ValidationError(problem)
        return value


def _member_type_problem(member: dict[str, Any]) -> str | None:
    """`properties`, when given, must be an object; every other key is read by the
    member rules (portal.cohort_members), which name the member and key at fault."""
    if "properties" in member and not isinstance(member["properties"], dict):
        return "properties must be an object of user properties"
    return None


def _member_list(help_text: str, *, required: bool = True) -> serializers.ListField:
    return serializers.ListField(
        child=MemberField(),
        max_length=MAX_API_MEMBERS,
        error_messages={
            "max_length": f"at most {MAX_API_MEMBERS:,} members per request; upload a CSV for more"
        },
        required=required,
        help_text=help_text,
    )


class MembersInputSerializer(serializers.Serializer):
    members = _member_list(f"Every member of the cohort. {MEMBER_HELP}")


class MembersChangeInputSerializer(serializers.Serializer):
    add = _member_list(f"Members to add. {MEMBER_HELP}", required=False)
    remove = _member_list(
        "Members to remove, named by user_id and/or amplitude_id as when they were added.",
        required=False,
    )


class MembersChangeSerializer(serializers.Serializer):
    cohort_id = serializers.CharField()
    snapshot = serializers.IntegerField(
        help_text="The cohort's snapshot after the change; unchanged when nothing changed."
    )
    entered = serializers.IntegerField(help_text="Members that were not in the cohort before.")
    left = serializers.IntegerField(help_text="Members that are no longer in the cohort.")
    updated = serializers.IntegerField(
        help_text="Members kept whose identifiers or properties changed."
    )
    total = serializers.IntegerField(help_text="Members in the cohort now.")
    duplicates = serializers.IntegerField(
        help_text="Rows of a full snapshot that named a member again (the first one counts)."
    )
