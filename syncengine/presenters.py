"""Test settings and runs as shown to people (pages and API): secrets always masked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncengine.core.masking import MASK
from syncengine.models import TestRun, TestSettings, UsersSource
from syncengine.testplan import secret_variables


def masked_values(values: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Connect-modal values with every secret replaced by the mask (empty stays empty)."""
    secret = secret_variables(manifest)
    return {
        name: (MASK if value else "") if name in secret else value
        for name, value in (values or {}).items()
    }


def users_summary(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Where a run's (or the settings') users come from, without the users themselves."""
    source = spec.get("source")
    if source == UsersSource.CSV:
        rows = spec.get("rows") or []
        return {
            "source": source,
            "csv_name": spec.get("name", ""),
            "add": sum(1 for row in rows if row.get("operation") == "add"),
            "remove": sum(1 for row in rows if row.get("operation") == "remove"),
        }
    if source == UsersSource.COHORT:
        return {
            "source": source,
            "cohort_id": spec.get("cohort_public_id"),
            "cohort_name": spec.get("name"),
            "count": spec.get("count"),
        }
    return {"source": source, "count": spec.get("count")}


def users_description(spec: Mapping[str, Any]) -> str:
    shown = users_summary(spec)
    if shown["source"] == UsersSource.CSV:
        return f"CSV {shown['csv_name']}: {shown['add']:,} add, {shown['remove']:,} remove"
    if shown["source"] == UsersSource.COHORT:
        return f"{shown['count']:,} users of the cohort {shown['cohort_name']}"
    count = shown.get("count") or 0
    return f"{count:,} generated users"


def settings_for_display(settings: TestSettings, manifest: Mapping[str, Any]) -> dict[str, Any]:
    project = settings.project
    return {
        "project_id": project.public_id if project else None,
        "project_name": project.name if project else None,
        "api_key": settings.api_key_masked,
        "api_key_valid": bool(project and project.api_key_matches(settings.project_api_key)),
        "values": masked_values(settings.values, manifest),
        "mapping": dict(settings.mapping or {}),
        "users": {
            "source": settings.users_source,
            "count": settings.users_count,
            "cohort_id": settings.cohort.public_id if settings.cohort else None,
            "cohort_name": settings.cohort.name if settings.cohort else None,
            "csv_name": settings.csv_name,
            "csv_rows": len(settings.csv_rows or []),
        },
        "share_with_reviewers": settings.share_with_reviewers,
        "list_id": settings.list_id,
        "updated_at": settings.updated_at if settings.pk else None,
    }


def step_progress(run: TestRun) -> list[dict[str, Any]]:
    """The run's steps with a percentage each, for the progress display."""
    shown = []
    for step in run.steps or []:
        users = step.get("users") or 0
        # Skipped users are done with too: nothing more will be sent for them.
        done = (step.get("users_done") or 0) + (step.get("users_skipped") or 0)
        if step.get("endpoint") == "create_list":
            percent = 100 if step.get("status") == "passed" else 0
        else:
            percent = int(100 * done / users) if users else 0
        shown.append({**step, "percent": percent})
    return shown
