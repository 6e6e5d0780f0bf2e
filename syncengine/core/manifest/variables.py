"""Variables of a manifest: which are declared, which are pre-defined, and where each is used.

Shared by the checks, the variable tracker, the compiler and the editor. Uses are found by
scanning template text, not by parsing it, so that everything here works on half-typed
manifests too.

Where a variable has a value depends on the template's `UseScope`: its endpoint, which of
the endpoint's requests it belongs to (the endpoint's own, its lookup, the lookup's create
request, create_list's find request) and that request's mode (a batch, or one request per
user, where a user's values may appear anywhere).
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
    BATCH,
    BATCH_ENDPOINTS,
    CREATE,
    CREATE_LIST,
    ENDPOINT_ORDER,
    FIND,
    HEADERS,
    ITEM_TEMPLATE,
    KEY,
    LOOKUP,
    MAIN,
    MATCH,
    PAYLOAD,
    PER_USER,
    REMOVE_USERS,
    URL,
)
from syncengine.core.template.placeholders import (
    MAX_TEMPLATE_LENGTH,
    Placeholder,
    scan_placeholders,
)


@dataclass(frozen=True, slots=True)
class UseScope:
    """Where a template is used: its endpoint (None: the integration's auth header, sent
    to every endpoint), which of the endpoint's requests (`main`, `lookup`, `create`,
    `find`), that request's mode, whether the endpoint looks partner ids up, and whether
    the request has an item template (which `$item` renders)."""

    endpoint: str | None
    request: str = MAIN
    mode: str = BATCH
    has_lookup: bool = False
    has_item_template: bool = True

    @property
    def per_user(self) -> bool:
        return self.mode == PER_USER

    @property
    def prefix(self) -> str:
        """The manifest path of the request below its endpoint (`lookup.create.`)."""
        return {MAIN: "", LOOKUP: "lookup.", CREATE: "lookup.create.", FIND: "find."}[self.request]


@dataclass(frozen=True, slots=True)
class PredefinedVariable:
    """A variable the platform fills in, with where it has a value."""

    name: str
    description: str
    where: str
    is_available: Callable[[UseScope, str], bool]


def _anywhere(scope: UseScope, part: str) -> bool:
    return True


def _items_available(scope: UseScope, part: str) -> bool:
    # In a URL the batch needs a modifier saying how to write it (checked with the URL).
    return (
        scope.endpoint in BATCH_ENDPOINTS
        and scope.request in (MAIN, LOOKUP, CREATE)
        and not scope.per_user
        and part in (PAYLOAD, URL)
    )


def _item_available(scope: UseScope, part: str) -> bool:
    return (
        scope.endpoint in BATCH_ENDPOINTS
        and scope.request in (MAIN, LOOKUP, CREATE)
        and scope.per_user
        and scope.has_item_template
        and part in (URL, HEADERS, PAYLOAD)
    )


def _user_part(scope: UseScope, part: str) -> bool:
    """A part rendered for one user: an item template, or anything of a per-user request."""
    if scope.endpoint not in BATCH_ENDPOINTS or scope.request == FIND:
        return False
    return part in (ITEM_TEMPLATE, KEY) or (scope.per_user and part in (URL, HEADERS, PAYLOAD))


def _partner_id_available(scope: UseScope, part: str) -> bool:
    return scope.request == MAIN and scope.has_lookup and _user_part(scope, part)


PREDEFINED_VARIABLES: dict[str, PredefinedVariable] = {
    variable.name: variable
    for variable in (
        PredefinedVariable(
            "items",
            "JSON array of the batch's rendered item templates",
            "add/remove/update payloads (and URLs, as ${items:join(,)} or ${items:json}), "
            "and their lookup and create requests",
            _items_available,
        ),
        PredefinedVariable(
            "item",
            "the user's rendered item template, in a request sent per user",
            "add/remove/update and lookup/create requests in per_user mode",
            _item_available,
        ),
        PredefinedVariable(
            "partner_id",
            "the user's id on the partner's side, found by the endpoint's lookup",
            "item templates (and per-user requests) of an endpoint with a lookup",
            _partner_id_available,
        ),
        PredefinedVariable(
            "list_id",
            "the id read from create_list's response at list_id_path",
            "add/remove URL, headers, payload and item template",
            lambda scope, part: scope.endpoint in {ADD_USERS, REMOVE_USERS},
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
            "item templates (and anything of a per-user request)",
            lambda scope, part: part == ITEM_TEMPLATE or (_user_part(scope, part) and part != KEY),
        ),
        PredefinedVariable(
            "batch_id",
            "a stable id of the batch, the same on every retry",
            "add/remove/update (any part)",
            lambda scope, part: scope.endpoint in BATCH_ENDPOINTS,
        ),
    )
}
# Names version 1 knows: a version-1 manifest may not use the others.
VERSION_1_PREDEFINED = frozenset(
    {"items", "list_id", "cohort_id", "cohort_name", "amplitude_cohort_name", "in_cohort"}
    | {"batch_id"}
)


def predefined_is_available(
    name: str, endpoint: str | None, part: str, scope: UseScope | None = None
) -> bool:
    """Whether pre-defined variable `name` has a value in `part` of `endpoint`.

    `endpoint` is None for the auth header template, which is sent to every endpoint.
    `scope` says which of the endpoint's requests and in which mode (default: the
    endpoint's own request, in batch mode).
    """
    variable = PREDEFINED_VARIABLES.get(name)
    if variable is None:
        return False
    if endpoint is None:
        return all(variable.is_available(UseScope(each), HEADERS) for each in ENDPOINT_ORDER)
    return variable.is_available(scope or UseScope(endpoint), part)


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

    `endpoint` is None for the integration's auth; `part` is url, headers, payload,
    item_template, key, match or auth; `scope` says which request of the endpoint and in
    which mode (None: the endpoint's own request in batch mode, as in version 1).
    `modifier` is the placeholder's modifier as written (`number`, `join(,)`), if any.
    """

    variable: str
    endpoint: str | None
    part: str
    path: str
    line: int | None = None
    column: int | None = None
    scope: UseScope | None = None
    modifier: str | None = None

    @property
    def part_path(self) -> str:
        """The part below its endpoint, with the request it belongs to (`lookup.url`)."""
        return (self.scope.prefix if self.scope is not None else "") + self.part

    def effective_scope(self) -> UseScope:
        return self.scope or UseScope(self.endpoint)


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


