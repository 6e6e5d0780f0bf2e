"""API shapes for integrations (parsing and presentation only)."""

from __future__ import annotations

from rest_framework import serializers

from integrations.models import Integration, IntegrationRevision, IntegrationType


class IntegrationSerializer(serializers.ModelSerializer):
    updated_by = serializers.EmailField(source="updated_by.email", allow_null=True, default=None)
    logo_url = serializers.SerializerMethodField()
    logo_tile_url = serializers.SerializerMethodField()

    class Meta:
        model = Integration
        fields = [
            "id",
            "display_name",
            "integration_type",
            "status",
            "revision",
            "logo_url",
            "logo_tile_url",
            "created_at",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = fields

    def get_logo_url(self, integration) -> str | None:
        return integration.logo_url("full")

    def get_logo_tile_url(self, integration) -> str | None:
        return integration.tile_logo_url


class IntegrationCreateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=100)
    integration_type = serializers.ChoiceField(choices=IntegrationType.choices)


class IntegrationRenameSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=100)
    base_revision = serializers.IntegerField(required=False, min_value=1)


class ManifestInputSerializer(serializers.Serializer):
    """The body of a validate or preview call: a manifest to try without saving it."""

    manifest = serializers.JSONField(
        required=False,
        help_text="A manifest to check instead of the stored draft (nothing is saved).",
    )


class PreviewInputSerializer(ManifestInputSerializer):
    values = serializers.DictField(required=False, help_text="Connect-modal values by variable.")
    mapping = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="User property chosen for each mapping field.",
    )
    reveal = serializers.BooleanField(
        default=False, help_text="Show the secrets you passed in `values` instead of masking them."
    )


class CopyErrorsSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    replace = serializers.BooleanField(default=False)


class RevisionSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)

    class Meta:
        model = IntegrationRevision
        fields = ["number", "note", "created_at", "created_by"]


class SaveResultSerializer(serializers.Serializer):
    revision = serializers.IntegerField()
    valid = serializers.BooleanField()
    error_count = serializers.IntegerField()
    warning_count = serializers.IntegerField()
    diagnostics = serializers.ListField(child=serializers.DictField())


class ValidationSerializer(SaveResultSerializer):
    revision = None
    tracker = serializers.DictField()


class PreviewSerializer(serializers.Serializer):
    values = serializers.DictField()
    mapping = serializers.DictField()
    users = serializers.ListField(child=serializers.DictField())
    endpoints = serializers.ListField(child=serializers.DictField())


class DiffSerializer(serializers.Serializer):
    changes = serializers.ListField(child=serializers.DictField())
