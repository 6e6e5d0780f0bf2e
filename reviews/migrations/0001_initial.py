# Review comments and conformance runs moved here from the integrations app. Their tables
# stay where they are in this step (state only); the next migration renames them.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import portal.crypto


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("integrations", "0002_versions_reviews_destinations"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ConformanceRun",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done"), ("error", "Could not run")], default="queued", max_length=10)),
                        ("values", portal.crypto.EncryptedJSONField(blank=True, default=dict)),
                        ("mapping", models.JSONField(blank=True, default=dict)),
                        ("results", models.JSONField(blank=True, default=list)),
                        ("error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("started_by", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("version", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="conformance_runs", to="integrations.integrationversion")),
                    ],
                    options={"ordering": ["-created_at", "-id"], "db_table": "integrations_conformancerun"},
                ),
                migrations.CreateModel(
                    name="ReviewComment",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=[("comment", "Comment"), ("changes_requested", "Changes requested"), ("rejected", "Rejected"), ("approved", "Approved")], default="comment", max_length=20)),
                        ("body", models.TextField(max_length=4000)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("author", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("parent", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="replies", to="reviews.reviewcomment")),
                        ("version", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="comments", to="integrations.integrationversion")),
                    ],
                    options={"ordering": ["created_at", "id"], "db_table": "integrations_reviewcomment"},
                ),
            ],
            database_operations=[],
        ),
    ]
