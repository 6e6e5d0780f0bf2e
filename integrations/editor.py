"""The Part 2 editor: its form state as a manifest and back, and what its panels show.

Every input of the editor form is named by the manifest path it edits
(`custom_fields.0.variable`, `endpoints.add_users.payload`, `delivery.max_concurrency`), so
a diagnostic, which carries a manifest path, lands on the input to fix. The only inputs
that are not manifest paths are:

- header rows, `endpoints.<name>.headers.<i>.name` / `.value` (the manifest keeps headers
  as an object; `input_path` maps `endpoints.<name>.headers.<header>` back to its row);
- `custom_fields.<i>.auth_role`, which says which auth setting reads that field, so that
  renaming the field renames the reference too;
- `custom_fields.<i>.default_option`, the default of a select field, given as the path of
  the chosen option row (or `raw:<value>` for a stored default that is no option).

The browser posts the form as one JSON object (`state`), which keeps large configurations
under Django's limit on the number of form fields; a plain form post works the same.

Everything here is pure: no database, no request. Business rules stay in the engine core;
this module only translates between the form and the manifest and presents the core's
reports (diagnostics, the variable tracker, previews) for the templates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from integrations.configuration import preview_report, validation_report
from portal.params import parse_id
from syncengine.core.jsonpath import PathSyntaxError, parse_path
from syncengine.core.manifest import (
    AUTH,
    AUTH_KEYS,
    AUTH_METHODS,
    BATCH_ENDPOINTS,
    CREATE_LIST,
    CUSTOM_FIELD_TYPES,
    DEFAULT_BATCH_SIZE,
    DEFAULT_LIST_ID_PATH,
    ENDPOINT_METHODS,
    ENDPOINT_ORDER,
    ERROR_ACTIONS,
    HEADERS,
    INTEGRATION_TYPES,
    ITEM_TEMPLATE,
    MAPPING_FIELD_TYPES,
    MAX_CONCURRENCY,
    MIN_CONCURRENCY,
    PAYLOAD,
    PREDEFINED_VARIABLES,
    REQUIRED_ENDPOINTS,
    SELECT_TYPES,
    URL,
    VARIABLE_NAME,
    VariableUse,
    auth_variable_references,
    collect_declarations,
    default_auth,
    default_auth_fields,
    normalize_manifest,
    predefined_is_available,
    variable_use_problem,
)
from syncengine.core.preview import SAMPLE_COHORT_ID, SAMPLE_COHORT_NAME, SAMPLE_LIST_ID

STATE_FIELD = "state"
MAX_STATE_BYTES = 8 * 1024 * 1024
RAW_DEFAULT_PREFIX = "raw:"
MAX_NUMBER_LENGTH = 30
AUTH_ROLE_KEYS = ("username_variable", "password_variable", "token_variable")
# Which diagnostics of a header concern its name (the rest concern its value).
HEADER_NAME_CODES = frozenset({"invalid_header_name", "reserved_header", "duplicate_header"})

AUTH_CHOICES = (
    ("none", "No authentication", "No Authorization header."),
    ("basic", "Basic authentication", "API key and optional secret, as Basic auth."),
    ("api_key_header", "Authentication header", "API key in a header you name."),
    ("bearer", "Bearer token", "Authorization: Bearer <token>."),
)
FIELD_TYPE_LABELS = {
    "string": "String",
    "single_select": "Single select",
    "button_group": "Button group",
}
ENDPOINT_LABELS = {
    "create_list": "List creation endpoint",
    "add_users": "Add users endpoint",
    "remove_users": "Remove users endpoint",
    "update_users": "Update users endpoint",
}
ENDPOINT_SHORT_LABELS = {
    "create_list": "Create list",
    "add_users": "Add users",
    "remove_users": "Remove users",
    "update_users": "Update users",
}
ENDPOINT_HELP = {
    "create_list": (
        "Called once, on a cohort's first sync, to create a list on your platform. Return "
        "the new list's id; we read it at the path below and send it as $list_id to the add "
        "and remove endpoints."
    ),
    "add_users": (
        "Called on every sync with the users who entered the cohort since the last "
        "successful one, in batches. $items becomes the batch: one item template per user."
    ),
    "remove_users": (
        "Called on every sync with the users who left the cohort, in batches, like the add "
        "users endpoint."
    ),
    "update_users": (
        "Called on every sync with the users whose membership changed. $in_cohort is true "
        "for users entering the cohort and false for users leaving it."
    ),
}
PART_LABELS = {
    "url": "URL",
    "headers": "headers",
    "payload": "payload",
    "item_template": "item template",
    "auth": "auth settings",
}
ERROR_ACTION_LABELS = {
    "retry": "Retry (temporary)",
    "fail": "Fail the sync",
    "ignore": "Ignore and continue",
}
# Labels for path segments the summary and the revision diff show.
KEY_LABELS = {
    "display_name": "display name",
    "integration_type": "integration type",
    "slugify_cohort_name": "slugify cohort name",
    "logo_png_base64": "logo",
    "manifest_version": "manifest version",
    "help_text": "help text",
    "list_id_path": "list id path",
    "batch_size": "batch size",
    "item_template": "item template",
    "sub_code": "sub-code",
    "sub_code_path": "sub-code path",
    "max_concurrency": "max concurrency",
    "requests_per_second": "requests per second",
    "sign_requests": "sign requests",
    "header_name": "header name",
    "value_template": "value template",
    "username_variable": "username variable",
    "password_variable": "password variable",
    "token_variable": "token variable",
    "url": "URL",
}

_INDEX_KEY = re.compile(r"^(?P<list>[a-z_.]+?)\.(?P<index>\d+)\.")
_INT = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")

FormState = Mapping[str, str]


class FormStateError(ValueError):
    """The editor sent something that is not a form state."""


# --------------------------------------------------------------------------------------
# Reading the posted form


def read_form_state(post: Mapping[str, Any]) -> dict[str, str]:
    """The editor's inputs by name, from a JSON `state` field or from a plain form post.

    Raises `FormStateError` when `state` is not a JSON object of strings.
    """
    raw = post.get(STATE_FIELD)
    if raw is None:
        getter = getattr(post, "getlist", None)
        state: dict[str, str] = {}
        for key in post:
            values = getter(key) if getter else [post[key]]
            if values:
                state[key] = values[-1]
        return state
    if not isinstance(raw, str) or len(raw) > MAX_STATE_BYTES:
        raise FormStateError("The editor's form state is missing or too large.")
    try:
        decoded = json.loads(raw)
    except ValueError:
        raise FormStateError("The editor's form state is not valid JSON.") from None
    if not isinstance(decoded, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in decoded.items()
    ):
        raise FormStateError("The editor's form state must map input names to text.")
    return decoded


def _indices(state: FormState, prefix: str) -> list[int]:
    """The row numbers present under `prefix` (`custom_fields` -> [0, 1, 2])."""
    found: set[int] = set()
    start = prefix + "."
    for key in state:
        if not key.startswith(start):
            continue
        index = parse_id(key[len(start) :].split(".", 1)[0])
        if index is not None:
            found.add(index)
    return sorted(found)


def _text(state: FormState, key: str) -> str:
    value = state.get(key, "")
    return value if isinstance(value, str) else str(value)


def _checked(state: FormState, key: str) -> bool:
    return _text(state, key) not in ("", "false", "off", "0")


def _number(text: str, *, integer: bool = False) -> Any:
    """A typed number from an input, or the text itself (for the checks to report).

    Absurdly long numbers and ones that overflow to infinity stay text: they are refused
    by the checks either way, and JSON (and PostgreSQL) cannot store infinity."""
    stripped = text.strip()
    if len(stripped) > MAX_NUMBER_LENGTH:
        return text
    if _INT.fullmatch(stripped):
        return int(stripped)
    if not integer and _NUMBER.fullmatch(stripped):
        number = float(stripped)
        return number if math.isfinite(number) else text
    return text


def _options_from_form(state: FormState, prefix: str) -> list[dict[str, str]]:
    options = []
    for j in _indices(state, f"{prefix}.options"):
        option_prefix = f"{prefix}.options.{j}"
        value = _text(state, f"{option_prefix}.value")
        label = _text(state, f"{option_prefix}.label")
        option = {"value": value}
        if label.strip():
            option["label"] = label
        options.append(option)
    return options


def _custom_field_from_form(state: FormState, i: int) -> tuple[dict[str, Any], str]:
    prefix = f"custom_fields.{i}"
    field_type = _text(state, f"{prefix}.type") or "string"
    field: dict[str, Any] = {
        "variable": _text(state, f"{prefix}.variable").strip(),
        "display_name": _text(state, f"{prefix}.display_name"),
        "type": field_type,
        "required": _checked(state, f"{prefix}.required"),
        "secret": field_type not in SELECT_TYPES and _checked(state, f"{prefix}.secret"),
        "help_text": _text(state, f"{prefix}.help_text"),
    }
    if field_type in SELECT_TYPES:
        options = _options_from_form(state, prefix)
        field["options"] = options
        choice = _text(state, f"{prefix}.default_option")
        default = None
        if choice.startswith(RAW_DEFAULT_PREFIX):
            default = choice[len(RAW_DEFAULT_PREFIX) :]
        elif choice.startswith(f"{prefix}.options.") and f"{choice}.value" in state:
            default = _text(state, f"{choice}.value")
        field["default"] = default
    else:
        default_text = _text(state, f"{prefix}.default")
        field["default"] = default_text if default_text != "" else None
    return field, _text(state, f"{prefix}.auth_role")


def _mapping_field_from_form(state: FormState, i: int) -> dict[str, Any]:
    prefix = f"mapping_fields.{i}"
    field_type = _text(state, f"{prefix}.type") or "string"
    field: dict[str, Any] = {
        "variable": _text(state, f"{prefix}.variable").strip(),
        "display_name": _text(state, f"{prefix}.display_name"),
        "type": field_type,
        "required": _checked(state, f"{prefix}.required"),
        "help_text": _text(state, f"{prefix}.help_text"),
    }
    if field_type == "single_select":
        field["options"] = [
            _text(state, f"{prefix}.options.{j}").strip()
            for j in _indices(state, f"{prefix}.options")
        ]
    return field


def _auth_from_form(
    state: FormState, roles: dict[str, str], method_override: str | None
) -> dict[str, Any]:
    method = method_override or _text(state, "auth.method") or "none"
    auth: dict[str, Any] = {"method": method}
    if method == "api_key_header":
        auth["header_name"] = _text(state, "auth.header_name").strip()
        auth["value_template"] = _text(state, "auth.value_template")
        return auth
    for key in AUTH_KEYS.get(method, ("method",))[1:]:
        if key in roles:
            auth[key] = roles[key]
        elif key == "password_variable":
            # The partner removed the optional secret field: Basic auth sends no password.
            auth[key] = None
        elif _text(state, f"auth.{key}"):
            auth[key] = _text(state, f"auth.{key}")
    return auth


def _endpoint_from_form(state: FormState, name: str) -> dict[str, Any]:
    prefix = f"endpoints.{name}"
    endpoint: dict[str, Any] = {
        "method": _text(state, f"{prefix}.method") or "POST",
        "url": _text(state, f"{prefix}.url").strip(),
    }
    headers: dict[str, str] = {}
    for j in _indices(state, f"{prefix}.headers"):
        header_name = _text(state, f"{prefix}.headers.{j}.name").strip()
        value = _text(state, f"{prefix}.headers.{j}.value")
        if header_name or value:
            headers[header_name] = value
    endpoint["headers"] = headers
    endpoint["payload"] = _text(state, f"{prefix}.payload")
    if name in BATCH_ENDPOINTS:
        endpoint["item_template"] = _text(state, f"{prefix}.item_template")
        batch_size = _text(state, f"{prefix}.batch_size")
        endpoint["batch_size"] = (
            _number(batch_size, integer=True) if batch_size.strip() else DEFAULT_BATCH_SIZE
        )
    else:
        list_id_path = _text(state, f"{prefix}.list_id_path").strip()
        endpoint["list_id_path"] = list_id_path or DEFAULT_LIST_ID_PATH
    errors = []
    for j in _indices(state, f"{prefix}.errors"):
        error_prefix = f"{prefix}.errors.{j}"
        status = _text(state, f"{error_prefix}.status")
        sub_code = _text(state, f"{error_prefix}.sub_code").strip()
        sub_code_path = _text(state, f"{error_prefix}.sub_code_path").strip()
        errors.append(
            {
                "status": _number(status, integer=True) if status.strip() else "",
                "sub_code": sub_code or None,
                "sub_code_path": sub_code_path or None,
                "reason": _text(state, f"{error_prefix}.reason"),
                "message": _text(state, f"{error_prefix}.message"),
                "action": _text(state, f"{error_prefix}.action") or "fail",
            }
        )
    endpoint["errors"] = errors
    return endpoint


def manifest_from_form(
    state: FormState,
    *,
    display_name: str,
    integration_type: str,
    auth_method: str | None = None,
) -> dict[str, Any]:
    """The manifest (without logo) the editor's inputs describe, normalised.

    `display_name` and `integration_type` come from the stored draft: Part 1 edits them.
    `auth_method` overrides the posted method (the auth switch reads the form as it was
    under the previous method).
    """
    custom_fields = []
    roles: dict[str, str] = {}
    for i in _indices(state, "custom_fields"):
        field, role = _custom_field_from_form(state, i)
        custom_fields.append(field)
        if role in AUTH_ROLE_KEYS and role not in roles:
            roles[role] = field["variable"]
    mapping_fields = [_mapping_field_from_form(state, i) for i in _indices(state, "mapping_fields")]
    present = {key.split(".", 2)[1] for key in state if key.startswith("endpoints.")}
    endpoints = {
        name: _endpoint_from_form(state, name) for name in ENDPOINT_ORDER if name in present
    }
    rps = _text(state, "delivery.requests_per_second")
    manifest = {
        "display_name": display_name,
        "integration_type": integration_type,
        "slugify_cohort_name": _checked(state, "slugify_cohort_name"),
        "auth": _auth_from_form(state, roles, auth_method),
        "custom_fields": custom_fields,
        "mapping_fields": mapping_fields,
        "endpoints": endpoints,
        "delivery": {
            "max_concurrency": _number(
                _text(state, "delivery.max_concurrency") or str(MAX_CONCURRENCY), integer=True
            ),
            "requests_per_second": _number(rps) if rps.strip() else None,
            "sign_requests": _checked(state, "delivery.sign_requests"),
        },
    }
    return normalize_manifest(manifest)


# --------------------------------------------------------------------------------------
# Switching the auth method


# An auth method reads at most a few fields; anything longer is not what we handed out.
MAX_REMEMBERED_FIELDS = 4


def switch_auth(manifest: Mapping[str, Any], method: str, remembered: Any = None) -> dict[str, Any]:
    """The manifest with auth `method` and its default fields (DESIGN §4).

    The fields the previous method read are replaced, in place and in order, by the new
    method's default fields (so bearer's `bearer_token` becomes basic's `api_key`); extra
    old ones are removed and extra new ones inserted after them. A default field whose
    variable another field already declares is not added twice. Raises `ValueError` for
    an unknown method.

    `remembered` is what `auth_settings` gave for `method` when the partner switched away
    from it: its auth settings and fields come back as the partner left them instead of
    the defaults (trying the methods one by one loses no work).
    """
    if method not in AUTH_METHODS:
        raise ValueError(f"unknown auth method {method!r}")
    doc = normalize_manifest(dict(manifest))
    fields = [f for f in doc.get("custom_fields") or [] if isinstance(f, dict)]
    old_positions = _auth_field_positions(doc.get("auth"), fields)
    auth, new_fields = default_auth(method), default_auth_fields(method)
    if _remembered_for(remembered, method):
        auth, new_fields = dict(remembered["auth"]), [dict(f) for f in remembered["fields"]]
    replaced: dict[int, dict[str, Any] | None] = dict.fromkeys(old_positions)
    others = {f.get("variable") for i, f in enumerate(fields) if i not in replaced}
    pending = [f for f in new_fields if f["variable"] not in others]
    for position in old_positions:
        replaced[position] = pending.pop(0) if pending else None
    result: list[dict[str, Any]] = []
    anchor = max(old_positions) if old_positions else -1
    if anchor < 0:
        result.extend(pending)
    for i, field in enumerate(fields):
        if i in replaced:
            if replaced[i] is not None:
                result.append(replaced[i])
        else:
            result.append(field)
        if i == anchor:
            result.extend(pending)
    doc["custom_fields"] = result
    doc["auth"] = auth
    return normalize_manifest(doc)


def auth_settings(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The current auth settings and the custom fields they read, to hand back to
    `switch_auth` should the partner return to this method."""
    doc = normalize_manifest(dict(manifest))
    fields = [f for f in doc.get("custom_fields") or [] if isinstance(f, dict)]
    auth = doc.get("auth") if isinstance(doc.get("auth"), dict) else {}
    return {
        "auth": auth,
        "fields": [fields[i] for i in _auth_field_positions(auth, fields)],
    }


