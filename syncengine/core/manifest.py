"""The integration manifest (DESIGN §4): validation, normalisation, canonical JSON.

`check_manifest` never raises: any JSON value gives a list of `Diagnostic`s, each with
the dotted path of the field (`endpoints.add_users.batch_size`, `custom_fields.1.variable`)
and, inside templates, the 1-based line and column. It normalises first (defaults filled
in), then checks structure, every template (§5 static checks) and every variable use.

`normalize_manifest` and `canonical_json` make export -> import -> export byte-identical:
known keys in the documented order with defaults filled in, unknown keys kept (sorted,
after the known ones) so that nothing a partner wrote is silently dropped.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from syncengine.core.jsonpath import PathSyntaxError, parse_path
from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.json_parser import parse_json_template
from syncengine.core.template.placeholders import (
    MAX_TEMPLATE_LENGTH,
    Placeholder,
    scan_placeholders,
)
from syncengine.core.template.text import (
    HeaderTemplate,
    UrlTemplate,
    check_header_value_text,
    is_http_token,
)
from syncengine.core.types import Diagnostic

MANIFEST_VERSION = 1
MIN_BATCH_SIZE = 1
MAX_BATCH_SIZE = 10_000
DEFAULT_BATCH_SIZE = MAX_BATCH_SIZE
MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 4
MAX_REQUESTS_PER_SECOND = 10_000
# One request every 100 s at the slowest: a run waiting longer between requests would look
# to the platform like one whose worker went away.
MIN_REQUESTS_PER_SECOND = 0.01
DEFAULT_LIST_ID_PATH = "listId"
MAX_DISPLAY_NAME_LENGTH = 100
MAX_HELP_TEXT_LENGTH = 1_000
MAX_VARIABLE_NAME_LENGTH = 64
MAX_FIELDS = 100
MAX_OPTIONS = 500
MAX_HEADERS = 50
MAX_ERROR_CLASSIFICATIONS = 200
MIN_ERROR_STATUS = 400
MAX_ERROR_STATUS = 599

INTEGRATION_TYPES = ("list", "property")
CREATE_LIST, ADD_USERS, REMOVE_USERS, UPDATE_USERS = (
    "create_list",
    "add_users",
    "remove_users",
    "update_users",
)
ENDPOINT_ORDER = (CREATE_LIST, ADD_USERS, REMOVE_USERS, UPDATE_USERS)
BATCH_ENDPOINTS = frozenset({ADD_USERS, REMOVE_USERS, UPDATE_USERS})
REQUIRED_ENDPOINTS = {
    "list": (CREATE_LIST, ADD_USERS, REMOVE_USERS),
    "property": (UPDATE_USERS,),
}
ENDPOINT_METHODS = {
    CREATE_LIST: ("POST", "PATCH", "PUT"),
    ADD_USERS: ("POST", "PUT", "PATCH", "DELETE"),
    REMOVE_USERS: ("POST", "PUT", "PATCH", "DELETE"),
    UPDATE_USERS: ("POST", "PUT", "PATCH", "DELETE"),
}
AUTH_METHODS = ("none", "basic", "bearer", "api_key_header")
CUSTOM_FIELD_TYPES = ("string", "single_select", "button_group")
MAPPING_FIELD_TYPES = ("string", "single_select")
SELECT_TYPES = frozenset({"single_select", "button_group"})
ERROR_ACTIONS = ("retry", "fail", "ignore")
DEFAULT_CONTENT_TYPE = "application/json"
URL_SAMPLE_VALUE = "1"

# Where a variable can be used. "auth" is the api_key_header value template.
URL, HEADERS, PAYLOAD, ITEM_TEMPLATE, AUTH = "url", "headers", "payload", "item_template", "auth"
TEMPLATE_PARTS = (URL, HEADERS, PAYLOAD, ITEM_TEMPLATE)
Part = Literal["url", "headers", "payload", "item_template", "auth"]

VARIABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")

# Headers the HTTP client or the platform sets; a partner value would conflict with them.
PLATFORM_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "idempotency-key",
        "user-agent",
    }
)

# Diagnostic codes, stable for the UI and the API.
INVALID_TYPE = "invalid_type"
REQUIRED = "required"
UNKNOWN_KEY = "unknown_key"
INVALID_VALUE = "invalid_value"
UNSUPPORTED_VERSION = "unsupported_version"
TOO_MANY = "too_many"
INVALID_VARIABLE_NAME = "invalid_variable_name"
RESERVED_VARIABLE = "reserved_variable"
DUPLICATE_VARIABLE = "duplicate_variable"
INVALID_OPTIONS = "invalid_options"
MISSING_ENDPOINT = "missing_endpoint"
UNEXPECTED_ENDPOINT = "unexpected_endpoint"
INVALID_METHOD = "invalid_method"
INVALID_URL = "invalid_url"
INVALID_HEADER_NAME = "invalid_header_name"
INVALID_HEADER_VALUE = "invalid_header_value"
RESERVED_HEADER = "reserved_header"
DUPLICATE_HEADER = "duplicate_header"
INVALID_JSON = "invalid_json"
INVALID_PLACEHOLDER = "invalid_placeholder"
MISSING_ITEMS = "missing_items"
MISSING_ITEM_TEMPLATE = "missing_item_template"
INVALID_BATCH_SIZE = "invalid_batch_size"
INVALID_LIST_ID_PATH = "invalid_list_id_path"
INVALID_SUB_CODE_PATH = "invalid_sub_code_path"
DUPLICATE_ERROR_CLASSIFICATION = "duplicate_error_classification"
AUTH_VARIABLE_MISSING = "auth_variable_missing"
UNDECLARED_VARIABLE = "undeclared_variable"
VARIABLE_NOT_AVAILABLE = "variable_not_available"
UNUSED_VARIABLE = "unused_variable"
ITEM_WITHOUT_USER_DATA = "item_without_user_data"
NUL_CHARACTER = "nul_character"

NUL = "\x00"
NUL_MESSAGE = "text must not contain the NUL character (\\u0000)"


# --------------------------------------------------------------------------------------
# Pre-defined variables


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


# --------------------------------------------------------------------------------------
# The NUL character

JsonPath = tuple[str | int, ...]


def find_nul(value: Any) -> JsonPath | None:
    """The path (object keys and list indices) to the first string or object key, in
    document order, that contains the NUL character U+0000; None when there is none.

    PostgreSQL can store U+0000 neither in text nor in jsonb, so such input has to be
    refused with its location before it reaches the database. The walk is iterative, so
    any nesting the JSON decoder accepted is fine here.
    """
    # Each entry: (path, value, whether the last key of the path itself contains NUL).
    pending: list[tuple[JsonPath, Any, bool]] = [((), value, False)]
    while pending:
        path, item, bad_key = pending.pop()
        if bad_key or (isinstance(item, str) and NUL in item):
            return path
        if isinstance(item, dict):
            children = [
                ((*path, key), child, isinstance(key, str) and NUL in key)
                for key, child in item.items()
            ]
        elif isinstance(item, list | tuple):
            children = [((*path, index), child, False) for index, child in enumerate(item)]
        else:
            continue
        pending.extend(reversed(children))
    return None


def shown_key(key: str | int) -> str:
    """A path step as text, with NUL written as the escape a JSON author would type."""
    return str(key).replace(NUL, "\\u0000")


def dotted_path(path: JsonPath) -> str:
    """A `find_nul` path in the dotted form of `Diagnostic.path` (`custom_fields.0.variable`)."""
    return ".".join(shown_key(key) for key in path)


def nul_diagnostic(doc: Any) -> Diagnostic | None:
    """The error for the first text in `doc` containing NUL, or None."""
    path = find_nul(doc)
    if path is None:
        return None
    return Diagnostic("error", NUL_CHARACTER, NUL_MESSAGE, dotted_path(path))


# --------------------------------------------------------------------------------------
# Errors and loading


class ManifestError(ValueError):
    """A manifest that cannot be used; `diagnostics` says why and where."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.is_error] or diagnostics
        summary = "; ".join(f"{d.path or '(manifest)'}: {d.message}" for d in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"invalid manifest: {summary}{more}")