def auth_variable_references(
    auth: Any, *, path: str = "auth", scope: UseScope | None = None
) -> list[VariableUse]:
    """The variables an auth settings object reads, as uses of part `auth`.

    `path` and `scope` locate a per-endpoint auth override (`endpoints.add_users.auth`);
    the default is the integration's own auth settings.
    """
    if not isinstance(auth, dict):
        return []
    endpoint = scope.endpoint if scope is not None else None
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
            uses.extend(_uses(placeholders, endpoint, AUTH, f"{path}.value_template", scope))
        return uses
    else:
        return uses
    for key in keys:
        variable = auth.get(key, AUTH_DEFAULTS[key])
        if isinstance(variable, str):
            uses.append(VariableUse(variable, endpoint, AUTH, f"{path}.{key}", scope=scope))
    return uses


def _uses(
    placeholders: list[Placeholder],
    endpoint: str | None,
    part: str,
    path: str,
    scope: UseScope | None = None,
) -> Iterator[VariableUse]:
    for placeholder in placeholders:
        yield VariableUse(
            placeholder.name,
            endpoint,
            part,
            path,
            placeholder.line,
            placeholder.column,
            scope,
            str(placeholder.modifier) if placeholder.modifier is not None else None,
        )


def _mode(settings: dict[str, Any]) -> str:
    mode = settings.get("mode")
    return mode if mode == PER_USER else BATCH


def _has_item_template(settings: dict[str, Any]) -> bool:
    template = settings.get("item_template")
    return isinstance(template, str) and bool(template.strip())


def request_scopes(endpoint_name: str, endpoint: Any) -> Iterator[tuple[UseScope, str, Any]]:
    """(scope, manifest path, settings) of an endpoint's requests: its own, then (version 2)
    its lookup and the lookup's create request, or create_list's find request."""
    if not isinstance(endpoint, dict):
        return
    base = f"endpoints.{endpoint_name}"
    lookup = endpoint.get("lookup")
    has_lookup = isinstance(lookup, dict)
    yield (
        UseScope(
            endpoint_name,
            MAIN,
            _mode(endpoint),
            has_lookup,
            _has_item_template(endpoint) or endpoint_name not in BATCH_ENDPOINTS,
        ),
        base,
        endpoint,
    )
    if endpoint_name in BATCH_ENDPOINTS and isinstance(lookup, dict):
        yield (
            UseScope(endpoint_name, LOOKUP, _mode(lookup), True, _has_item_template(lookup)),
            f"{base}.lookup",
            lookup,
        )
        create = lookup.get("create")
        if isinstance(create, dict):
            yield (
                UseScope(endpoint_name, CREATE, _mode(create), True, _has_item_template(create)),
                f"{base}.lookup.create",
                create,
            )
    find = endpoint.get("find")
    if endpoint_name == CREATE_LIST and isinstance(find, dict):
        yield UseScope(endpoint_name, FIND), f"{base}.find", find