def _auth_field_positions(auth: Any, fields: list[dict[str, Any]]) -> list[int]:
    """Where the custom fields `auth` reads are, in the order it reads them."""
    where = {}
    for index, field in enumerate(fields):
        where.setdefault(field.get("variable"), index)
    positions: list[int] = []
    for use in auth_variable_references(auth):
        position = where.get(use.variable)
        if position is not None and position not in positions:
            positions.append(position)
    return positions


def _remembered_for(remembered: Any, method: str) -> bool:
    """Whether `remembered` is a well-formed `auth_settings` result for `method`."""
    return (
        isinstance(remembered, dict)
        and isinstance(remembered.get("auth"), dict)
        and remembered["auth"].get("method") == method
        and isinstance(remembered.get("fields"), list)
        and len(remembered["fields"]) <= MAX_REMEMBERED_FIELDS
        and all(isinstance(f, dict) for f in remembered["fields"])
    )


# --------------------------------------------------------------------------------------
# The form, from a manifest


def _shown(value: Any) -> str:
    """How a stored value appears in a text input."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _choices(allowed: tuple[str, ...], current: Any, labels: Mapping[str, str] | None = None):
    """(value, label) pairs for a select; a stored value outside them is kept selectable."""
    labels = labels or {}
    pairs = [(value, labels.get(value, value)) for value in allowed]
    shown = _shown(current)
    if shown and shown not in allowed:
        pairs.append((shown, f"{shown} (not valid)"))
    return pairs


def _auth_roles(auth: Any) -> dict[str, str]:
    """variable -> the auth setting that reads it (basic and bearer)."""
    if not isinstance(auth, dict):
        return {}
    roles = {}
    for key in AUTH_KEYS.get(auth.get("method"), ("method",))[1:]:
        variable = auth.get(key)
        if isinstance(variable, str) and variable not in roles:
            roles[variable] = key
    return roles


def _auth_readers(auth: Any) -> set[str]:
    return {use.variable for use in auth_variable_references(auth)}


def _custom_field_row(field: Any, i: int, roles: Mapping[str, str], readers: set[str]):
    field = field if isinstance(field, dict) else {}
    prefix = f"custom_fields.{i}"
    field_type = _shown(field.get("type")) or "string"
    options = field.get("options") if isinstance(field.get("options"), list) else []
    option_rows = [
        {
            "value": _shown(o.get("value")) if isinstance(o, dict) else _shown(o),
            "label": _shown(o.get("label")) if isinstance(o, dict) else "",
        }
        for o in options
    ]
    default = field.get("default")
    default_choice = ""
    if default is not None and field_type in SELECT_TYPES:
        match = next((j for j, o in enumerate(option_rows) if o["value"] == default), None)
        default_choice = (
            f"{prefix}.options.{match}"
            if match is not None
            else f"{RAW_DEFAULT_PREFIX}{_shown(default)}"
        )
    variable = _shown(field.get("variable"))
    return {
        "index": i,
        "variable": variable,
        "display_name": _shown(field.get("display_name")),
        "type": field_type,
        "type_choices": _choices(CUSTOM_FIELD_TYPES, field_type, FIELD_TYPE_LABELS),
        "required": field.get("required") is True,
        "secret": field.get("secret") is True,
        "help_text": _shown(field.get("help_text")),
        "default_text": "" if field_type in SELECT_TYPES else _shown(default),
        "default_choice": default_choice,
        "raw_default": default_choice[len(RAW_DEFAULT_PREFIX) :]
        if default_choice.startswith(RAW_DEFAULT_PREFIX)
        else None,
        "options": option_rows,
        "auth_role": roles.get(variable, ""),
        "read_by_auth": variable in readers,
    }


def _mapping_field_row(field: Any, i: int):
    field = field if isinstance(field, dict) else {}
    field_type = _shown(field.get("type")) or "string"
    options = field.get("options") if isinstance(field.get("options"), list) else []
    return {
        "index": i,
        "variable": _shown(field.get("variable")),
        "display_name": _shown(field.get("display_name")),
        "type": field_type,
        "type_choices": _choices(MAPPING_FIELD_TYPES, field_type, FIELD_TYPE_LABELS),
        "required": field.get("required") is True,
        "help_text": _shown(field.get("help_text")),
        "options": [_shown(option) for option in options],
    }


def _error_rows(errors: Any) -> list[dict[str, Any]]:
    rows = []
    for error in errors if isinstance(errors, list) else []:
        error = error if isinstance(error, dict) else {}
        action = _shown(error.get("action")) or "fail"
        rows.append(
            {
                "status": _shown(error.get("status")),
                "sub_code": _shown(error.get("sub_code")),
                "sub_code_path": _shown(error.get("sub_code_path")),
                "reason": _shown(error.get("reason")),
                "message": _shown(error.get("message")),
                "action": action,
                "action_choices": _choices(ERROR_ACTIONS, action, ERROR_ACTION_LABELS),
            }
        )
    return rows


def editor_endpoints(integration_type: str, endpoints: Any) -> list[str]:
    """The endpoint sections the editor shows: the type's required ones plus any other
    the draft has (flagged by the checks, removable)."""
    endpoints = endpoints if isinstance(endpoints, dict) else {}
    required = REQUIRED_ENDPOINTS.get(integration_type, ())
    return [name for name in ENDPOINT_ORDER if name in required or name in endpoints]


def editor_form(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the editor form renders, as display strings, from a manifest."""
    doc = normalize_manifest(dict(manifest))
    auth = doc.get("auth") if isinstance(doc.get("auth"), dict) else {"method": "none"}
    method = _shown(auth.get("method")) or "none"
    roles = _auth_roles(auth)
    readers = _auth_readers(auth)
    integration_type = _shown(doc.get("integration_type"))
    endpoints = doc.get("endpoints") if isinstance(doc.get("endpoints"), dict) else {}
    required = REQUIRED_ENDPOINTS.get(integration_type, ())
    endpoint_rows = []
    for name in editor_endpoints(integration_type, endpoints):
        endpoint = endpoints.get(name) if isinstance(endpoints.get(name), dict) else {}
        method_value = _shown(endpoint.get("method")) or "POST"
        headers = endpoint.get("headers") if isinstance(endpoint.get("headers"), dict) else {}
        endpoint_rows.append(
            {
                "name": name,
                "label": ENDPOINT_LABELS[name],
                "short_label": ENDPOINT_SHORT_LABELS[name],
                "help": ENDPOINT_HELP[name],
                "expected": name in required,
                "is_batch": name in BATCH_ENDPOINTS,
                "method": method_value,
                "method_choices": _choices(ENDPOINT_METHODS[name], method_value),
                "url": _shown(endpoint.get("url")),
                "headers": [
                    {"name": _shown(key), "value": _shown(value)} for key, value in headers.items()
                ],
                "payload": _shown(endpoint.get("payload")),
                "item_template": _shown(endpoint.get("item_template")),
                "batch_size": _shown(endpoint.get("batch_size", DEFAULT_BATCH_SIZE)),
                "list_id_path": _shown(endpoint.get("list_id_path", DEFAULT_LIST_ID_PATH)),
                "errors": _error_rows(endpoint.get("errors")),
            }
        )
    delivery = doc.get("delivery") if isinstance(doc.get("delivery"), dict) else {}
    concurrency = _shown(delivery.get("max_concurrency", MAX_CONCURRENCY))
    return {
        "integration_type": integration_type,
        "auth": {
            "method": method,
            "method_choices": AUTH_CHOICES,
            "header_name": _shown(auth.get("header_name", "X-API-Key")),
            "value_template": _shown(auth.get("value_template", "$api_key")),
            "hidden": {key: _shown(auth.get(key)) for key in AUTH_ROLE_KEYS if key in auth},
        },
        "custom_fields": [
            _custom_field_row(field, i, roles, readers)
            for i, field in enumerate(doc.get("custom_fields") or [])
        ],
        "mapping_fields": [
            _mapping_field_row(field, i) for i, field in enumerate(doc.get("mapping_fields") or [])
        ],
        "endpoints": endpoint_rows,
        "endpoint_names": [row["name"] for row in endpoint_rows],
        "slugify_cohort_name": doc.get("slugify_cohort_name") is True,
        "delivery": {
            "max_concurrency": concurrency,
            "concurrency_choices": _choices(
                tuple(str(n) for n in range(MIN_CONCURRENCY, MAX_CONCURRENCY + 1)), concurrency
            ),
            "requests_per_second": _shown(delivery.get("requests_per_second")),
            "sign_requests": delivery.get("sign_requests") is True,
        },
        "error_action_choices": _choices(ERROR_ACTIONS, "fail", ERROR_ACTION_LABELS),
        "custom_type_choices": _choices(CUSTOM_FIELD_TYPES, "string", FIELD_TYPE_LABELS),
        "mapping_type_choices": _choices(MAPPING_FIELD_TYPES, "string", FIELD_TYPE_LABELS),
    }


