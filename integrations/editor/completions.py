"""`$` completion in the editor's template inputs: which variables have a value where.

A variable can be used only where it has a value: custom fields everywhere, mapping fields
in item templates (they hold one user's value), each pre-defined variable in the places the
engine fills it. The engine's variable checks decide that; this module asks them, for every
template input of a manifest, so that the editor offers only what would pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.editor.inputs import json_object, shown
from syncengine.core.manifest.schema import (
    AUTH,
    BATCH_ENDPOINTS,
    ENDPOINT_ORDER,
    HEADERS,
    ITEM_TEMPLATE,
    PAYLOAD,
    URL,
    VARIABLE_NAME,
)
from syncengine.core.manifest.variables import (
    PREDEFINED_VARIABLES,
    Declaration,
    VariableUse,
    collect_declarations,
    predefined_is_available,
    variable_use_problem,
)


def _suggestion(name: str, kind: str, detail: str) -> dict[str, str]:
    return {"name": name, "kind": kind, "detail": detail}


def variable_suggestions(manifest: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """For each template input kind (`endpoints.add_users.payload`, `...headers`,
    `auth.value_template`), the variables that have a value there, for `$` completion."""
    declared: dict[str, Declaration] = {}
    for declaration in collect_declarations(manifest):
        name = declaration.variable
        if VARIABLE_NAME.fullmatch(name) and name not in PREDEFINED_VARIABLES:
            declared.setdefault(name, declaration)
    labels: dict[str, str] = {}
    for key in ("custom_fields", "mapping_fields"):
        for field in manifest.get(key) or []:
            if isinstance(field, dict) and isinstance(field.get("variable"), str):
                labels.setdefault(field["variable"], shown(field.get("display_name")))
    candidates = [*declared, *PREDEFINED_VARIABLES]
    places: list[tuple[str | None, str, str]] = [(None, AUTH, "auth.value_template")]
    endpoints = json_object(manifest.get("endpoints"))
    for name in ENDPOINT_ORDER:
        if name not in endpoints:
            continue
        parts = [URL, HEADERS, PAYLOAD] + ([ITEM_TEMPLATE] if name in BATCH_ENDPOINTS else [])
        places.extend((name, part, f"endpoints.{name}.{part}") for part in parts)
    suggestions: dict[str, list[dict[str, str]]] = {}
    for endpoint, part, key in places:
        items = []
        for name, declaration in declared.items():
            use = VariableUse(name, endpoint, part, key)
            if variable_use_problem(use, declared, candidates) is None:
                kind = "mapping field" if declaration.source == "mapping_field" else "custom field"
                items.append(_suggestion(name, kind, labels.get(name, "")))
        for name, predefined in PREDEFINED_VARIABLES.items():
            if predefined_is_available(name, endpoint, part if endpoint else HEADERS):
                items.append(_suggestion(name, "pre-defined", predefined.description))
        suggestions[key] = items
    return suggestions
