"""API shapes of the review side: submissions, review detail, comments, decisions and
reviewers' runs."""

from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

from integrations.api.serializers import VersionSerializer
from portal.api.fields import Flag, Text
from reviews.models import ConformanceRun, ReviewComment


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.EmailField(source="author.email", allow_null=True, default=None)
    author_is_reviewer = serializers.SerializerMethodField()

    class Meta:
        model = ReviewComment
        fields = ["id", "kind", "body", "parent", "author", "author_is_reviewer", "created_at"]
        read_only_fields = fields

    def get_author_is_reviewer(self, comment: ReviewComment) -> bool:
        return bool(comment.author and comment.author.is_reviewer)


class CommentInputSerializer(serializers.Serializer):
    body = Text(max_length=4000, validators=[RegexValidator(r"\S", "Write a comment.")])
    # DRF's metaclass moves declared fields off the class, so this does not shadow
    # Field.parent; the stubs see a plain class attribute.
    parent = serializers.IntegerField(required=False, allow_null=True)  # type: ignore[assignment]


class SubmitSerializer(serializers.Serializer):
    note = Text(
        max_length=4000, required=False, allow_blank=True, help_text="A note to the reviewers."
    )


class DecisionSerializer(serializers.Serializer):
    message = Text(
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


class ReviewerRunInputSerializer(serializers.Serializer):
    values = serializers.DictField(
        child=Text(allow_blank=True),
        required=False,
        help_text="Connect-modal values to test with; omit to use the partner's shared ones.",
    )
    mapping = serializers.DictField(child=Text(), required=False)
    no_retries = Flag(default=False)


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
