"""Read-side assembly of a review: the version in full, its diff against the last approved
version, and the evidence around it. Pure reads; the pages and the API present them."""

from __future__ import annotations

from typing import Any

from integrations.configuration import preview_report, validation_report
from integrations.manifests import manifest_of
from integrations.models import IntegrationVersion, VersionState
from syncengine.core.manifest_diff import manifest_diff


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
