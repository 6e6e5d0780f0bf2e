"""Reads of the review side: the reviewers' queue, and a review assembled (the version in
full, its diff against the last approved version). The pages and the API present them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from django.db.models import QuerySet
from django.utils import timezone

from integrations.configuration import preview_report, validation_report
from integrations.manifests import manifest_of
from integrations.models import IntegrationVersion, VersionKind, VersionState
from portal.models import User
from syncengine.core.manifest_diff import manifest_diff

# The queue's "waiting at least N days" filter goes back ten years at most; the date
# arithmetic overflows not far beyond what a query string can carry.
MAX_REVIEW_AGE_DAYS = 3650


def review_queue(
    *,
    state: str | None = None,
    org_id: int | None = None,
    older_than_days: int | None = None,
    assigned_to: User | Literal["any"] | None = "any",
) -> QuerySet[IntegrationVersion]:
    """Submissions for reviewers, oldest first (the next to review is at the top)."""
    rows = IntegrationVersion.objects.filter(kind=VersionKind.SUBMISSION).select_related(
        "integration__org", "created_by", "assigned_to", "logo"
    )
    rows = rows.filter(state=state) if state else rows
    if org_id:
        rows = rows.filter(integration__org_id=org_id)
    if older_than_days:
        days = min(older_than_days, MAX_REVIEW_AGE_DAYS)
        rows = rows.filter(created_at__lte=timezone.now() - timedelta(days=days))
    if assigned_to is None:
        rows = rows.filter(assigned_to__isnull=True)
    elif isinstance(assigned_to, User):
        rows = rows.filter(assigned_to=assigned_to)
    return rows.order_by("created_at", "id")


def last_approved_before(version: IntegrationVersion) -> IntegrationVersion | None:
    return (
        IntegrationVersion.objects.filter(
            integration_id=version.integration_id,
            state=VersionState.APPROVED,
            number__lt=version.number,
        )
        .order_by("-number")
        .first()
    )


def version_diff(version: IntegrationVersion) -> dict[str, Any]:
    """Changes since the last approved version, or a note that this is the first one."""
    baseline = last_approved_before(version)
    if baseline is None:
        return {"against": None, "first_submission": True, "changes": []}
    changes = [c.as_dict() for c in manifest_diff(manifest_of(baseline), manifest_of(version))]
    if baseline.logo_id != version.logo_id:
        # Logos are compared by content hash; their base64 text would drown the diff.
        changes.append(
            {
                "path": "logo",
                "kind": "changed",
                "before": (baseline.logo_id or "none")[:12],
                "after": (version.logo_id or "none")[:12],
                "text_diff": [],
            }
        )
    return {"against": baseline.number, "first_submission": False, "changes": changes}


def version_report(version: IntegrationVersion) -> dict[str, Any]:
    manifest = manifest_of(version)
    return {
        "validation": validation_report(manifest),
        "preview": preview_report(manifest),
    }
