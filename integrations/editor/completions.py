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
from syncengine.core.kept import Kept
from syncengine.core.manifest.schema import (
    AUTH,
    BATCH_ENDPOINTS,
    ENDPOINT_ORDER,
    FIND,
    HEADERS,
    ITEM_TEMPLATE,
    KEY,
    LOOKUP,
    MATCH,
    PAYLOAD,
    URL,
    VARIABLE_NAME,
)
from syncengine.core.manifest.variables import (
    PREDEFINED_VARIABLES,
    Declaration,
    UseScope,
    VariableUse,
    collect_declarations,
    predefined_is_available,
    request_scopes,
    variable_use_problem,
)

SUGGESTIONS_KEPT = 64

_kept: Kept[tuple[Any, ...], dict[str, list[dict[str, str]]]] = Kept(SUGGESTIONS_KEPT)


def _suggestion(name: str, kind: str, detail: str) -> dict[str, str]:
    return {"name": name, "kind": kind, "detail": detail}


def _places(manifest: Mapping[str, Any]) -> list[tuple[UseScope | None, str, str]]:
    """(scope, part, input kind) of every template input: the integration's auth header
    value, then each request of each endpoint (its own, a lookup, a create, a find) with
    its own credentials' header value."""
    places: list[tuple[UseScope | None, str, str]] = [(None, AUTH, "auth.value_template")]
    endpoints = json_object(manifest.get("endpoints"))
    for name in ENDPOINT_ORDER:
        for scope, path, settings in request_scopes(name, endpoints.get(name)):
            parts = [URL, HEADERS, PAYLOAD]
            if name in BATCH_ENDPOINTS and scope.request != FIND:
                parts.append(ITEM_TEMPLATE)
            if scope.request == LOOKUP:
                parts.append(KEY)
            if scope.request == FIND:
                parts.append(MATCH)
            places.extend((scope, part, f"{path}.{part}") for part in parts)
            if isinstance(settings.get("auth"), dict):
                places.append((scope, AUTH, f"{path}.auth.value_template"))
    return places


def variable_suggestions(manifest: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """For each template input kind (`endpoints.add_users.payload`, `...headers`,
    `endpoints.add_users.lookup.key`, `auth.value_template`), the variables that have a
    value there, for `$` completion (a request sent per user offers its user's values)."""
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
    places = tuple(_places(manifest))
    # What is offered depends only on the declarations, their labels and the inputs'
    # places, which typing in a template or a help text leaves as they were: the last
    # answers are kept by those (the answer is shared: callers only read it).
    signature = (tuple(declared.values()), tuple(labels.items()), places)
    return _kept.get_or_make(signature, lambda: _suggestions(declared, labels, places))


def _suggestions(
    declared: dict[str, Declaration],
    labels: dict[str, str],
    places: tuple[tuple[UseScope | None, str, str], ...],
) -> dict[str, list[dict[str, str]]]:
    candidates = [*declared, *PREDEFINED_VARIABLES]
    suggestions: dict[str, list[dict[str, str]]] = {}
    for scope, part, key in places:
        endpoint = scope.endpoint if scope is not None else None
        items = []
        for name, declaration in declared.items():
            use = VariableUse(name, endpoint, part, key, scope=scope)
            if variable_use_problem(use, declared, candidates) is None:
                kind = "mapping field" if declaration.source == "mapping_field" else "custom field"
                items.append(_suggestion(name, kind, labels.get(name, "")))
        for name, predefined in PREDEFINED_VARIABLES.items():
            where = HEADERS if part == AUTH else part
            if predefined_is_available(name, endpoint, where, scope):
                items.append(_suggestion(name, "pre-defined", predefined.description))
        suggestions[key] = items
    return suggestions
