"""Read-side helpers on a draft's configuration: diagnostics, tracker, previews, summary.

Pure functions of a manifest (they call the engine core); views and the API present them.
"""

from __future__ import annotations

from typing import Any

from syncengine.core.manifest.checks import check_manifest
from syncengine.core.preview import EndpointPreview, ManifestPreview, preview_manifest
from syncengine.core.tracker import track_variables


def validation_report(manifest: dict[str, Any]) -> dict[str, Any]:
    """Diagnostics (errors first) and the variable tracker, as JSON-ready data."""
    diagnostics = check_manifest(manifest)
    ordered = sorted(diagnostics, key=lambda d: (not d.is_error,))
    return {
        "valid": not any(d.is_error for d in diagnostics),
        "error_count": sum(d.is_error for d in diagnostics),
        "warning_count": sum(not d.is_error for d in diagnostics),
        "diagnostics": [d.as_dict() for d in ordered],
        "tracker": track_variables(manifest).as_dict(),
    }


def preview_report(
    manifest: dict[str, Any],
    *,
    values: dict | None = None,
    mapping: dict | None = None,
    reveal: bool = False,
) -> dict[str, Any]:
    preview: ManifestPreview = preview_manifest(
        manifest, values=values, mapping=mapping, reveal=reveal
    )
    return {
        "values": preview.values,
        "mapping": preview.mapping,
        "users": [dict(user) for user in preview.users],
        "endpoints": [_request_preview(item) for item in preview.endpoints],
    }


def _request_preview(item: EndpointPreview) -> dict[str, Any]:
    """One request of the preview as JSON-ready data; a request sent per user carries
    each sample user's request in `per_user` (its own fields are the first user's)."""
    return {
        "endpoint": item.endpoint,
        "method": item.method,
        "url": item.url,
        "headers": [[name, value] for name, value in item.headers],
        "body": item.body,
        "curl": item.curl,
        "errors": [d.as_dict() for d in item.errors],
        "note": item.note,
        "user": item.user,
        "per_user": [_request_preview(each) for each in item.per_user],
    }
