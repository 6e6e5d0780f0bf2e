"""What the Testing panel reads of a draft's configuration, worked out once per configuration.

Every view of the test page needs the draft's normalised manifest, its problems, its
fingerprint, which variables are secret and which go in a CSV of test users: pure functions
of the stored configuration and the logo. Working them out normalises the manifest (with the
logo's bytes, base64-encoded), checks it and writes it out twice as JSON, on every view.

The last `CONFIGURATIONS_KEPT` answers are kept per process, by a hash of the stored
configuration (key order included, as the fingerprint keeps it) and the logo's id: a logo
is stored once per content, under its SHA-256, so its id names its bytes. Any edit of the
configuration or of the logo is another key; a second view of the same configuration works
out none of it again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import orjson

from integrations.configuration import analyze
from integrations.manifests import LOGO_KEY, config_fingerprint, manifest_of
from integrations.models import Integration
from syncengine.core.kept import Kept
from syncengine.core.types import Diagnostic
from syncengine.testplan import secret_variables
from syncengine.testusers import per_user_variables

CONFIGURATIONS_KEPT = 256

_kept: Kept[bytes, PanelConfiguration] = Kept(CONFIGURATIONS_KEPT)


@dataclass(frozen=True)
class PanelConfiguration:
    """A draft's configuration as the Testing panel reads it. `manifest` is normalised,
    without the logo, and shared: read it, never change it."""

    manifest: dict[str, Any]
    fingerprint: str  # `config_fingerprint`, logo included
    config_errors: tuple[Diagnostic, ...]
    secret: frozenset[str]
    csv_variables: tuple[str, ...]  # `per_user_variables`
    sign_requests: bool


def panel_configuration(integration: Integration) -> PanelConfiguration:
    """The draft's configuration as the panel reads it, worked out or found kept."""
    key = _stored_key(integration.config, integration.logo_id)
    return _kept.get_or_make(key, lambda: _work_out(manifest_of(integration)))


def _stored_key(config: Any, logo_id: str | None) -> bytes:
    try:
        encoded = orjson.dumps([config, logo_id])
    except orjson.JSONEncodeError:  # an integer past 64 bits, say: the slower, wider way
        encoded = json.dumps([config, logo_id], default=repr).encode()
    return hashlib.sha256(encoded).digest()


def _work_out(manifest: dict[str, Any]) -> PanelConfiguration:
    """`manifest`: normalised, logo included."""
    # The editor's previews and this panel share the checks of a configuration.
    errors = tuple(d for d in analyze(manifest).diagnostics if d.is_error)
    delivery = manifest.get("delivery") or {}
    return PanelConfiguration(
        manifest={key: value for key, value in manifest.items() if key != LOGO_KEY},
        fingerprint=config_fingerprint(manifest),
        config_errors=errors,
        secret=frozenset(secret_variables(manifest)),
        csv_variables=tuple(per_user_variables(manifest)),
        sign_requests=bool(isinstance(delivery, dict) and delivery.get("sign_requests")),
    )


def forget_configurations() -> None:
    """Drop every kept configuration (tests, to start as a fresh process does)."""
    _kept.clear()
