"""Example manifests and ways to look at what the checks say about them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncengine.core.manifest.checks import check_manifest
from syncengine.core.types import Diagnostic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


VALID_FIXTURES = ["acme_list", "jsonapi_list", "property_basic", "no_auth_minimal"]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def acme() -> dict[str, Any]:
    """The example of DESIGN §4: a valid list integration with bearer auth."""
    return fixture("acme_list")


def problems(doc: Any) -> set[tuple[str, str, str, int | None, int | None]]:
    return {(d.severity, d.code, d.path, d.line, d.column) for d in check_manifest(doc)}


def only(doc: Any, path: str) -> Diagnostic:
    """The one diagnostic at `path` (fails if there are none or several)."""
    found = [d for d in check_manifest(doc) if d.path == path]
    assert len(found) == 1, found
    return found[0]


def codes_at(doc: Any, path: str) -> list[str]:
    return [d.code for d in check_manifest(doc) if d.path == path]


def classification(**overrides: Any) -> dict[str, Any]:
    base = {"status": 401, "reason": "Unauthorized", "message": "Check your key", "action": "fail"}
    return base | overrides
