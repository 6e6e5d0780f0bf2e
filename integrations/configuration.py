"""Read-side helpers on a draft's configuration: diagnostics, tracker, previews, summary.

Pure functions of a manifest (they call the engine core); views and the API present them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from syncengine.core.compiler import CompiledIntegration, compile_manifest_partially
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.preview import EndpointPreview, ManifestPreview, preview_manifest
from syncengine.core.tracker import track_variables
from syncengine.core.types import Diagnostic

# Configurations analysed recently, by fingerprint, in this process: the editor previews
# the same configuration again whenever nothing changed between two pauses in typing, and
# a page and its first preview show the same one.
ANALYSES_KEPT = 64


@dataclass(frozen=True)
class Analysis:
    """A normalised manifest checked once and compiled once (what could be compiled)."""

    diagnostics: tuple[Diagnostic, ...]
    compiled: tuple[CompiledIntegration, dict[str, list[Diagnostic]]]


_analyses: OrderedDict[bytes, Analysis] = OrderedDict()
_analyses_lock = threading.Lock()


def fingerprint(manifest: dict[str, Any]) -> bytes:
    """A digest of a normalised manifest's content (key order does not matter)."""
    text = json.dumps(manifest, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).digest()


def analyze(manifest: dict[str, Any]) -> Analysis:
    """Check and compile a normalised manifest, or find it analysed already."""
    key = fingerprint(manifest)
    with _analyses_lock:
        found = _analyses.get(key)
        if found is not None:
            _analyses.move_to_end(key)
            return found
    diagnostics = check_manifest(manifest, normalized=True)
    compiled = compile_manifest_partially(manifest, diagnostics=diagnostics, normalized=True)
    analysis = Analysis(tuple(diagnostics), compiled)
    with _analyses_lock:
        _analyses[key] = analysis
        while len(_analyses) > ANALYSES_KEPT:
            _analyses.popitem(last=False)
    return analysis


def validation_report(
    manifest: dict[str, Any], *, analysis: Analysis | None = None
) -> dict[str, Any]:
    """Diagnostics (errors first) and the variable tracker, as JSON-ready data.
    `analysis`: `analyze(manifest)`, for a manifest already normalised and analysed."""
    diagnostics = list(analysis.diagnostics) if analysis else check_manifest(manifest)
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
    analysis: Analysis | None = None,
) -> dict[str, Any]:
    preview: ManifestPreview = preview_manifest(
        manifest,
        values=values,
        mapping=mapping,
        reveal=reveal,
        compiled=analysis.compiled if analysis else None,
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
