"""API shapes for test settings, test runs and their exchanges (parsing and presentation)."""

from __future__ import annotations

from typing import Any, cast

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.api.fields import Flag, Text
from syncengine.actions import MAX_LIST_ID_LENGTH
from syncengine.core.json_depth import TOO_DEEP_MESSAGE, JsonTooDeep, decode_json
from syncengine.models import TestExchange, TestKind, TestRun, UsersSource
from syncengine.presenters import step_progress, users_summary
from syncengine.testusers import MAX_CSV_BYTES, MAX_TEST_USERS, MIN_TEST_USERS

MAX_PROJECT_ID = 2**31 - 1


@extend_schema_field(OpenApiTypes.OBJECT)
class ObjectField(serializers.Field):
    """A JSON object; in multipart forms, a JSON object written as text."""

    default_error_messages = {
        "invalid": "Must be a JSON object.",
        "too_deep": f"{TOO_DEEP_MESSAGE}.",
    }

    def to_internal_value(self, data: object) -> dict[str, Any]:
        if isinstance(data, str):
            try:
                data = decode_json(data)
            except JsonTooDeep:
                self.fail("too_deep")
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value: dict[str, Any]) -> dict[str, Any]:
        return value


class TestSettingsInputSerializer(serializers.Serializer):
    """What PUT test-settings accepts. Omitted fields keep their stored value."""

    project_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PROJECT_ID, help_text="Project ID of your org."
    )
    api_key = Text(
        required=False,
        allow_blank=True,
        max_length=200,
        write_only=True,
        help_text="That project's API key (verified). Blank keeps the stored key.",
    )
    values = ObjectField(
        required=False,
        help_text="Connect-modal values by variable. An empty secret keeps the stored one.",
    )
    mapping = ObjectField(required=False, help_text="User property for each mapping field.")
    users_source = serializers.ChoiceField(choices=UsersSource.choices, required=False)
    users_count = serializers.IntegerField(
        required=False, min_value=MIN_TEST_USERS, max_value=MAX_TEST_USERS
    )
    cohort_id = Text(required=False, max_length=16)
    csv_text = Text(
        required=False,
        max_length=MAX_CSV_BYTES,
        trim_whitespace=False,
        help_text="A CSV of test users as text (or upload a file as `csv`, multipart).",
    )
    csv = serializers.FileField(required=False, help_text="A CSV file of test users.")
    share_with_reviewers = Flag(required=False)
    list_id = Text(
        required=False, allow_blank=True, max_length=MAX_LIST_ID_LENGTH, trim_whitespace=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "csv" in attrs and "csv_text" in attrs:
            raise serializers.ValidationError(
                {
                    "csv_text": "Send the test users either as a file (csv) or as text (csv_text), "
                    "not both."
                }
            )
        return attrs


class TestSettingsSerializer(serializers.Serializer):
    project_id = serializers.IntegerField(allow_null=True)
    project_name = Text(allow_null=True)
    api_key = Text(help_text="Masked.")
    api_key_valid = Flag()
    values = serializers.DictField(help_text="Secrets masked.")
    mapping = serializers.DictField()
    users = serializers.DictField()
    share_with_reviewers = Flag()
    list_id = Text()
    updated_at = serializers.DateTimeField(allow_null=True)


class TestRunInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TestKind.choices, default=TestKind.FULL)
    list_id = Text(required=False, allow_blank=True, max_length=MAX_LIST_ID_LENGTH)
    no_retries = Flag(default=False)
    csv = serializers.FileField(
        required=False,
        help_text="A CSV of test users for this run (multipart); it becomes the saved users.",
    )


class TestRunSerializer(serializers.ModelSerializer):
    integration_id = serializers.IntegerField()
    started_by = serializers.EmailField(source="started_by.email", allow_null=True, default=None)
    stale = serializers.SerializerMethodField()
    users = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = TestRun
        fields = [
            "id",
            "integration_id",
            "version_id",
            "kind",
            "status",
            "fingerprint",
            "stale",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "no_retries",
            "cohort_id",
            "cohort_name",
            "list_id",
            "users",
            "users_to_add",
            "users_to_remove",
            "delivered",
            "steps",
            "exchange_count",
            "summary",
            "diagnosis",
            "url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_stale(self, run: TestRun) -> bool:
        current = self.context.get("fingerprint")
        return current is not None and run.fingerprint != current

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_users(self, run: TestRun) -> dict:
        return users_summary(run.users or {})

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_steps(self, run: TestRun) -> list:
        return step_progress(run)

    def get_url(self, run: TestRun) -> str:
        return reverse("api_test_run", args=[run.pk])


class TestExchangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = TestExchange
        fields = [
            "sequence",
            "step",
            "batch_id",
            "attempt",
            "max_attempts",
            "outcome",
            "summary",
            "item_count",
            "request_method",
            "request_url",
            "request_headers",
            "request_body",
            "request_body_bytes",
            "request_body_truncated",
            "response_status",
            "response_reason",
            "response_headers",
            "response_body",
            "response_body_truncated",
            "latency_ms",
            "remote_address",
            "error_kind",
            "diagnosis",
            "wait_seconds",
            "started_at",
        ]
        read_only_fields = fields


class TestRunDetailSerializer(TestRunSerializer):
    exchanges = serializers.SerializerMethodField()
    exchanges_url = serializers.SerializerMethodField()

    class Meta(TestRunSerializer.Meta):
        fields = [*TestRunSerializer.Meta.fields, "exchanges", "exchanges_url"]
        read_only_fields = fields

    @extend_schema_field(TestExchangeSerializer(many=True))
    def get_exchanges(self, run: TestRun) -> list[dict[str, Any]]:
        limit = self.context.get("exchange_limit", 100)
        exchanges = TestExchangeSerializer(run.exchanges.all()[:limit], many=True)
        # many=True makes a ListSerializer, whose data is a list: the stubs cannot follow.
        return cast(list[dict[str, Any]], exchanges.data)

    def get_exchanges_url(self, run: TestRun) -> str:
        return reverse("api_test_run_exchanges", args=[run.pk])


class SigningSecretSerializer(serializers.Serializer):
    exists = Flag()
    secret = Text(allow_null=True, help_text="Masked, except in the answer to POST (shown once).")
    created_at = serializers.DateTimeField(allow_null=True)
    previous_signs_until = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation, requests also carry a v1 signed with the replaced "
        "secret until then.",
    )
    header = Text(help_text="The header your endpoint verifies.")