def request_templates(
    scope: UseScope, path: str, settings: dict[str, Any]
) -> Iterator[tuple[str, str, str]]:
    """(part, path, text) for every template string of one request, in document order."""
    if isinstance(settings.get("url"), str):
        yield URL, f"{path}.url", settings["url"]
    headers = settings.get("headers")
    if isinstance(headers, dict):
        for name, value in headers.items():
            if isinstance(value, str):
                yield HEADERS, f"{path}.headers.{name}", value
    if isinstance(settings.get("payload"), str):
        yield PAYLOAD, f"{path}.payload", settings["payload"]
    if (
        scope.endpoint in BATCH_ENDPOINTS
        and scope.request != FIND
        and isinstance(settings.get("item_template"), str)
    ):
        yield ITEM_TEMPLATE, f"{path}.item_template", settings["item_template"]
    if scope.request == LOOKUP and isinstance(settings.get("key"), str):
        yield KEY, f"{path}.key", settings["key"]
    if scope.request == FIND and isinstance(settings.get("match"), str):
        yield MATCH, f"{path}.match", settings["match"]


def endpoint_templates(endpoint_name: str, endpoint: Any) -> Iterator[tuple[str, str, str]]:
    """(part, path, text) for every template string of an endpoint's own request."""
    if not isinstance(endpoint, dict):
        return
    for scope, path, settings in request_scopes(endpoint_name, endpoint):
        if scope.request == MAIN:
            yield from request_templates(scope, path, settings)


def collect_auth_references(doc: Any) -> list[VariableUse]:
    """The variables every auth settings object reads: the integration's, then each
    per-endpoint override (version 2), in document order."""
    if not isinstance(doc, dict):
        return []
    uses = auth_variable_references(doc.get("auth"))
    endpoints = doc.get("endpoints")
    if not isinstance(endpoints, dict):
        return uses
    for name in ENDPOINT_ORDER:
        for scope, path, settings in request_scopes(name, endpoints.get(name)):
            if "auth" in settings:
                uses += auth_variable_references(settings["auth"], path=f"{path}.auth", scope=scope)
    return uses


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
        for scope, path, settings in request_scopes(name, endpoints.get(name)):
            use_scope = scope if scope != UseScope(name) else None
            for part, template_path, text in request_templates(scope, path, settings):
                if len(text) > MAX_TEMPLATE_LENGTH:
                    continue  # refused as a whole by the checks; scanning it would be wasted
                placeholders, _ = scan_placeholders(text)
                uses.extend(_uses(placeholders, name, part, template_path, use_scope))
            if "auth" in settings:
                uses += auth_variable_references(settings["auth"], path=f"{path}.auth", scope=scope)
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
    where = "the auth header" if use.endpoint is None else f"{use.endpoint} {use.part_path}"
    scope = use.effective_scope()
    if declaration is not None:
        if declaration.source == "mapping_field" and not (
            use.part != AUTH and _user_part(scope, use.part)
        ):
            return (
                VARIABLE_NOT_AVAILABLE,
                f"${name} is a mapping field: it holds one user's value, so it can only be "
                "used in an item template, a lookup key, or a request sent per user",
            )
        return None
    predefined = PREDEFINED_VARIABLES.get(name)
    if predefined is not None:
        if predefined_is_available(name, use.endpoint, use.part, scope):
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


def missing_value_note(field: Any, *, mapping: bool) -> str:
    """What a field's `if_missing` means, in a sentence for the Connect modal ("" when
    the field has none or it changes nothing the end user should know)."""
    if not isinstance(field, dict):
        return ""
    action = field.get("if_missing")
    if mapping:
        notes = {
            "skip": "Users without this property are not sent; they are counted as skipped.",
            "omit": "Users without this property are sent without it.",
            "null": "Users without this property are sent with an empty value (null).",
            "default": f"Users without this property are sent {field.get('default')!r}.",
        }
    else:
        notes = {
            "omit": "Left empty, it is not sent at all.",
            "null": "Left empty, an empty value (null) is sent.",
        }
    return notes.get(action, "") if isinstance(action, str) else ""
