"""API shapes of connections, cohort syncs, runs, batches and exchanges (parsing and
presentation only: secrets are masked, rules live in syncs/actions.py)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.catalogue import MAX_CONNECTION_NAME_LENGTH
from portal.api.fields import Flag, Text
from portal.api.serializers import NOT_BLANK
from syncengine.api.serializers import MAX_PROJECT_ID, ObjectField, TestExchangeSerializer
from syncs.models import Cadence, CohortSync, Connection, SyncBatch, SyncExchange, SyncRun
from syncs.presenters import connection_values, schedule_text, sync_state

MAX_ID = 2**31 - 1


# --- input ----------------------------------------------------------------------------------


class ConnectionInputSerializer(serializers.Serializer):
    destination_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="A destination of your catalogue."
    )
    project_id = serializers.IntegerField(
        min_value=1, max_value=MAX_PROJECT_ID, help_text="Project ID of your organisation."
    )
    name = Text(max_length=MAX_CONNECTION_NAME_LENGTH, validators=[NOT_BLANK])
    values = ObjectField(
        required=False, help_text="Connect-modal values by variable (secrets stored encrypted)."
    )
    mapping = ObjectField(
        required=False, help_text="The user property each mapping field reads, by variable."
    )


class ConnectionUpdateSerializer(serializers.Serializer):
    name = Text(max_length=MAX_CONNECTION_NAME_LENGTH, required=False, validators=[NOT_BLANK])
    values = ObjectField(
        required=False, help_text="Changed values by variable; an empty secret keeps it."
    )
    mapping = ObjectField(required=False)


class SyncInputSerializer(serializers.Serializer):
    cohort_id = Text(max_length=16, help_text="Cohort ID of a cohort of the connection's project.")
    cadence = serializers.ChoiceField(choices=Cadence.choices, default=Cadence.DAILY)
    daily_hour = serializers.IntegerField(
        min_value=0,
        max_value=23,
        required=False,
        allow_null=True,
        help_text="Hour (UTC) of a daily sync.",
    )


class SyncUpdateSerializer(serializers.Serializer):
    cadence = serializers.ChoiceField(choices=Cadence.choices)
    daily_hour = serializers.IntegerField(
        min_value=0, max_value=23, required=False, allow_null=True
    )


class FullResyncSerializer(serializers.Serializer):
    new_list = Flag(default=False, help_text="List integrations: send the cohort to a new list.")


class SyncDeleteSerializer(serializers.Serializer):
    empty_first = Flag(
        default=False,
        help_text="Remove every member the partner holds first (202 with that run; the sync "
        "stays, paused, until it has succeeded, then DELETE again removes it at once).",
    )


# --- output ---------------------------------------------------------------------------------


class ConnectionSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="version.display_name")
    integration_type = serializers.CharField(source="version.integration_type")
    version_number = serializers.IntegerField(source="version.number")
    destination_version_number = serializers.IntegerField(
        source="destination.version.number",
        help_text="The version the destination serves now (reconnecting moves to it).",
    )
    channel = serializers.CharField(source="destination.channel")
    project_id = serializers.IntegerField(source="project.public_id")
    values = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "destination_id",
            "channel",
            "display_name",
            "integration_type",
            "version_number",
            "destination_version_number",
            "project_id",
            "values",
            "mapping",
            "needs_reconnect",
            "reconnect_reason",
            "created_at",
            "updated_at",
            "url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_values(self, connection: Connection) -> dict[str, Any]:
        return connection_values(connection)

    def get_url(self, connection: Connection) -> str:
        return reverse("api_connection", args=[connection.pk])


class SyncSerializer(serializers.ModelSerializer):
    cohort_id = serializers.CharField(source="cohort.public_id")
    cohort_name = serializers.CharField(source="cohort.name")
    schedule = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = CohortSync
        fields = [
            "id",
            "connection_id",
            "cohort_id",
            "cohort_name",
            "cadence",
            "daily_hour",
            "schedule",
            "state",
            "paused",
            "paused_reason",
            "delete_when_emptied",
            "next_run_at",
            "last_run_at",
            "list_id",
            "delivered_count",
            "delivered_snapshot",
            "failed_runs_in_row",
            "created_at",
            "url",
        ]
        read_only_fields = fields

    def get_schedule(self, sync: CohortSync) -> str:
        return schedule_text(sync)

    @extend_schema_field(
        serializers.ChoiceField(
            choices=[
                "reconnect",
                "deleting",
                "queued",
                "running",
                "paused",
                "manual",
                "scheduled",
            ]
        )
    )
    def get_state(self, sync: CohortSync) -> str:
        active = self.context.get("active", {}).get(sync.pk)
        return sync_state(sync, active).key

    def get_url(self, sync: CohortSync) -> str:
        return reverse("api_sync", args=[sync.pk])


class SyncRunSerializer(serializers.ModelSerializer):
    started_by = serializers.EmailField(source="started_by.email", allow_null=True, default=None)
    version_number = serializers.IntegerField(source="version.number")
    duration_seconds = serializers.FloatField(allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "sync_id",
            "kind",
            "status",
            "version_number",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "snapshot",
            "new_list",
            "list_id",
            "entered",
            "left",
            "sent",
            "failed",
            "skipped",
            "batches_total",
            "batches_done",
            "summary",
            "diagnosis",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, run: SyncRun) -> str:
        return reverse("api_sync_run", args=[run.pk])


class SyncBatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncBatch
        fields = [
            "sequence",
            "endpoint",
            "in_cohort",
            "batch_id",
            "size",
            "status",
            "attempts",
            "delivered",
            "skipped",
            "failed",
            "error",
            "finished_at",
        ]
        read_only_fields = fields


class SyncExchangeSerializer(serializers.ModelSerializer):
    batch = serializers.IntegerField(
        source="batch.sequence", allow_null=True, default=None, help_text="The batch's sequence."
    )

    class Meta:
        model = SyncExchange
        fields = [
            *[f for f in TestExchangeSerializer.Meta.fields if f != "step"],
            "step",
            "batch",
            "bodies_pruned",
        ]
        read_only_fields = fields
