"""An integration's manifest (DESIGN §4): assembling it from the stored draft, and checking
that an incoming one can be stored at all."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from integrations.models import Integration, IntegrationRevision, IntegrationVersion, StoredLogo
from portal.errors import ActionError
from syncengine.core.diagnostic_codes import (
    INVALID_TYPE,
    TOO_MANY,
    UNKNOWN_KEY,
    UNSUPPORTED_VERSION,
)
from syncengine.core.kept import Kept
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import canonical_json, normalize_manifest
from syncengine.core.manifest.schema import INTEGRATION_TYPES
from syncengine.core.types import Diagnostic

# A draft may be stored while it still has problems (the editor autosaves half-typed
# work and shows the diagnostics), but not when it is not the shape of a manifest at all.
SHAPE_CODES = frozenset({INVALID_TYPE, UNKNOWN_KEY, UNSUPPORTED_VERSION, TOO_MANY})
LOGO_KEY = "logo_png_base64"
FINGERPRINTS_KEPT = 256

_fingerprints: Kept[bytes, str] = Kept(FINGERPRINTS_KEPT)


def assemble(config: dict[str, Any], logo: StoredLogo | None) -> dict[str, Any]:
    doc = dict(config)
    if logo is not None:
        doc[LOGO_KEY] = base64.b64encode(bytes(logo.png)).decode("ascii")
    return normalize_manifest(doc)


def manifest_of(
    integration: Integration | IntegrationRevision | IntegrationVersion,
) -> dict[str, Any]:
    """The full manifest, logo included, normalised."""
    return assemble(integration.config, integration.logo)


def storable_config(doc: Any) -> tuple[dict[str, Any], bytes | None]:
    """Split an incoming manifest into the config to store and the logo bytes (if any).

    Refuses, with every problem and its JSON path, a document that is not shaped like a
    manifest or lacks a usable display name or integration type.
    """
    if not isinstance(doc, dict):
        raise ActionError("The manifest must be a JSON object.", field="manifest")
    normalized = normalize_manifest(doc)
    diagnostics = check_manifest(normalized)
    blocking = [d for d in diagnostics if d.is_error and d.code in SHAPE_CODES]
    name = normalized.get("display_name")
    display_name = name.strip() if isinstance(name, str) else ""
    if not display_name:
        blocking.append(_problem("display_name", "The display name is required."))
    if normalized.get("integration_type") not in INTEGRATION_TYPES:
        blocking.append(
            _problem("integration_type", 'integration_type must be "list" or "property".')
        )
    if blocking:
        raise _refusal(blocking)
    normalized["display_name"] = display_name
    logo_text = normalized.pop(LOGO_KEY, None)
    logo = None
    if logo_text:
        try:
            logo = base64.b64decode(logo_text, validate=True)
        except (binascii.Error, ValueError):
            raise _refusal([_problem(LOGO_KEY, "not valid base64")]) from None
    return normalized, logo


def _problem(path: str, message: str) -> Diagnostic:
    return Diagnostic("error", "invalid_value", message, path)


def _refusal(problems: list[Diagnostic]) -> ActionError:
    first = problems[0]
    return ActionError(
        f"{first.path or '(manifest)'}: {first.message}",
        field="manifest",
        code="invalid_manifest",
        details=[p.as_dict() for p in problems],
    )


def config_fingerprint(
    source: Integration | IntegrationRevision | IntegrationVersion | dict[str, Any],
) -> str:
    """A short hash of the exact configuration, logo included.

    A test run records the fingerprint of what it tested; submitting needs a passing full
    test whose fingerprint equals the draft's current one, so any later edit makes the
    test stale.
    """
    manifest = source if isinstance(source, dict) else manifest_of(source)
    # The canonical text is indented JSON, which Python writes slowly; the fingerprints of
    # the configurations seen lately are kept by a quick digest of the same content (key
    # order included, as the canonical text keeps it).
    try:
        quick = hashlib.sha256(json.dumps(manifest, separators=(",", ":")).encode()).digest()
    except (TypeError, ValueError):
        return _canonical_fingerprint(manifest)
    return _fingerprints.get_or_make(quick, lambda: _canonical_fingerprint(manifest))


def _canonical_fingerprint(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(manifest)).hexdigest()[:32]
