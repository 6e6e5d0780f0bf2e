"""API shapes for versions, reviews, comments and destinations."""

from __future__ import annotations

from rest_framework import serializers

from integrations.lifecycle import expected_review_by
from integrations.models import ConformanceRun, Destination, IntegrationVersion, ReviewComment


class VersionSerializer(serializers.ModelSerializer):
    integration_id = serializers.IntegerField(read_only=True)
    org_id = serializers.IntegerField(source="integration.org_id", read_only=True)
    org_name = serializers.CharField(source="integration.org.name", read_only=True)
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    assigned_to = serializers.EmailField(source="assigned_to.email", allow_null=True, default=None)
    decided_by = serializers.EmailField(source="decided_by.email", allow_null=True, default=None)
    expected_review_by = serializers.SerializerMethodField()
    logo_tile_url = serializers.SerializerMethodField()

    class Meta:
        model = IntegrationVersion
        fields = [
            "id",
            "integration_id",
            "number",
            "kind",
            "state",
            "display_name",
            "integration_type",
            "org_id",
            "org_name",
            "fingerprint",
            "note",
            "test_run_id",
            "created_by",
            "created_at",
            "expected_review_by",
            "assigned_to",
            "decided_by",
            "decided_at",
            "decision_message",
            "logo_tile_url",
        ]
        read_only_fields = fields

    def get_expected_review_by(self, version) -> str | None:
        if version.state != "in_review":
            return None
        return expected_review_by(version).isoformat()

    def get_logo_tile_url(self, version) -> str | None:
        return version.tile_logo_url


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.EmailField(source="author.email", allow_null=True, default=None)
    author_is_reviewer = serializers.SerializerMethodField()

    class Meta:
        model = ReviewComment
        fields = ["id", "kind", "body", "parent", "author", "author_is_reviewer", "created_at"]
        read_only_fields = fields

    def get_author_is_reviewer(self, comment) -> bool:
        return bool(comment.author and comment.author.is_reviewer)


class CommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=4000, allow_blank=True)
    parent = serializers.IntegerField(required=False, allow_null=True)


class SubmitSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, help_text="A note to the reviewers."
    )


class DecisionSerializer(serializers.Serializer):
    message = serializers.CharField(
        max_length=4000,
        required=False,
        allow_blank=True,
        help_text="Required to request changes or reject.",
    )


class AssignSerializer(serializers.Serializer):
    reviewer = serializers.EmailField(
        required=False, allow_null=True, help_text="Reviewer's email; omit or null to unassign."
    )


class ReviewDetailSerializer(serializers.Serializer):
    version = VersionSerializer()
    manifest = serializers.DictField()
    diff = serializers.DictField()
    validation = serializers.DictField()
    preview = serializers.DictField()
    comments = CommentSerializer(many=True)


class DestinationSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="version.display_name")
    integration_type = serializers.CharField(source="version.integration_type")
    version_number = serializers.IntegerField(source="version.number")
    version_id = serializers.IntegerField()
    logo_tile_url = serializers.SerializerMethodField()
    connect_fields = serializers.SerializerMethodField()

    class Meta:
        model = Destination
        fields = [
            "id",
            "integration_id",
            "channel",
            "display_name",
            "integration_type",
            "version_id",
            "version_number",
            "updated_at",
            "logo_tile_url",
            "connect_fields",
        ]
        read_only_fields = fields

    def get_logo_tile_url(self, destination) -> str | None:
        return destination.version.tile_logo_url

    def get_connect_fields(self, destination) -> dict:
        config = destination.version.config
        return {
            "custom_fields": config.get("custom_fields", []),
            "mapping_fields": config.get("mapping_fields", []),
        }


class RollbackSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Number of an earlier approved version.")


class ReviewerRunInputSerializer(serializers.Serializer):
    values = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="Connect-modal values to test with; omit to use the partner's shared ones.",
    )
    mapping = serializers.DictField(child=serializers.CharField(), required=False)
    no_retries = serializers.BooleanField(default=False)


class ConformanceRunSerializer(serializers.ModelSerializer):
    version_id = serializers.IntegerField(read_only=True)
    started_by = serializers.EmailField(source="started_by.email", allow_null=True, default=None)

    class Meta:
        model = ConformanceRun
        fields = [
            "id",
            "version_id",
            "status",
            "results",
            "error",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
