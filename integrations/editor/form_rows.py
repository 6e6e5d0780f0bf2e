"""The rows and inputs of the Part 2 editor form, built from a manifest.

`editor_form` turns a draft's manifest into display strings the templates render: one row
per custom field, mapping field, endpoint, header and error classification, with the
choices of every select. It is the way back of `form_state` (the inputs it fills are the
ones that module reads), and like it holds no rule about what is valid: a malformed draft
is shown as it is stored, for the checks to point at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.editor.inputs import (
    AUTH_ROLE_KEYS,
    RAW_DEFAULT_PREFIX,
    json_object,
    show_json_value,
    shown,
)
from integrations.editor.labels import ENDPOINT_LABELS, ENDPOINT_SHORT_LABELS, REQUEST_TITLES
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.core.manifest.schema import (
    AUTH_DEFAULTS,
    AUTH_KEYS,
    AUTH_METHODS,
    BATCH,
    BATCH_ENDPOINTS,
    CREATE,
    CREATE_LIST,
    CREATE_METHODS,
    CUSTOM_FIELD_TYPES,
    CUSTOM_MISSING_ACTIONS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_FIND_LIST_ID_PATH,
    DEFAULT_LIST_ID_PATH,
    DEFAULT_LOOKUP_BATCH_SIZE,
    DEFAULT_PARTNER_ID_PATH,
    ENDPOINT_METHODS,
    ENDPOINT_ORDER,
    ERROR_ACTIONS,
    FIND,
    FIND_METHODS,
    LOOKUP,
    LOOKUP_METHODS,
    MAIN,
    MAPPING_FIELD_TYPES,
    MAPPING_MISSING_ACTIONS,
    MAX_CONCURRENCY,
    MIN_CONCURRENCY,
    MODES,
    NOT_FOUND_ACTIONS,
    REQUIRED_ENDPOINTS,
    SELECT_TYPES,
)
from syncengine.core.manifest.variables import auth_variable_references

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
ERROR_ACTION_LABELS = {
    "retry": "Retry (temporary)",
    "fail": "Fail the sync",
    "ignore": "Ignore and continue",
}
MODE_LABELS = {"batch": "One request per batch", "per_user": "One request per user"}
NOT_FOUND_LABELS = {
    "skip": "Skip them (counted as skipped)",
    "fail": "Fail the batch",
    "create": "Create them (an upsert request)",
}
# "" is a field without `if_missing`: what version 1 does.
MAPPING_MISSING_LABELS = {
    "": "Not set: send null",
    "null": "Send null",
    "omit": "Leave the value out",
    "default": "Send a default value",
    "skip": "Skip the user",
}
CUSTOM_MISSING_LABELS = {
    "": "Not set: the default, else empty text",
    "default": "The default, else empty text",
    "null": "Send null",
    "omit": "Leave the value out",
}
REQUEST_METHODS = {LOOKUP: LOOKUP_METHODS, CREATE: CREATE_METHODS, FIND: FIND_METHODS}
DEFAULT_METHODS = {MAIN: "POST", LOOKUP: "POST", CREATE: "POST", FIND: "GET"}


def _choices(
    allowed: tuple[str, ...], current: Any, labels: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(value, label) pairs for a select; a stored value outside them is kept selectable."""
    labels = labels or {}
    pairs = [(value, labels.get(value, value)) for value in allowed]
    text = shown(current)
    if text and text not in allowed:
        pairs.append((text, f"{text} (not valid)"))
    return pairs


def _auth_roles(auth: Any) -> dict[str, str]:
    """variable -> the auth setting that reads it (basic and bearer)."""
    if not isinstance(auth, dict):
        return {}
    roles = {}
    method: Any = auth.get("method")
    for key in AUTH_KEYS.get(method, ("method",))[1:]:
        variable = auth.get(key)
        if isinstance(variable, str) and variable not in roles:
            roles[variable] = key
    return roles


def _auth_readers(auth: Any) -> set[str]:
    return {use.variable for use in auth_variable_references(auth)}