def load_manifest(data: str | bytes) -> Any:
    """Decode a manifest's JSON text, refusing duplicate keys and NaN/Infinity.

    Raises `ManifestError` with the line and column of a syntax error. The result is not
    checked: pass it to `check_manifest`.
    """

    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = value
        return result

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as error:
        raise ManifestError(
            [Diagnostic("error", INVALID_JSON, f"the file is not UTF-8 text: {error}", "")]
        ) from None
    try:
        return json.loads(text, object_pairs_hook=refuse_duplicates, parse_constant=refuse_constant)
    except json.JSONDecodeError as error:
        raise ManifestError(
            [Diagnostic("error", INVALID_JSON, error.msg, "", error.lineno, error.colno)]
        ) from None
    except (ValueError, RecursionError) as error:
        raise ManifestError([Diagnostic("error", INVALID_JSON, str(error), "")]) from None


# --------------------------------------------------------------------------------------
# Normalisation

TOP_LEVEL_KEYS = (
    "manifest_version",
    "display_name",
    "logo_png_base64",
    "integration_type",
    "slugify_cohort_name",
    "auth",
    "custom_fields",
    "mapping_fields",
    "endpoints",
    "delivery",
)
AUTH_KEYS = {
    "none": ("method",),
    "basic": ("method", "username_variable", "password_variable"),
    "bearer": ("method", "token_variable"),
    "api_key_header": ("method", "header_name", "value_template"),
}
AUTH_DEFAULTS: dict[str, Any] = {
    "username_variable": "api_key",
    "password_variable": "secret_key",
    "token_variable": "bearer_token",
    "header_name": "X-API-Key",
    "value_template": "$api_key",
}
CUSTOM_FIELD_KEYS = (
    "variable",
    "display_name",
    "type",
    "required",
    "secret",
    "help_text",
    "options",
    "default",
)
CUSTOM_FIELD_DEFAULTS: dict[str, Any] = {
    "type": "string",
    "required": False,
    "secret": False,
    "help_text": "",
    "default": None,
}
MAPPING_FIELD_KEYS = ("variable", "display_name", "type", "required", "help_text", "options")
# A mapping field says where each user's identifier comes from; without an answer every
# item would carry null, so mapping fields are required unless the partner says otherwise.
MAPPING_FIELD_DEFAULTS: dict[str, Any] = {"type": "string", "required": True, "help_text": ""}
OPTION_KEYS = ("value", "label")
ENDPOINT_KEYS = {
    CREATE_LIST: ("method", "url", "headers", "payload", "list_id_path", "errors"),
    ADD_USERS: ("method", "url", "headers", "payload", "item_template", "batch_size", "errors"),
    REMOVE_USERS: (
        "method",
        "url",
        "headers",
        "payload",
        "item_template",
        "batch_size",
        "errors",
    ),
    UPDATE_USERS: (
        "method",
        "url",
        "headers",
        "payload",
        "item_template",
        "batch_size",
        "errors",
    ),
}
ENDPOINT_DEFAULTS: dict[str, Any] = {
    "method": "POST",
    "headers": {},
    "payload": "",
    "item_template": "",
    "batch_size": DEFAULT_BATCH_SIZE,
    "list_id_path": DEFAULT_LIST_ID_PATH,
    "errors": [],
}
ERROR_KEYS = ("status", "sub_code", "sub_code_path", "reason", "message", "action")
ERROR_DEFAULTS: dict[str, Any] = {
    "sub_code": None,
    "sub_code_path": None,
    "reason": "",
    "message": "",
    "action": "fail",
}
DELIVERY_KEYS = ("max_concurrency", "requests_per_second", "sign_requests")
DELIVERY_DEFAULTS: dict[str, Any] = {
    "max_concurrency": MAX_CONCURRENCY,
    "requests_per_second": None,
    "sign_requests": False,
}
TOP_LEVEL_DEFAULTS: dict[str, Any] = {
    "manifest_version": MANIFEST_VERSION,
    "logo_png_base64": None,
    "slugify_cohort_name": False,
    "auth": {"method": "none"},
    "custom_fields": [],
    "mapping_fields": [],
    "endpoints": {},
    "delivery": DELIVERY_DEFAULTS,
}