# --------------------------------------------------------------------------------------
# Paths: where a diagnostic goes, and how to say it


def input_path(path: str, manifest: Mapping[str, Any], code: str = "") -> str:
    """The editor input (or section) for a manifest path.

    Header paths (`endpoints.add_users.headers.Content-Type`) become their row's input;
    the variables basic and bearer auth read are edited in the custom fields, so their
    paths point at the auth section.
    """
    parts = path.split(".")
    if len(parts) >= 4 and parts[0] == "endpoints" and parts[2] == "headers":
        endpoint = (manifest.get("endpoints") or {}).get(parts[1])
        headers = endpoint.get("headers") if isinstance(endpoint, dict) else None
        header = ".".join(parts[3:])
        if isinstance(headers, dict) and header in headers:
            row = list(headers).index(header)
            suffix = "name" if code in HEADER_NAME_CODES else "value"
            return f"endpoints.{parts[1]}.headers.{row}.{suffix}"
        return f"endpoints.{parts[1]}.headers"
    if parts[0] == "auth" and len(parts) == 2 and parts[1] in AUTH_ROLE_KEYS:
        return "auth"
    return path


def _field_name(manifest: Mapping[str, Any], key: str, index: int) -> str:
    fields = manifest.get(key)
    if isinstance(fields, list) and 0 <= index < len(fields) and isinstance(fields[index], dict):
        name = fields[index].get("display_name") or fields[index].get("variable")
        if isinstance(name, str) and name.strip():
            return f" ({name.strip()[:40]})"
    return ""


