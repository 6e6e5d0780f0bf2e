"""Read-side helpers on a draft's configuration: diagnostics, tracker, previews, summary.

Pure functions of a manifest (they call the engine core); views and the API present them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from syncengine.core.compiler import CompiledIntegration, compile_manifest_partially
from syncengine.core.kept import Kept
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.preview import EndpointPreview, ManifestPreview, preview_manifest
from syncengine.core.tracker import VariableTracker, track_variables
from syncengine.core.types import Diagnostic

# Configurations analysed recently, by fingerprint, in this process: the editor previews
# the same configuration again whenever nothing changed between two pauses in typing, and
# a page and its first preview show the same one.
ANALYSES_KEPT = 64
# What only people read, never the engine: the names, help texts and option labels the
# Connect modal shows. An edit of one is checked again (a text can be too long) but
# changes neither the variable tracker nor the rendered requests, which are kept by a
# fingerprint of the configuration without them (`engine_fingerprint`).
PERSON_TEXT_KEYS = frozenset({"display_name", "help_text"})
OPTION_TEXT_KEYS = frozenset({"label"})


@dataclass(frozen=True)
class Analysis:
    """A normalised manifest checked once and compiled once (what could be compiled)."""

    diagnostics: tuple[Diagnostic, ...]
    compiled: tuple[CompiledIntegration, dict[str, list[Diagnostic]]]
    # The manifest's `engine_fingerprint`: what its tracker and rendered requests are kept by.
    engine_key: bytes


_analyses: Kept[bytes, Analysis] = Kept(ANALYSES_KEPT)
_trackers: Kept[bytes, VariableTracker] = Kept(ANALYSES_KEPT)
_previews: Kept[bytes, ManifestPreview] = Kept(ANALYSES_KEPT)


def fingerprint(manifest: Any) -> bytes:
    """A digest of a normalised manifest's content (key order does not matter)."""
    text = json.dumps(manifest, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).digest()


def engine_fingerprint(manifest: dict[str, Any]) -> bytes:
    """`fingerprint` of the manifest without the texts only people read
    (`PERSON_TEXT_KEYS`): two manifests that differ only in those give the same tracker
    and the same rendered requests."""
    return fingerprint(_without_person_texts(manifest))


def _without_person_texts(manifest: dict[str, Any]) -> dict[str, Any]:
    doc = {key: value for key, value in manifest.items() if key not in PERSON_TEXT_KEYS}
    for key in ("custom_fields", "mapping_fields"):
        fields = manifest.get(key)
        if isinstance(fields, list):
            doc[key] = [_field_without_person_texts(field) for field in fields]
    return doc


def _field_without_person_texts(field: Any) -> Any:
    if not isinstance(field, dict):
        return field
    kept = {key: value for key, value in field.items() if key not in PERSON_TEXT_KEYS}
    options = field.get("options")
    if isinstance(options, list):
        kept["options"] = [
            {key: value for key, value in option.items() if key not in OPTION_TEXT_KEYS}
            if isinstance(option, dict)
            else option
            for option in options
        ]
    return kept


def analyze(manifest: dict[str, Any]) -> Analysis:
    """Check and compile a normalised manifest, or find it analysed already."""

    def made() -> Analysis:
        diagnostics = check_manifest(manifest, normalized=True)
        compiled = compile_manifest_partially(manifest, diagnostics=diagnostics, normalized=True)
        return Analysis(tuple(diagnostics), compiled, engine_fingerprint(manifest))

    return _analyses.get_or_make(fingerprint(manifest), made)


def forget_analyses() -> None:
    """Drop every kept analysis, tracker and preview (tests, to start as a fresh process)."""
    for kept in (_analyses, _trackers, _previews):
        kept.clear()


def _tracker(manifest: dict[str, Any], *, analysis: Analysis | None) -> VariableTracker:
    """The variable tracker of a normalised manifest; with `analysis`, kept by the
    manifest's `engine_fingerprint`."""
    if analysis is None:
        return track_variables(manifest)
    return _trackers.get_or_make(analysis.engine_key, lambda: track_variables(manifest))


def _preview(manifest: dict[str, Any], analysis: Analysis) -> ManifestPreview:
    """The sample preview of an analysed manifest, kept by its `engine_fingerprint` and
    the errors that keep requests from being compiled (a NUL in a help text, say, moves
    the one NUL diagnostic away from a template)."""
    _, blocked = analysis.compiled
    key = fingerprint(
        [
            analysis.engine_key.hex(),
            [[name, [d.as_dict() for d in errors]] for name, errors in blocked.items()],
        ]
    )
    return _previews.get_or_make(
        key, lambda: preview_manifest(manifest, compiled=analysis.compiled)
    )


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
        "tracker": _tracker(manifest, analysis=analysis).as_dict(),
    }


def preview_report(
    manifest: dict[str, Any],
    *,
    values: dict | None = None,
    mapping: dict | None = None,
    reveal: bool = False,
    analysis: Analysis | None = None,
) -> dict[str, Any]:
    preview: ManifestPreview
    if analysis is not None and values is None and mapping is None and not reveal:
        preview = _preview(manifest, analysis)
    else:
        preview = preview_manifest(
            manifest,
            values=values,
            mapping=mapping,
            reveal=reveal,
            compiled=analysis.compiled if analysis else None,
        )
    return {
        "values": dict(preview.values),
        "mapping": dict(preview.mapping),
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
