"""API shapes for integrations (parsing and presentation only)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.catalogue import destination_logo_url
from integrations.models import (
    Destination,
    Integration,
    IntegrationRevision,
    IntegrationType,
    IntegrationVersion,
)
from portal.api.fields import Flag, Text
from syncengine.core.manifest.schema import ENDPOINT_ORDER


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

    def get_logo_url(self, integration: Integration) -> str | None:
        return integration.logo_url("full")

    def get_logo_tile_url(self, integration: Integration) -> str | None:
        return integration.tile_logo_url


class IntegrationCreateSerializer(serializers.Serializer):
    display_name = Text(max_length=100)
    integration_type = serializers.ChoiceField(choices=IntegrationType.choices)


class IntegrationRenameSerializer(serializers.Serializer):
    display_name = Text(max_length=100)
    base_revision = serializers.IntegerField(required=False, min_value=1)


class ManifestInputSerializer(serializers.Serializer):
    """The body of a validate or preview call: a manifest to try without saving it."""

    manifest = serializers.JSONField(
        required=False,
        help_text="A manifest to check instead of the stored draft (nothing is saved).",
    )


@extend_schema_field({"type": "object", "additionalProperties": {}})
class ManifestObjectField(serializers.JSONField):
    """A manifest: a JSON object (its own rules are checked by the manifest checks)."""

    default_error_messages = {"not_an_object": "The manifest must be a JSON object."}

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_an_object")
        return value


class ValidateInputSerializer(serializers.Serializer):
    """The body of POST validate: the manifest to check (GET checks the stored draft)."""

    manifest = ManifestObjectField(help_text="The manifest to check (nothing is saved).")


class PreviewInputSerializer(ManifestInputSerializer):
    values = serializers.DictField(required=False, help_text="Connect-modal values by variable.")
    mapping = serializers.DictField(
        child=Text(),
        required=False,
        help_text="User property chosen for each mapping field.",
    )
    reveal = Flag(
        default=False, help_text="Show the secrets you passed in `values` instead of masking them."
    )


class CopyErrorsSerializer(serializers.Serializer):
    # DRF's metaclass moves declared fields off the class, so this does not shadow
    # Field.source; the stubs see a plain class attribute.
    source = serializers.ChoiceField(choices=ENDPOINT_ORDER)  # type: ignore[assignment]
    target = serializers.ChoiceField(choices=ENDPOINT_ORDER)
    replace = Flag(default=False)


class RevisionSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)

    class Meta:
        model = IntegrationRevision
        fields = ["number", "note", "created_at", "created_by"]


class SaveResultSerializer(serializers.Serializer):
    revision = serializers.IntegerField()
    valid = Flag()
    error_count = serializers.IntegerField()
    warning_count = serializers.IntegerField()
    diagnostics = serializers.ListField(child=serializers.DictField())


class ValidationSerializer(SaveResultSerializer):
    revision = None  # type: ignore[assignment]  # None drops an inherited DRF field
    tracker = serializers.DictField()


class PreviewSerializer(serializers.Serializer):
    values = serializers.DictField()
    mapping = serializers.DictField()
    users = serializers.ListField(child=serializers.DictField())
    endpoints = serializers.ListField(child=serializers.DictField())


class DiffSerializer(serializers.Serializer):
    changes = serializers.ListField(child=serializers.DictField())


class VersionSerializer(serializers.ModelSerializer):
    integration_id = serializers.IntegerField(read_only=True)
    org_id = serializers.IntegerField(source="integration.org_id", read_only=True)
    org_name = Text(source="integration.org.name", read_only=True)
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

    def get_expected_review_by(self, version: IntegrationVersion) -> str | None:
        expected = version.expected_review_by
        return expected.isoformat() if expected else None

    def get_logo_tile_url(self, version: IntegrationVersion) -> str | None:
        return version.tile_logo_url


class DestinationSerializer(serializers.ModelSerializer):
    display_name = Text(source="version.display_name")
    integration_type = Text(source="version.integration_type")
    version_number = serializers.IntegerField(source="version.number")
    version_id = serializers.IntegerField()
    partner = serializers.CharField(source="org.name", help_text="The partner's organisation.")
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
            "partner",
            "hidden",
            "updated_at",
            "logo_tile_url",
            "connect_fields",
        ]
        read_only_fields = fields

    def get_logo_tile_url(self, destination: Destination) -> str | None:
        return destination_logo_url(destination)

    def get_connect_fields(self, destination: Destination) -> dict[str, Any]:
        config = destination.version.config
        return {
            "custom_fields": config.get("custom_fields", []),
            "mapping_fields": config.get("mapping_fields", []),
        }


class VisibilitySerializer(serializers.Serializer):
    hidden = serializers.BooleanField(
        help_text="true takes the destination out of every organisation's catalogue."
    )


class RollbackSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Number of an earlier approved version.")