def _label(key: str) -> str:
    return KEY_LABELS.get(key, key.replace("_", " "))


def describe_path(path: str, manifest: Mapping[str, Any] | None = None) -> str:
    """A manifest path in words: `custom_fields.1.variable` -> `Custom field 2 (Region) ›
    variable`."""
    manifest = manifest or {}
    if not path:
        return "Configuration"
    parts = path.split(".")
    head = parts[0]
    words: list[str] = []
    rest = parts[1:]
    if (
        head in ("custom_fields", "mapping_fields")
        and rest
        and (index := parse_id(rest[0])) is not None
    ):
        kind = "Custom field" if head == "custom_fields" else "Mapping field"
        words.append(f"{kind} {index + 1}{_field_name(manifest, head, index)}")
        rest = rest[1:]
        if len(rest) >= 2 and rest[0] == "options" and (option := parse_id(rest[1])) is not None:
            words.append(f"option {option + 1}")
            rest = rest[2:]
    elif head == "endpoints" and rest:
        words.append(ENDPOINT_SHORT_LABELS.get(rest[0], rest[0]))
        rest = rest[1:]
        if len(rest) >= 2 and rest[0] == "errors" and (rule := parse_id(rest[1])) is not None:
            words.append(f"error classification {rule + 1}")
            rest = rest[2:]
        elif len(rest) >= 2 and rest[0] == "headers":
            words.append(f"header {'.'.join(rest[1:])}")
            rest = []
    elif head == "auth":
        words.append("Auth")
    elif head == "delivery":
        words.append("Delivery")
    else:
        words.append(_label(head).capitalize())
    words.extend(_label(part) for part in rest)
    return " › ".join(words)


