"""Variables of a manifest: which are declared, which are pre-defined, and where each is used.

Shared by the checks, the variable tracker, the compiler and the editor. Uses are found by
scanning template text, not by parsing it, so that everything here works on half-typed
manifests too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from syncengine.core.diagnostic_codes import UNDECLARED_VARIABLE, VARIABLE_NOT_AVAILABLE
from syncengine.core.manifest.schema import (
    ADD_USERS,
    AUTH,
    AUTH_DEFAULTS,
    BATCH_ENDPOINTS,
    ENDPOINT_ORDER,
    HEADERS,
    ITEM_TEMPLATE,
    PAYLOAD,
    REMOVE_USERS,
    URL,
)
from syncengine.core.template.placeholders import (
    MAX_TEMPLATE_LENGTH,
    Placeholder,
    scan_placeholders,
)


@dataclass(frozen=True, slots=True)
class PredefinedVariable:
    """A variable the platform fills in, with where it has a value."""

    name: str
    description: str
    where: str
    is_available: Callable[[str | None, str], bool]


def _anywhere(endpoint: str | None, part: str) -> bool:
    return True


PREDEFINED_VARIABLES: dict[str, PredefinedVariable] = {
    variable.name: variable
    for variable in (
        PredefinedVariable(
            "items",
            "JSON array of the batch's rendered item templates",
            "add/remove/update payloads",
            lambda endpoint, part: endpoint in BATCH_ENDPOINTS and part == PAYLOAD,
        ),
        PredefinedVariable(
            "list_id",
            "the id read from create_list's response at list_id_path",
            "add/remove URL, headers, payload and item template",
            lambda endpoint, part: endpoint in {ADD_USERS, REMOVE_USERS},
        ),
        PredefinedVariable("cohort_id", "the id of the cohort being synced", "anywhere", _anywhere),
        PredefinedVariable(
            "cohort_name", "the name of the cohort being synced", "anywhere", _anywhere
        ),
        PredefinedVariable(
            "amplitude_cohort_name",
            "the cohort name, slugified when slugify_cohort_name is on",
            "anywhere",
            _anywhere,
        ),
        PredefinedVariable(
            "in_cohort",
            "true for a user entering the cohort, false for one leaving",
            "item templates",
            lambda endpoint, part: part == ITEM_TEMPLATE,
        ),
        PredefinedVariable(
            "batch_id",
            "a stable id of the batch, the same on every retry",
            "add/remove/update (any part)",
            lambda endpoint, part: endpoint in BATCH_ENDPOINTS,
        ),
    )
}


def predefined_is_available(name: str, endpoint: str | None, part: str) -> bool:
    """Whether pre-defined variable `name` has a value in `part` of `endpoint`.

    `endpoint` is None for the auth header template, which is sent to every endpoint.
    """
    variable = PREDEFINED_VARIABLES.get(name)
    if variable is None:
        return False
    if endpoint is None:
        return all(variable.is_available(each, HEADERS) for each in ENDPOINT_ORDER)
    return variable.is_available(endpoint, part)


@dataclass(frozen=True, slots=True)
class Declaration:
    """A variable declared by a custom field or a mapping field."""

    variable: str
    source: Literal["custom_field", "mapping_field"]
    path: str
    secret: bool = False


@dataclass(frozen=True, slots=True)
class VariableUse:
    """One use of a variable: in a template (with line/column) or by the auth settings.

    `endpoint` is None for auth; `part` is url, headers, payload, item_template or auth.
    """

    variable: str
    endpoint: str | None
    part: str
    path: str
    line: int | None = None
    column: int | None = None


def collect_declarations(doc: Any) -> list[Declaration]:
    """Every well-formed variable declaration, in document order (malformed ones skipped)."""
    if not isinstance(doc, dict):
        return []
    declarations: list[Declaration] = []
    sources: tuple[tuple[str, Literal["custom_field", "mapping_field"]], ...] = (
        ("custom_fields", "custom_field"),
        ("mapping_fields", "mapping_field"),
    )
    for key, source in sources:
        fields = doc.get(key)
        if not isinstance(fields, list):
            continue
        for index, field in enumerate(fields):
            if isinstance(field, dict) and isinstance(field.get("variable"), str):
                declarations.append(
                    Declaration(
                        field["variable"],
                        source,
                        f"{key}.{index}",
                        secret=source == "custom_field" and field.get("secret") is True,
                    )
                )
    return declarations


def auth_variable_references(auth: Any) -> list[VariableUse]:
    """The variables the auth settings read, as uses of part `auth`."""
    if not isinstance(auth, dict):
        return []
    method = auth.get("method")
    uses: list[VariableUse] = []
    if method == "basic":
        keys: tuple[str, ...] = ("username_variable", "password_variable")
    elif method == "bearer":
        keys = ("token_variable",)
    elif method == "api_key_header":
        template = auth.get("value_template", AUTH_DEFAULTS["value_template"])
        if isinstance(template, str):
            placeholders, _ = scan_placeholders(template)
            uses.extend(_uses(placeholders, None, AUTH, "auth.value_template"))
        return uses
    else:
        return uses
    for key in keys:
        variable = auth.get(key, AUTH_DEFAULTS[key])
        if isinstance(variable, str):
            uses.append(VariableUse(variable, None, AUTH, f"auth.{key}"))
    return uses


def _uses(
    placeholders: list[Placeholder], endpoint: str | None, part: str, path: str
) -> Iterator[VariableUse]:
    for placeholder in placeholders:
        yield VariableUse(
            placeholder.name, endpoint, part, path, placeholder.line, placeholder.column
        )


def endpoint_templates(endpoint_name: str, endpoint: Any) -> Iterator[tuple[str, str, str]]:
    """(part, path, text) for every template string of an endpoint, in document order."""
    if not isinstance(endpoint, dict):
        return
    base = f"endpoints.{endpoint_name}"
    if isinstance(endpoint.get("url"), str):
        yield URL, f"{base}.url", endpoint["url"]
    headers = endpoint.get("headers")
    if isinstance(headers, dict):
        for name, value in headers.items():
            if isinstance(value, str):
                yield HEADERS, f"{base}.headers.{name}", value
    if isinstance(endpoint.get("payload"), str):
        yield PAYLOAD, f"{base}.payload", endpoint["payload"]
    if endpoint_name in BATCH_ENDPOINTS and isinstance(endpoint.get("item_template"), str):
        yield ITEM_TEMPLATE, f"{base}.item_template", endpoint["item_template"]


def collect_variable_uses(doc: Any) -> list[VariableUse]:
    """Every variable use in the auth settings and the known endpoints, best effort.

    Works on half-typed manifests: placeholders are found even in templates that are not
    (yet) valid JSON, so the tracker stays useful while the partner types.
    """
    if not isinstance(doc, dict):
        return []
    uses = auth_variable_references(doc.get("auth"))
    endpoints = doc.get("endpoints")
    if not isinstance(endpoints, dict):
        return uses
    for name in ENDPOINT_ORDER:
        for part, path, text in endpoint_templates(name, endpoints.get(name)):
            if len(text) > MAX_TEMPLATE_LENGTH:
                continue  # refused as a whole by the checks; scanning it would be wasted work
            placeholders, _ = scan_placeholders(text)
            uses.extend(_uses(placeholders, name, part, path))
    return uses


def suggest_variable(name: str, candidates: list[str]) -> str | None:
    """The declared or pre-defined name `name` was probably meant to be, if any."""
    folded = name.lower().replace("_", "")
    for candidate in candidates:
        if candidate.replace("_", "") == folded:
            return candidate
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return matches[0] if matches else None


def variable_use_problem(
    use: VariableUse, declared: dict[str, Declaration], candidates: list[str]
) -> tuple[str, str] | None:
    """(code, message) if `use` is undeclared or has no value where it is used, else None."""
    name = use.variable
    declaration = declared.get(name)
    where = "the auth header" if use.endpoint is None else f"{use.endpoint} {use.part}"
    if declaration is not None:
        if declaration.source == "mapping_field" and use.part != ITEM_TEMPLATE:
            return (
                VARIABLE_NOT_AVAILABLE,
                f"${name} is a mapping field: it holds one user's value, so it can only be "
                "used in an item template",
            )
        return None
    predefined = PREDEFINED_VARIABLES.get(name)
    if predefined is not None:
        if predefined_is_available(name, use.endpoint, use.part):
            return None
        return (
            VARIABLE_NOT_AVAILABLE,
            f"${name} has no value in {where}; it is available in {predefined.where}",
        )
    suggestion = suggest_variable(name, candidates)
    hint = f" Did you mean ${suggestion}?" if suggestion else ""
    return (
        UNDECLARED_VARIABLE,
        f"${name} is neither declared (as a custom or mapping field) nor pre-defined.{hint}",
    )