def _ordered(
    obj: dict[Any, Any],
    keys: tuple[str, ...],
    defaults: dict[str, Any],
    normalizers: dict[str, Callable[[Any], Any]] | None = None,
) -> dict[Any, Any]:
    """Known keys in order (defaults filled in), then unknown keys sorted."""
    normalizers = normalizers or {}
    result: dict[Any, Any] = {}
    for key in keys:
        if key in obj:
            value = obj[key]
        elif key in defaults:
            value = defaults[key]
        else:
            continue
        normalize = normalizers.get(key)
        result[key] = normalize(value) if normalize else copy.deepcopy(value)
    for key in sorted((key for key in obj if key not in keys), key=str):
        result[key] = copy.deepcopy(obj[key])
    return result


def _normalize_list(items: Any, normalize_item: Callable[[Any], Any]) -> Any:
    if not isinstance(items, list):
        return copy.deepcopy(items)
    return [normalize_item(item) for item in items]


def _normalize_option(option: Any) -> Any:
    if not isinstance(option, dict):
        return copy.deepcopy(option)
    defaults = {"label": option["value"]} if isinstance(option.get("value"), str) else {}
    return _ordered(option, OPTION_KEYS, defaults)


def _normalize_custom_field(field: Any) -> Any:
    if not isinstance(field, dict):
        return copy.deepcopy(field)
    normalized = _ordered(
        field,
        CUSTOM_FIELD_KEYS,
        CUSTOM_FIELD_DEFAULTS,
        {"options": lambda options: _normalize_list(options, _normalize_option)},
    )
    return _settle_options(normalized, SELECT_TYPES)


def _normalize_mapping_field(field: Any) -> Any:
    if not isinstance(field, dict):
        return copy.deepcopy(field)
    normalized = _ordered(field, MAPPING_FIELD_KEYS, MAPPING_FIELD_DEFAULTS)
    return _settle_options(normalized, frozenset({"single_select"}))


def _settle_options(field: dict[Any, Any], select_types: frozenset[str]) -> dict[Any, Any]:
    """Select fields always carry `options`; other fields carry them only if non-empty.

    An empty `options` left over on a string field means nothing, so it is dropped; a
    non-empty one is kept for `check_manifest` to report.
    """
    if _is_one_of(field.get("type"), select_types):
        if "options" not in field:
            keys = list(field)
            position = keys.index("default") if "default" in keys else len(keys)
            items = list(field.items())
            items.insert(position, ("options", []))
            return dict(items)
        return field
    if field.get("options") == []:
        del field["options"]
    return field


def _normalize_auth(auth: Any) -> Any:
    if not isinstance(auth, dict):
        return copy.deepcopy(auth)
    method = auth.get("method")
    keys = AUTH_KEYS.get(method, ("method",)) if isinstance(method, str) else ("method",)
    return _ordered(auth, keys, AUTH_DEFAULTS)


def _normalize_error(error: Any) -> Any:
    if not isinstance(error, dict):
        return copy.deepcopy(error)
    return _ordered(error, ERROR_KEYS, ERROR_DEFAULTS)


def _normalize_endpoint(name: str, endpoint: Any) -> Any:
    if not isinstance(endpoint, dict):
        return copy.deepcopy(endpoint)
    return _ordered(
        endpoint,
        ENDPOINT_KEYS[name],
        ENDPOINT_DEFAULTS,
        {"errors": lambda errors: _normalize_list(errors, _normalize_error)},
    )


def _normalize_endpoints(endpoints: Any) -> Any:
    if not isinstance(endpoints, dict):
        return copy.deepcopy(endpoints)
    result: dict[Any, Any] = {}
    for name in ENDPOINT_ORDER:
        if name in endpoints:
            result[name] = _normalize_endpoint(name, endpoints[name])
    for name in sorted((key for key in endpoints if key not in ENDPOINT_ORDER), key=str):
        result[name] = copy.deepcopy(endpoints[name])
    return result


def _normalize_delivery(delivery: Any) -> Any:
    if not isinstance(delivery, dict):
        return copy.deepcopy(delivery)
    return _ordered(delivery, DELIVERY_KEYS, DELIVERY_DEFAULTS)


_TOP_LEVEL_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "auth": _normalize_auth,
    "custom_fields": lambda fields: _normalize_list(fields, _normalize_custom_field),
    "mapping_fields": lambda fields: _normalize_list(fields, _normalize_mapping_field),
    "endpoints": _normalize_endpoints,
    "delivery": _normalize_delivery,
}