def _where(item: Mapping[str, Any], manifest: Mapping[str, Any]) -> str:
    text = describe_path(item.get("path") or "", manifest)
    if item.get("line"):
        text += f", line {item['line']}, column {item.get('column') or 1}"
    return text


def annotate(item: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A diagnostic (or tracker location) with `target` (the editor input) and `where`."""
    path = item.get("path") or ""
    return {
        **item,
        "target": input_path(path, manifest, item.get("code", "")),
        "where": _where(item, manifest),
    }


# --------------------------------------------------------------------------------------
# The Testing Integration panel


def _select_options(options: Any) -> list[tuple[str, str]]:
    pairs = []
    for option in options if isinstance(options, list) else []:
        if isinstance(option, dict):
            value = _shown(option.get("value"))
            pairs.append((value, _shown(option.get("label")) or value))
        else:
            pairs.append((_shown(option), _shown(option)))
    return pairs


def connect_modal(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The end user's Connect modal: every custom field and mapping field with its widget."""
    fields = []
    for i, field in enumerate(manifest.get("custom_fields") or []):
        if not isinstance(field, dict):
            continue
        field_type = field.get("type") if field.get("type") in CUSTOM_FIELD_TYPES else "string"
        fields.append(
            {
                "id": f"modal-custom-{i}",
                "variable": _shown(field.get("variable")),
                "label": _shown(field.get("display_name")) or _shown(field.get("variable")),
                "type": field_type,
                "required": field.get("required") is True,
                "secret": field.get("secret") is True,
                "help_text": _shown(field.get("help_text")),
                "options": _select_options(field.get("options")),
                "default": _shown(field.get("default")),
            }
        )
    mappings = []
    for i, field in enumerate(manifest.get("mapping_fields") or []):
        if not isinstance(field, dict):
            continue
        mappings.append(
            {
                "id": f"modal-mapping-{i}",
                "variable": _shown(field.get("variable")),
                "label": _shown(field.get("display_name")) or _shown(field.get("variable")),
                "type": "single_select" if field.get("type") == "single_select" else "string",
                "required": field.get("required") is True,
                "help_text": _shown(field.get("help_text")),
                "options": _select_options(field.get("options")),
            }
        )
    return {
        "title": _shown(manifest.get("display_name")) or "your integration",
        "fields": fields,
        "mappings": mappings,
    }


def _suggestion(name: str, kind: str, detail: str) -> dict[str, str]:
    return {"name": name, "kind": kind, "detail": detail}


def variable_suggestions(manifest: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """For each template input kind (`endpoints.add_users.payload`, `...headers`,
    `auth.value_template`), the variables that have a value there, for `$` completion."""
    declared = {}
    for declaration in collect_declarations(manifest):
        name = declaration.variable
        if VARIABLE_NAME.fullmatch(name) and name not in PREDEFINED_VARIABLES:
            declared.setdefault(name, declaration)
    labels = {}
    for key in ("custom_fields", "mapping_fields"):
        for field in manifest.get(key) or []:
            if isinstance(field, dict) and isinstance(field.get("variable"), str):
                labels.setdefault(field["variable"], _shown(field.get("display_name")))
    candidates = [*declared, *PREDEFINED_VARIABLES]
    places: list[tuple[str | None, str, str]] = [(None, AUTH, "auth.value_template")]
    endpoints = manifest.get("endpoints") if isinstance(manifest.get("endpoints"), dict) else {}
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


def _annotate_tracker(tracker: Mapping[str, Any], manifest: Mapping[str, Any]):
    columns = {}
    for column in ("declared", "used", "predefined"):
        rows = []
        for row in tracker.get(column, []):
            locations = [annotate(location, manifest) for location in row["locations"]]
            declared_at = row.get("declared_at")
            rows.append(
                {
                    **row,
                    "locations": locations,
                    "declared_target": f"{declared_at}.variable" if declared_at else None,
                    "where": (
                        describe_path(f"endpoints.{row['endpoint']}.{row['part']}", manifest)
                        if row.get("endpoint")
                        else PART_LABELS.get(row.get("part") or "", "")
                    ),
                }
            )
        columns[column] = rows
    return columns


SOURCE_LABELS = {"auth": "Auth field", "custom_field": "Custom field", "mapping_field": "Mapping"}
PROBLEM_STATUSES = frozenset({"undeclared", "not_available_here"})


def _use_label(endpoint: str | None, part: str | None) -> str:
    if endpoint is None:
        return "Auth"
    return f"{ENDPOINT_SHORT_LABELS.get(endpoint, endpoint)} {PART_LABELS.get(part or '', part)}"


def tracker_rows(tracker: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The three tracker columns as one row per variable: where it is declared, where it
    is used, whether it is pre-defined, and what is wrong with it (annotated tracker in)."""
    rows: dict[str, dict[str, Any]] = {}

    def row_for(variable: str) -> dict[str, Any]:
        return rows.setdefault(
            variable,
            {
                "variable": variable,
                "declared": None,
                "uses": [],
                "predefined": None,
                "messages": [],
                "status": "ok",
            },
        )

    def note(row: dict[str, Any], message: str, status: str) -> None:
        if message and message not in row["messages"]:
            row["messages"].append(message)
        if status == "error" or (status == "warning" and row["status"] == "ok"):
            row["status"] = status

    for item in tracker.get("declared", []):
        row = row_for(item["variable"])
        if row["declared"] is None:
            index = parse_id((item.get("declared_at") or "").rsplit(".", 1)[-1])
            number = f" {index + 1}" if index is not None else ""
            row["declared"] = {
                "label": SOURCE_LABELS.get(item["source"], item["source"]) + number,
                "target": item.get("declared_target") or "",
            }
        if item["status"] == "unused":
            note(row, f"${item['variable']} is declared but not used in any template.", "warning")
    for item in tracker.get("used", []):
        row = row_for(item["variable"])
        first = item["locations"][0] if item["locations"] else {}
        problem = item["status"] in PROBLEM_STATUSES
        row["uses"].append(
            {
                "label": _use_label(item.get("endpoint"), item.get("part")),
                "target": first.get("target", ""),
                "line": first.get("line"),
                "column": first.get("column"),
                "count": len(item["locations"]),
                "problem": problem,
            }
        )
        if problem:
            note(row, item["message"], "error")
    for item in tracker.get("predefined", []):
        if not item["locations"] and item["status"] == "ok":
            continue
        row = row_for(item["variable"])
        row["predefined"] = {"description": item["description"], "where": item["where"]}
        if item["status"] in PROBLEM_STATUSES:
            note(row, item["message"], "error")
    order = {"error": 0, "warning": 1, "ok": 2}
    return sorted(rows.values(), key=lambda row: order[row["status"]])


MAX_EXAMPLE_INDEX = 20


def example_list_response(list_id_path: Any, list_id: str) -> str | None:
    """The smallest create_list response body that carries `list_id` at `list_id_path`
    (none when an index is too large to make a readable example)."""
    try:
        segments = parse_path(list_id_path)
    except PathSyntaxError:
        return None
    if any(isinstance(s, int) and s > MAX_EXAMPLE_INDEX for s in segments):
        return None
    document: Any = list_id
    for segment in reversed(segments):
        if isinstance(segment, int):
            document = [{} for _ in range(segment)] + [document]
        else:
            document = {segment: document}
    return json.dumps(document, indent=2)


def testing_panel(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the right panel and the problem summary show for a manifest (any manifest)."""
    doc = normalize_manifest(dict(manifest))
    report = validation_report(doc)
    preview = preview_report(doc)
    problems = [annotate(d, doc) for d in report["diagnostics"]]
    for endpoint in preview["endpoints"]:
        endpoint["label"] = ENDPOINT_LABELS.get(endpoint["endpoint"], endpoint["endpoint"])
        endpoint["errors"] = [annotate(d, doc) for d in endpoint["errors"]]
    tracker = _annotate_tracker(report["tracker"], doc)
    rows = tracker_rows(tracker)
    create_list = (doc.get("endpoints") or {}).get(CREATE_LIST)
    return {
        "valid": report["valid"],
        "error_count": report["error_count"],
        "warning_count": report["warning_count"],
        "problems": problems,
        "tracker": tracker,
        "tracker_rows": rows,
        "tracker_problem_count": sum(row["status"] == "error" for row in rows),
        "tracker_warning_count": sum(row["status"] == "warning" for row in rows),
        "predefined": [
            {"name": name, "description": variable.description, "where": variable.where}
            for name, variable in PREDEFINED_VARIABLES.items()
        ],
        "preview": preview,
        "modal": connect_modal(doc),
        "suggestions": variable_suggestions(doc),
        "sample": {
            "cohort_id": SAMPLE_COHORT_ID,
            "cohort_name": SAMPLE_COHORT_NAME,
            "list_id": SAMPLE_LIST_ID,
        },
        "integration_type": doc.get("integration_type")
        if doc.get("integration_type") in INTEGRATION_TYPES
        else None,
        "list_response": example_list_response(
            create_list.get("list_id_path") if isinstance(create_list, dict) else None,
            SAMPLE_LIST_ID,
        )
        if isinstance(create_list, dict)
        else None,
    }


def client_data(panel: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the panel the editor's script needs: problems to mark, completions."""
    return {
        "problems": [
            {
                key: problem.get(key)
                for key in ("severity", "code", "message", "path", "line", "column", "target")
            }
            for problem in panel["problems"]
        ],
        "suggestions": panel["suggestions"],
        "valid": panel["valid"],
        "error_count": panel["error_count"],
        "warning_count": panel["warning_count"],
    }


# --------------------------------------------------------------------------------------
# Revision history


def _diff_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value else "(empty)"
    return json.dumps(value, ensure_ascii=False)


def _diff_lines(lines: Any) -> list[tuple[str, str]]:
    classified = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            classified.append(("hunk", line))
        elif line.startswith("+"):
            classified.append(("added", line[1:]))
        elif line.startswith("-"):
            classified.append(("removed", line[1:]))
        else:
            classified.append(("same", line[1:] if line.startswith(" ") else line))
    return classified


def revision_diff(
    changes: list[Any], manifest: Mapping[str, Any], *, logo_changed: bool = False
) -> list[dict[str, Any]]:
    """`manifest_diff` changes as rows to read: where in words, before, after, line diff."""
    rows = []
    if logo_changed:
        rows.append(
            {
                "path": "logo",
                "where": "Logo",
                "kind": "changed",
                "before": "previous logo",
                "after": "new logo",
                "lines": [],
            }
        )
    for change in changes:
        rows.append(
            {
                "path": change.path,
                "where": describe_path(change.path, manifest),
                "kind": change.kind,
                "before": _diff_value(change.before),
                "after": _diff_value(change.after),
                "lines": _diff_lines(change.text_diff),
            }
        )
    return rows