def _custom_field_row(
    field: Any, i: int, roles: Mapping[str, str], readers: set[str]
) -> dict[str, Any]:
    field = field if isinstance(field, dict) else {}
    prefix = f"custom_fields.{i}"
    field_type = shown(field.get("type")) or "string"
    options = field.get("options") if isinstance(field.get("options"), list) else []
    option_rows = [
        {
            "value": shown(o.get("value")) if isinstance(o, dict) else shown(o),
            "label": shown(o.get("label")) if isinstance(o, dict) else "",
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
            else f"{RAW_DEFAULT_PREFIX}{shown(default)}"
        )
    variable = shown(field.get("variable"))
    return {
        "index": i,
        "variable": variable,
        "display_name": shown(field.get("display_name")),
        "type": field_type,
        "type_choices": _choices(CUSTOM_FIELD_TYPES, field_type, FIELD_TYPE_LABELS),
        "required": field.get("required") is True,
        "secret": field.get("secret") is True,
        "help_text": shown(field.get("help_text")),
        "default_text": "" if field_type in SELECT_TYPES else shown(default),
        "default_choice": default_choice,
        "raw_default": default_choice[len(RAW_DEFAULT_PREFIX) :]
        if default_choice.startswith(RAW_DEFAULT_PREFIX)
        else None,
        "options": option_rows,
        "auth_role": roles.get(variable, ""),
        "read_by_auth": variable in readers,
        "if_missing": shown(field.get("if_missing")),
        "if_missing_choices": _choices(
            ("", *CUSTOM_MISSING_ACTIONS), shown(field.get("if_missing")), CUSTOM_MISSING_LABELS
        ),
    }


def _mapping_field_row(field: Any, i: int) -> dict[str, Any]:
    field = field if isinstance(field, dict) else {}
    field_type = shown(field.get("type")) or "string"
    options = field.get("options") if isinstance(field.get("options"), list) else []
    return {
        "index": i,
        "variable": shown(field.get("variable")),
        "display_name": shown(field.get("display_name")),
        "type": field_type,
        "type_choices": _choices(MAPPING_FIELD_TYPES, field_type, FIELD_TYPE_LABELS),
        "required": field.get("required") is True,
        "help_text": shown(field.get("help_text")),
        "options": [shown(option) for option in options],
        "if_missing": shown(field.get("if_missing")),
        "if_missing_choices": _choices(
            ("", *MAPPING_MISSING_ACTIONS), shown(field.get("if_missing")), MAPPING_MISSING_LABELS
        ),
        "default_text": show_json_value(field["default"]) if "default" in field else "",
    }


def _error_rows(errors: Any) -> list[dict[str, Any]]:
    rows = []
    for error in errors if isinstance(errors, list) else []:
        error = error if isinstance(error, dict) else {}
        action = shown(error.get("action")) or "fail"
        rows.append(
            {
                "status": shown(error.get("status")),
                "sub_code": shown(error.get("sub_code")),
                "sub_code_path": shown(error.get("sub_code_path")),
                "reason": shown(error.get("reason")),
                "message": shown(error.get("message")),
                "action": action,
                "action_choices": _choices(ERROR_ACTIONS, action, ERROR_ACTION_LABELS),
            }
        )
    return rows


def auth_override_row(prefix: str, auth: Any) -> dict[str, Any]:
    """The inputs of a request's own auth settings (`<request>.auth`): its method and the
    variables each method reads, the other methods' shown with their defaults."""
    auth = json_object(auth)
    method = shown(auth.get("method")) or "none"
    labels = {value: label for value, label, _ in AUTH_CHOICES}
    row: dict[str, Any] = {
        "prefix": prefix,
        "method": method,
        "method_choices": _choices(AUTH_METHODS, method, labels),
    }
    for key, default in AUTH_DEFAULTS.items():
        row[key] = shown(auth[key]) if key in auth else shown(default)
    return row


def request_row(endpoint: str, role: str, prefix: str, settings: Any) -> dict[str, Any]:
    """The inputs of one request of `endpoint`: its own (`main`), its lookup, the lookup's
    create request or create_list's find request, named under `prefix`."""
    settings = json_object(settings)
    batch = endpoint in BATCH_ENDPOINTS and role != FIND
    method = shown(settings.get("method")) or DEFAULT_METHODS[role]
    allowed = ENDPOINT_METHODS[endpoint] if role == MAIN else REQUEST_METHODS[role]
    mode = shown(settings.get("mode")) or BATCH
    default_size = DEFAULT_BATCH_SIZE if role == MAIN else DEFAULT_LOOKUP_BATCH_SIZE
    row: dict[str, Any] = {
        "endpoint": endpoint,
        "role": role,
        "prefix": prefix,
        "anchor": prefix.removeprefix("endpoints.").replace(".", "-"),
        "title": REQUEST_TITLES[role],
        "method": method,
        "method_choices": _choices(allowed, method),
        "url": shown(settings.get("url")),
        "headers": [
            {"name": shown(key), "value": shown(value)}
            for key, value in json_object(settings.get("headers")).items()
        ],
        "payload": shown(settings.get("payload")),
        "has_items": batch,
        "item_template": shown(settings.get("item_template")),
        "batch_size": shown(settings.get("batch_size", default_size)),
        "mode": mode,
        "mode_choices": _choices(MODES, mode, MODE_LABELS) if batch else None,
        "errors": _error_rows(settings.get("errors")),
        "auth": auth_override_row(f"{prefix}.auth", settings["auth"])
        if "auth" in settings
        else None,
        "lookup": None,
        "create": None,
        "find": None,
    }
    if role == MAIN and endpoint == CREATE_LIST:
        row["list_id_path"] = shown(settings.get("list_id_path", DEFAULT_LIST_ID_PATH))
    if role in (LOOKUP, CREATE):
        row["results_path"] = shown(settings.get("results_path"))
        row["result_key_path"] = shown(settings.get("result_key_path"))
        row["partner_id_path"] = shown(settings.get("partner_id_path", DEFAULT_PARTNER_ID_PATH))
    if role == LOOKUP:
        not_found = shown(settings.get("not_found")) or "skip"
        row["key"] = shown(settings.get("key"))
        row["not_found"] = not_found
        row["not_found_choices"] = _choices(NOT_FOUND_ACTIONS, not_found, NOT_FOUND_LABELS)
        row["ignore_case"] = settings.get("ignore_case") is True
        if "create" in settings:
            row["create"] = request_row(endpoint, CREATE, f"{prefix}.create", settings["create"])
    if role == FIND:
        row["results_path"] = shown(settings.get("results_path"))
        row["match_path"] = shown(settings.get("match_path"))
        row["match"] = shown(settings.get("match"))
        row["list_id_path"] = shown(settings.get("list_id_path", DEFAULT_FIND_LIST_ID_PATH))
        row["ignore_case"] = settings.get("ignore_case") is True
    if role == MAIN and batch and "lookup" in settings:
        row["lookup"] = request_row(endpoint, LOOKUP, f"{prefix}.lookup", settings["lookup"])
    if role == MAIN and endpoint == CREATE_LIST and "find" in settings:
        row["find"] = request_row(endpoint, FIND, f"{prefix}.find", settings["find"])
    return row


def editor_endpoints(integration_type: str, endpoints: Any) -> list[str]:
    """The endpoint sections the editor shows: the type's required ones plus any other
    the draft has (flagged by the checks, removable)."""
    endpoints = endpoints if isinstance(endpoints, dict) else {}
    required = REQUIRED_ENDPOINTS.get(integration_type, ())
    return [name for name in ENDPOINT_ORDER if name in required or name in endpoints]


def editor_form(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the editor form renders, as display strings, from a manifest."""
    doc = normalize_manifest(dict(manifest))
    auth = doc.get("auth")
    if not isinstance(auth, dict):
        auth = {"method": "none"}
    method = shown(auth.get("method")) or "none"
    roles = _auth_roles(auth)
    readers = _auth_readers(auth)
    integration_type = shown(doc.get("integration_type"))
    endpoints = json_object(doc.get("endpoints"))
    required = REQUIRED_ENDPOINTS.get(integration_type, ())
    endpoint_rows = []
    for name in editor_endpoints(integration_type, endpoints):
        endpoint_rows.append(
            {
                **request_row(name, MAIN, f"endpoints.{name}", endpoints.get(name)),
                "name": name,
                "label": ENDPOINT_LABELS[name],
                "short_label": ENDPOINT_SHORT_LABELS[name],
                "help": ENDPOINT_HELP[name],
                "expected": name in required,
                "is_batch": name in BATCH_ENDPOINTS,
            }
        )
    delivery = json_object(doc.get("delivery"))
    concurrency = shown(delivery.get("max_concurrency", MAX_CONCURRENCY))
    return {
        "integration_type": integration_type,
        "auth": {
            "method": method,
            "method_choices": AUTH_CHOICES,
            "header_name": shown(auth.get("header_name", "X-API-Key")),
            "value_template": shown(auth.get("value_template", "$api_key")),
            "hidden": {key: shown(auth.get(key)) for key in AUTH_ROLE_KEYS if key in auth},
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
            "requests_per_second": shown(delivery.get("requests_per_second")),
            "sign_requests": delivery.get("sign_requests") is True,
        },
        "error_action_choices": _choices(ERROR_ACTIONS, "fail", ERROR_ACTION_LABELS),
        # What the "Add" buttons of the field lists clone.
        "blank_custom_field": _custom_field_row({}, 0, {}, set()),
        "blank_mapping_field": _mapping_field_row(
            {"type": "single_select", "required": True, "options": ["user_id"]}, 0
        ),
        "custom_type_choices": _choices(CUSTOM_FIELD_TYPES, "string", FIELD_TYPE_LABELS),
        "mapping_type_choices": _choices(MAPPING_FIELD_TYPES, "string", FIELD_TYPE_LABELS),
    }