def normalize_manifest(doc: dict[str, Any]) -> dict[str, Any]:
    """A new manifest with defaults filled in and keys in the documented order.

    Total on any dict: values of the wrong type are kept as they are (for
    `check_manifest` to report) and unknown keys are kept, sorted after the known ones.
    Idempotent: normalising a normalised manifest changes nothing.
    """
    if not isinstance(doc, dict):
        raise ManifestError([_not_an_object()])
    return _ordered(doc, TOP_LEVEL_KEYS, TOP_LEVEL_DEFAULTS, _TOP_LEVEL_NORMALIZERS)


def canonical_json(doc: dict[str, Any]) -> bytes:
    """The manifest's canonical text: normalised, 2-space indent, trailing newline.

    Non-ASCII text is written as is; only if the manifest holds a lone surrogate (which
    UTF-8 cannot carry) is the whole document ASCII-escaped, so that the output is always
    valid UTF-8 and always the same for the same manifest. Raises `ValueError` for values
    JSON cannot represent (NaN, infinities), which `load_manifest` never produces.
    """
    normalized = normalize_manifest(doc)
    text = json.dumps(normalized, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        ascii_text = json.dumps(normalized, indent=2, ensure_ascii=True, allow_nan=False)
        return (ascii_text + "\n").encode("ascii")


def copy_error_classifications(
    doc: dict[str, Any], *, source: str, target: str, replace: bool = False
) -> dict[str, Any]:
    """A new manifest where `target` has `source`'s error classifications.

    By default they are merged: a classification is added unless the target already
    classifies the same (status, sub_code). With `replace=True` the target's list becomes
    a copy of the source's. Raises `KeyError` if either endpoint is missing.
    """
    manifest = normalize_manifest(doc)
    endpoints = manifest.get("endpoints")
    if not isinstance(endpoints, dict):
        raise KeyError("endpoints")
    for name in (source, target):
        if not isinstance(endpoints.get(name), dict):
            raise KeyError(name)
    copied = [e for e in endpoints[source].get("errors", []) if isinstance(e, dict)]
    existing = endpoints[target].get("errors")
    if replace or not isinstance(existing, list):
        endpoints[target]["errors"] = copy.deepcopy(copied)
        return manifest
    seen = {(e.get("status"), e.get("sub_code")) for e in existing if isinstance(e, dict)}
    for error in copied:
        if (error.get("status"), error.get("sub_code")) not in seen:
            existing.append(copy.deepcopy(error))
    return manifest


def default_auth(method: str) -> dict[str, Any]:
    """The normalised `auth` object for `method` with its default variable names."""
    if method not in AUTH_KEYS:
        raise ValueError(f"unknown auth method {method!r}; expected one of {AUTH_METHODS}")
    return _normalize_auth({"method": method})


def default_auth_fields(method: str) -> list[dict[str, Any]]:
    """The custom fields an auth method declares by default (the editor adds them).

    basic: `api_key` (required) and `secret_key` (optional); bearer: `bearer_token`;
    api_key_header: `api_key`; none: nothing. All are secret.
    """
    fields = {
        "none": [],
        "basic": [("api_key", "API Key", True), ("secret_key", "Secret Key", False)],
        "bearer": [("bearer_token", "Bearer Token", True)],
        "api_key_header": [("api_key", "API Key", True)],
    }
    if method not in fields:
        raise ValueError(f"unknown auth method {method!r}; expected one of {AUTH_METHODS}")
    return [
        _normalize_custom_field(
            {"variable": variable, "display_name": label, "required": required, "secret": True}
        )
        for variable, label, required in fields[method]
    ]


def starter_manifest(integration_type: str, display_name: str = "") -> dict[str, Any]:
    """A normalised skeleton for a new draft: the endpoints its type needs, bearer auth.

    It is deliberately incomplete (no URLs yet), so `check_manifest` guides the partner.
    """
    if integration_type not in REQUIRED_ENDPOINTS:
        raise ValueError(f"integration_type must be one of {INTEGRATION_TYPES}")
    endpoints: dict[str, Any] = {}
    for name in REQUIRED_ENDPOINTS[integration_type]:
        endpoint: dict[str, Any] = {"url": "https://"}
        if name in BATCH_ENDPOINTS:
            endpoint["payload"] = '{"users": $items}'
        endpoints[name] = endpoint
    return normalize_manifest(
        {
            "display_name": display_name,
            "integration_type": integration_type,
            "auth": default_auth("bearer"),
            "custom_fields": default_auth_fields("bearer"),
            "endpoints": endpoints,
        }
    )


# --------------------------------------------------------------------------------------
# Declarations and uses (shared with the variable tracker and the compiler)


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


# --------------------------------------------------------------------------------------
# Checking


def _not_an_object() -> Diagnostic:
    return Diagnostic("error", INVALID_TYPE, "a manifest must be a JSON object", "")


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _describe(value: Any) -> str:
    names = {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """A short rendering of a value for a message, whatever its size or depth."""
    if isinstance(value, str):
        return json.dumps(value[:40] + ("..." if len(value) > 40 else ""))
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return _describe(value)


def _is_one_of(value: Any, choices: frozenset[str] | set[str]) -> bool:
    """`value in choices` for any JSON value (a list or an object is unhashable)."""
    return isinstance(value, str) and value in choices


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _ManifestChecker:
    """Collects the diagnostics of one normalised manifest."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.diagnostics: list[Diagnostic] = []
        self.declared: dict[str, Declaration] = {}
        self.integration_type: str | None = None
        self.auth_header_name: str | None = None

    def error(
        self,
        path: str,
        code: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.diagnostics.append(Diagnostic("error", code, message, path, line, column))

    def warning(self, path: str, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic("warning", code, message, path))

    def template_error(self, path: str, error: TemplateSyntaxError, code: str) -> None:
        self.error(path, error.code or code, error.message, error.line, error.column)

    # -- generic shapes

    def unknown_keys(self, obj: dict[Any, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in obj:
            if key not in allowed:
                expected = ", ".join(allowed)
                self.error(
                    _join(path, str(key)), UNKNOWN_KEY, f"unknown key (expected: {expected})"
                )

    def require(self, obj: dict[str, Any], key: str, path: str) -> bool:
        if key in obj:
            return True
        self.error(_join(path, key), REQUIRED, f"{key} is required")
        return False

    def check_type(self, value: Any, expected: type | tuple[type, ...], path: str) -> bool:
        ok = isinstance(value, expected) and not (
            isinstance(value, bool) and bool not in _as_tuple(expected)
        )
        if not ok:
            names = " or ".join(_describe(example) for example in _examples(expected))
            self.error(path, INVALID_TYPE, f"must be {names}, not {_describe(value)}")
        return ok

    def check_text(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool, max_length: int
    ) -> None:
        if key not in obj:
            if required:
                self.require(obj, key, path)
            return
        field_path = _join(path, key)
        value = obj[key]
        if not self.check_type(value, str, field_path):
            return
        if required and not value.strip():
            self.error(field_path, REQUIRED, f"the {key.replace('_', ' ')} cannot be empty")
        elif len(value) > max_length:
            self.error(field_path, INVALID_VALUE, f"must be at most {max_length} characters")

    def check_choice(
        self, obj: dict[str, Any], key: str, choices: tuple[str, ...], path: str, code: str
    ) -> str | None:
        if not self.require(obj, key, path):
            return None
        value = obj[key]
        if value in choices and isinstance(value, str):
            return value
        self.error(
            _join(path, key),
            code,
            f"must be one of {', '.join(choices)}, not {_shown(value)}",
        )
        return None

    # -- the manifest

    def run(self) -> list[Diagnostic]:
        doc = self.doc
        self.unknown_keys(doc, TOP_LEVEL_KEYS, "")
        version = doc.get("manifest_version")
        if version != MANIFEST_VERSION or isinstance(version, bool):
            self.error(
                "manifest_version",
                UNSUPPORTED_VERSION,
                f"manifest_version must be {MANIFEST_VERSION}",
            )
        self.check_text(doc, "display_name", "", required=True, max_length=MAX_DISPLAY_NAME_LENGTH)
        logo = doc.get("logo_png_base64")
        if logo is not None:
            self.check_type(logo, str, "logo_png_base64")
        self.integration_type = self.check_choice(
            doc, "integration_type", INTEGRATION_TYPES, "", INVALID_VALUE
        )
        self.check_type(doc.get("slugify_cohort_name"), bool, "slugify_cohort_name")
        self.check_fields("custom_fields", CUSTOM_FIELD_KEYS, CUSTOM_FIELD_TYPES)
        self.check_fields("mapping_fields", MAPPING_FIELD_KEYS, MAPPING_FIELD_TYPES)
        self.check_auth(doc.get("auth"))
        self.check_endpoints(doc.get("endpoints"))
        self.check_delivery(doc.get("delivery"))
        self.check_variable_uses()
        return self.diagnostics

    # -- fields

    def check_fields(self, key: str, allowed: tuple[str, ...], types: tuple[str, ...]) -> None:
        fields = self.doc.get(key)
        if not self.check_type(fields, list, key):
            return
        if len(fields) > MAX_FIELDS:
            self.error(key, TOO_MANY, f"at most {MAX_FIELDS} fields")
            return
        for index, field in enumerate(fields):
            path = f"{key}.{index}"
            if not self.check_type(field, dict, path):
                continue
            self.unknown_keys(field, allowed, path)
            self.check_variable_name(field, path, key)
            self.check_text(
                field, "display_name", path, required=True, max_length=MAX_DISPLAY_NAME_LENGTH
            )
            field_type = self.check_choice(field, "type", types, path, INVALID_VALUE)
            self.check_type(field.get("required"), bool, _join(path, "required"))
            self.check_text(
                field, "help_text", path, required=False, max_length=MAX_HELP_TEXT_LENGTH
            )
            if key == "custom_fields":
                self.check_custom_field_values(field, field_type, path)
            else:
                self.check_mapping_options(field, field_type, path)

    def check_variable_name(self, field: dict[str, Any], path: str, key: str) -> None:
        if not self.require(field, "variable", path):
            return
        variable_path = _join(path, "variable")
        variable = field["variable"]
        if not self.check_type(variable, str, variable_path):
            return
        if not VARIABLE_NAME.fullmatch(variable) or len(variable) > MAX_VARIABLE_NAME_LENGTH:
            named = f"{variable!r} is not a valid variable name" if variable else "no variable name"
            self.error(
                variable_path,
                INVALID_VARIABLE_NAME,
                f"{named}: use lowercase letters, digits and _, not starting with a digit, "
                f"at most {MAX_VARIABLE_NAME_LENGTH} long",
            )
            return
        if variable in PREDEFINED_VARIABLES:
            self.error(
                variable_path,
                RESERVED_VARIABLE,
                f"${variable} is a pre-defined variable; choose another name",
            )
            return
        if variable in self.declared:
            self.error(
                variable_path,
                DUPLICATE_VARIABLE,
                f"${variable} is already declared at {self.declared[variable].path}",
            )
            return
        source: Literal["custom_field", "mapping_field"] = (
            "custom_field" if key == "custom_fields" else "mapping_field"
        )
        self.declared[variable] = Declaration(variable, source, path)

    def check_custom_field_values(
        self, field: dict[str, Any], field_type: str | None, path: str
    ) -> None:
        self.check_type(field.get("secret"), bool, _join(path, "secret"))
        if field_type in SELECT_TYPES and field.get("secret") is True:
            self.error(_join(path, "secret"), INVALID_VALUE, "only string fields can be secret")
        option_values: list[str] | None = None
        options_path = _join(path, "options")
        if field_type in SELECT_TYPES:
            option_values = self.check_select_options(field.get("options"), options_path)
        elif "options" in field:
            self.error(
                options_path,
                INVALID_OPTIONS,
                "options only apply to single_select and button_group fields",
            )
        default = field.get("default")
        default_path = _join(path, "default")
        if default is None:
            return
        if field_type == "string":
            self.check_type(default, str, default_path)
        elif option_values is not None and default not in option_values:
            self.error(default_path, INVALID_VALUE, "the default must be one of the options")

    def check_select_options(self, options: Any, path: str) -> list[str] | None:
        if not self.check_type(options, list, path):
            return None
        if not options:
            self.error(path, INVALID_OPTIONS, "a select field needs at least one option")
            return None
        if len(options) > MAX_OPTIONS:
            self.error(path, TOO_MANY, f"at most {MAX_OPTIONS} options")
            return None
        values: list[str] = []
        for index, option in enumerate(options):
            option_path = f"{path}.{index}"
            if not self.check_type(option, dict, option_path):
                continue
            self.unknown_keys(option, OPTION_KEYS, option_path)
            value = option.get("value")
            if not self.require(option, "value", option_path) or not self.check_type(
                value, str, _join(option_path, "value")
            ):
                continue
            if not value:
                self.error(_join(option_path, "value"), REQUIRED, "an option value cannot be empty")
            elif value in values:
                self.error(
                    _join(option_path, "value"), INVALID_OPTIONS, f"duplicate option {value!r}"
                )
            values.append(value)
            self.check_text(
                option, "label", option_path, required=True, max_length=MAX_DISPLAY_NAME_LENGTH
            )
        return values

    def check_mapping_options(
        self, field: dict[str, Any], field_type: str | None, path: str
    ) -> None:
        options_path = _join(path, "options")
        if field_type != "single_select":
            if "options" in field:
                self.error(
                    options_path, INVALID_OPTIONS, "options only apply to single_select fields"
                )
            return
        options = field.get("options")
        if not self.check_type(options, list, options_path):
            return
        if not options:
            self.error(
                options_path, INVALID_OPTIONS, "list the user properties the end user can pick"
            )
        if len(options) > MAX_OPTIONS:
            self.error(options_path, TOO_MANY, f"at most {MAX_OPTIONS} options")
            return
        seen: set[str] = set()
        for index, option in enumerate(options):
            option_path = f"{options_path}.{index}"
            if not self.check_type(option, str, option_path):
                continue
            if not option.strip():
                self.error(option_path, INVALID_OPTIONS, "a user property name cannot be empty")
            elif option in seen:
                self.error(option_path, INVALID_OPTIONS, f"duplicate option {option!r}")
            seen.add(option)

    # -- auth

    def check_auth(self, auth: Any) -> None:
        if not self.check_type(auth, dict, "auth"):
            return
        method = self.check_choice(auth, "method", AUTH_METHODS, "auth", INVALID_VALUE)
        if method is None:
            return
        self.unknown_keys(auth, AUTH_KEYS[method], "auth")
        if method == "api_key_header":
            self.check_auth_header(auth)
            return
        for key in AUTH_KEYS[method][1:]:
            path = f"auth.{key}"
            variable = auth.get(key)
            if key == "password_variable" and variable is None:
                continue  # Basic auth without a password
            if not self.check_type(variable, str, path):
                continue
            declaration = self.declared.get(variable)
            if declaration is None and key == "password_variable":
                # The password is optional: a partner who deleted the field sends none.
                self.warning(
                    path,
                    AUTH_VARIABLE_MISSING,
                    f"no custom field declares ${variable}, so Basic auth sends an empty "
                    "password (set password_variable to null to say so)",
                )
            elif declaration is None or declaration.source != "custom_field":
                self.error(
                    path,
                    AUTH_VARIABLE_MISSING,
                    f"{method} auth reads ${variable}, but no custom field declares it",
                )

    def check_auth_header(self, auth: dict[str, Any]) -> None:
        name = auth.get("header_name")
        if self.check_type(name, str, "auth.header_name"):
            self.check_header_name(name, "auth.header_name")
            self.auth_header_name = name.lower()
        template = auth.get("value_template")
        if self.check_type(template, str, "auth.value_template"):
            self.check_header_template(template, "auth.value_template")

    # -- endpoints

    def check_endpoints(self, endpoints: Any) -> None:
        if not self.check_type(endpoints, dict, "endpoints"):
            return
        for name in endpoints:
            if name not in ENDPOINT_ORDER:
                self.error(
                    _join("endpoints", str(name)),
                    UNKNOWN_KEY,
                    f"unknown endpoint (expected: {', '.join(ENDPOINT_ORDER)})",
                )
        if self.integration_type is not None:
            required = REQUIRED_ENDPOINTS[self.integration_type]
            for name in ENDPOINT_ORDER:
                path = f"endpoints.{name}"
                if name in required and name not in endpoints:
                    self.error(
                        path,
                        MISSING_ENDPOINT,
                        f"a {self.integration_type}-based integration needs {name}",
                    )
                elif name not in required and name in endpoints:
                    self.error(
                        path,
                        UNEXPECTED_ENDPOINT,
                        f"a {self.integration_type}-based integration has no {name}",
                    )
        for name in ENDPOINT_ORDER:
            if name in endpoints:
                self.check_endpoint(name, endpoints[name])

    def check_endpoint(self, name: str, endpoint: Any) -> None:
        path = f"endpoints.{name}"
        if not self.check_type(endpoint, dict, path):
            return
        self.unknown_keys(endpoint, ENDPOINT_KEYS[name], path)
        method = endpoint.get("method")
        if method not in ENDPOINT_METHODS[name] or not isinstance(method, str):
            self.error(
                f"{path}.method",
                INVALID_METHOD,
                f"{name} must use {', '.join(ENDPOINT_METHODS[name])}, not {_shown(method)}",
            )
        if self.require(endpoint, "url", path) and self.check_type(
            endpoint["url"], str, f"{path}.url"
        ):
            self.check_url(endpoint["url"], f"{path}.url")
        headers = endpoint.get("headers")
        if self.check_type(headers, dict, f"{path}.headers"):
            self.check_headers(headers, f"{path}.headers")
        self.check_payload(name, endpoint.get("payload"), f"{path}.payload")
        if name in BATCH_ENDPOINTS:
            self.check_item_template(endpoint.get("item_template"), f"{path}.item_template")
            self.check_batch_size(endpoint.get("batch_size"), f"{path}.batch_size")
        else:
            self.check_list_id_path(endpoint.get("list_id_path"), f"{path}.list_id_path")
        self.check_error_classifications(endpoint.get("errors"), f"{path}.errors")

    def check_url(self, url: str, path: str) -> None:
        if not url.strip():
            self.error(path, REQUIRED, "the URL is required")
            return
        try:
            template = UrlTemplate(url)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_URL)
            return
        # A sample value that is valid in every part (host label, port, path, query) shows
        # whether the rest of the URL can ever be valid.
        sample = {placeholder.name: URL_SAMPLE_VALUE for placeholder in template.placeholders}
        try:
            template.render(sample)
        except RenderError as error:
            self.error(path, INVALID_URL, error.message)

    def check_header_name(self, name: str, path: str) -> None:
        if not is_http_token(name):
            self.error(
                path,
                INVALID_HEADER_NAME,
                f"{name!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)",
            )
        elif name.lower() in PLATFORM_HEADERS:
            self.error(path, RESERVED_HEADER, f"{name} is set by the platform")

    def check_header_template(self, template: str, path: str) -> None:
        try:
            HeaderTemplate(template)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_HEADER_VALUE)
            return
        problem = check_header_value_text(template)
        if problem:
            offset = next(
                index
                for index, character in enumerate(template)
                if check_header_value_text(character)
            )
            self.error(path, INVALID_HEADER_VALUE, f"the header value {problem}", 1, offset + 1)

    def check_headers(self, headers: dict[Any, Any], path: str) -> None:
        if len(headers) > MAX_HEADERS:
            self.error(path, TOO_MANY, f"at most {MAX_HEADERS} headers")
            return
        seen: dict[str, str] = {}
        auth = self.doc.get("auth")
        auth_method = auth.get("method") if isinstance(auth, dict) else None
        for name, value in headers.items():
            header_path = _join(path, str(name))
            if not isinstance(name, str):
                self.error(header_path, INVALID_HEADER_NAME, "a header name must be a string")
                continue
            self.check_header_name(name, header_path)
            lowered = name.lower()
            if lowered in seen:
                self.error(
                    header_path, DUPLICATE_HEADER, f"{name} is already set as {seen[lowered]}"
                )
            seen[lowered] = name
            if lowered == self.auth_header_name or (
                lowered == "authorization" and _is_one_of(auth_method, {"basic", "bearer"})
            ):
                self.error(
                    header_path, RESERVED_HEADER, f"{name} is already set by the auth settings"
                )
            if self.check_type(value, str, header_path):
                self.check_header_template(value, header_path)

    def check_payload(self, name: str, payload: Any, path: str) -> None:
        if not self.check_type(payload, str, path):
            return
        if not payload.strip():
            if name in BATCH_ENDPOINTS:
                self.error(path, MISSING_ITEMS, "the payload is empty; it must contain $items")
            return
        try:
            parsed = parse_json_template(payload)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_JSON)
            return
        if name in BATCH_ENDPOINTS and not any(
            placeholder.name == "items" for placeholder in parsed.placeholders
        ):
            self.error(
                path, MISSING_ITEMS, "a batch payload must contain $items (the batch's items)"
            )

    def check_item_template(self, template: Any, path: str) -> None:
        if not self.check_type(template, str, path):
            return
        if not template.strip():
            self.error(path, MISSING_ITEM_TEMPLATE, "the item template (one user) is required")
            return
        try:
            parsed = parse_json_template(template)
        except TemplateSyntaxError as error:
            self.template_error(path, error, INVALID_JSON)
            return
        mapping_variables = {
            declaration.variable
            for declaration in self.declared.values()
            if declaration.source == "mapping_field"
        }
        if not any(placeholder.name in mapping_variables for placeholder in parsed.placeholders):
            self.warning(
                path,
                ITEM_WITHOUT_USER_DATA,
                "the item template uses no mapping field, so every item will be the same",
            )

    def check_batch_size(self, batch_size: Any, path: str) -> None:
        if not _is_int(batch_size) or not MIN_BATCH_SIZE <= batch_size <= MAX_BATCH_SIZE:
            self.error(
                path,
                INVALID_BATCH_SIZE,
                f"batch_size must be a whole number from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE}",
            )

    def check_list_id_path(self, list_id_path: Any, path: str) -> None:
        if not self.check_type(list_id_path, str, path):
            return
        try:
            parse_path(list_id_path)
        except PathSyntaxError as error:
            self.error(path, INVALID_LIST_ID_PATH, f"invalid path: {error}")

    def check_error_classifications(self, errors: Any, path: str) -> None:
        if not self.check_type(errors, list, path):
            return
        if len(errors) > MAX_ERROR_CLASSIFICATIONS:
            self.error(path, TOO_MANY, f"at most {MAX_ERROR_CLASSIFICATIONS} classifications")
            return
        seen: dict[tuple[Any, Any], int] = {}
        for index, error in enumerate(errors):
            error_path = f"{path}.{index}"
            if not self.check_type(error, dict, error_path):
                continue
            self.unknown_keys(error, ERROR_KEYS, error_path)
            status = error.get("status")
            if self.require(error, "status", error_path) and (
                not _is_int(status) or not MIN_ERROR_STATUS <= status <= MAX_ERROR_STATUS
            ):
                self.error(
                    f"{error_path}.status",
                    INVALID_VALUE,
                    f"status must be an HTTP error status from {MIN_ERROR_STATUS} to "
                    f"{MAX_ERROR_STATUS}",
                )
            sub_code = error.get("sub_code")
            sub_code_path = error.get("sub_code_path")
            if sub_code is not None:
                self.check_type(sub_code, str, f"{error_path}.sub_code")
            if sub_code_path is not None and self.check_type(
                sub_code_path, str, f"{error_path}.sub_code_path"
            ):
                try:
                    parse_path(sub_code_path)
                except PathSyntaxError as problem:
                    self.error(
                        f"{error_path}.sub_code_path",
                        INVALID_SUB_CODE_PATH,
                        f"invalid path: {problem}",
                    )
            if sub_code is not None and sub_code_path is None:
                self.error(
                    f"{error_path}.sub_code_path",
                    REQUIRED,
                    "say where the sub-code is in the response body (e.g. error.code)",
                )
            elif sub_code is None and sub_code_path is not None:
                self.error(
                    f"{error_path}.sub_code",
                    REQUIRED,
                    "give the sub-code to match, or remove sub_code_path",
                )
            for key in ("reason", "message"):
                self.check_text(error, key, error_path, required=False, max_length=1_000)
            self.check_choice(error, "action", ERROR_ACTIONS, error_path, INVALID_VALUE)
            identity = (status, sub_code)
            if _is_hashable(identity):
                if identity in seen:
                    self.error(
                        error_path,
                        DUPLICATE_ERROR_CLASSIFICATION,
                        f"status {status} with sub-code {sub_code!r} is already classified "
                        f"at {path}.{seen[identity]}",
                    )
                else:
                    seen[identity] = index

    # -- delivery

    def check_delivery(self, delivery: Any) -> None:
        if not self.check_type(delivery, dict, "delivery"):
            return
        self.unknown_keys(delivery, DELIVERY_KEYS, "delivery")
        concurrency = delivery.get("max_concurrency")
        if not _is_int(concurrency) or not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY:
            self.error(
                "delivery.max_concurrency",
                INVALID_VALUE,
                f"max_concurrency must be a whole number from {MIN_CONCURRENCY} to "
                f"{MAX_CONCURRENCY}",
            )
        rate = delivery.get("requests_per_second")
        if rate is not None and (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not MIN_REQUESTS_PER_SECOND <= rate <= MAX_REQUESTS_PER_SECOND
        ):
            self.error(
                "delivery.requests_per_second",
                INVALID_VALUE,
                f"requests_per_second must be null (no limit) or a number from "
                f"{MIN_REQUESTS_PER_SECOND} to {MAX_REQUESTS_PER_SECOND}",
            )
        self.check_type(delivery.get("sign_requests"), bool, "delivery.sign_requests")

    # -- variables

    def check_variable_uses(self) -> None:
        used: set[str] = set()
        candidates = [*self.declared, *PREDEFINED_VARIABLES]
        for use in collect_variable_uses(self.doc):
            used.add(use.variable)
            if use.part == AUTH and use.path != "auth.value_template":
                continue  # reported by check_auth, with an auth-specific message
            message = variable_use_problem(use, self.declared, candidates)
            if message:
                code, text = message
                self.error(use.path, code, text, use.line, use.column)
        for declaration in self.declared.values():
            if declaration.variable not in used:
                self.warning(
                    f"{declaration.path}.variable",
                    UNUSED_VARIABLE,
                    f"${declaration.variable} is declared but not used in any template",
                )


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


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _examples(expected: type | tuple[type, ...]) -> list[Any]:
    samples: dict[type, Any] = {str: "", bool: True, int: 0, float: 0.0, list: [], dict: {}}
    return [samples.get(kind, kind) for kind in _as_tuple(expected)]


def _is_hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def check_manifest(doc: Any) -> list[Diagnostic]:
    """Every problem in a manifest: structure, templates (§5 static checks), variables.

    Never raises, whatever JSON value it is given. Errors block compiling and submitting;
    warnings (an unused variable, an item template without user data) do not.
    """
    if not isinstance(doc, dict):
        return [_not_an_object()]
    # Reported on the document as written, so the path is the one its author sees.
    nul = nul_diagnostic(doc)
    diagnostics = _ManifestChecker(normalize_manifest(doc)).run()
    return [nul, *diagnostics] if nul else diagnostics


def manifest_errors(doc: Any) -> list[Diagnostic]:
    """Only the error diagnostics of `check_manifest`."""
    return [diagnostic for diagnostic in check_manifest(doc) if diagnostic.is_error]
