"""The editor's posted form state, read back into a manifest.

The browser posts the form as one JSON object (`state`), which keeps large configurations
under Django's limit on the number of form fields; a plain form post works the same. The
inputs are named after the manifest paths they edit (see `inputs`), so reading them is
mostly a matter of collecting rows by index; what is typed is kept as typed (a number that
does not parse stays text) so that the checks, not this module, say what is wrong with it.

The form edits every key a manifest of either version knows, except the logo (uploaded
apart) and the display name and type (Part 1 edits them). An endpoint's lookup, the
lookup's create request, create_list's find request and a request's own auth settings are
parts of the form only when the partner added them (each part's inputs then include a
`<path>.present` marker); a create request is read only when the lookup's `not_found` is
`create`, and a mapping field's default only when its `if_missing` is `default`, so
that what the partner hid is not sent. The manifest version follows what is used: 2 as
soon as any version-2 construct is (`needed_version`), and never lower than the stored
draft's.

Keys no version knows are copied from the stored draft (`kept`), so that saving a draft
imported with them loses nothing: endpoints are matched by name, their other requests by
place, fields by variable, and a field whose variable was just renamed by the one stored
field whose variable left the form.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from integrations.editor.inputs import (
    AUTH_ROLE_KEYS,
    PRESENT,
    RAW_DEFAULT_PREFIX,
    json_object,
    read_json_value,
)
from portal.params import parse_id
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.core.manifest.schema import (
    AUTH_KEYS,
    BATCH,
    BATCH_ENDPOINTS,
    CREATE,
    CREATE_KEYS,
    CREATE_LIST,
    DEFAULT_BATCH_SIZE,
    DEFAULT_LIST_ID_PATH,
    DEFAULT_LOOKUP_BATCH_SIZE,
    DELIVERY_KEYS,
    ENDPOINT_KEYS,
    ENDPOINT_ORDER,
    FIND,
    FIND_KEYS,
    LOOKUP,
    LOOKUP_KEYS,
    MAIN,
    MANIFEST_VERSION,
    MANIFEST_VERSIONS,
    MAX_CONCURRENCY,
    SELECT_TYPES,
)
from syncengine.core.manifest.version import needed_version

# What the form edits, per object; everything else is kept from the stored draft.
FORM_TOP_LEVEL_KEYS = frozenset(
    {
        "manifest_version",
        "display_name",
        "integration_type",
        "slugify_cohort_name",
        "auth",
        "custom_fields",
        "mapping_fields",
        "endpoints",
        "delivery",
        # The logo is uploaded apart and stored apart (integrations.manifests).
        "logo_png_base64",
    }
)
FORM_CUSTOM_FIELD_KEYS = frozenset(
    {
        "variable",
        "display_name",
        "type",
        "required",
        "secret",
        "help_text",
        "options",
        "default",
        "if_missing",
    }
)
FORM_MAPPING_FIELD_KEYS = frozenset(
    {
        "variable",
        "display_name",
        "type",
        "required",
        "help_text",
        "options",
        "if_missing",
        "default",
    }
)
FORM_ENDPOINT_KEYS = frozenset(key for keys in ENDPOINT_KEYS.values() for key in keys)
# The keys each of an endpoint's other requests has (all edited by the form).
FORM_REQUEST_KEYS = {
    LOOKUP: frozenset(LOOKUP_KEYS),
    CREATE: frozenset(CREATE_KEYS),
    FIND: frozenset(FIND_KEYS),
}
DEFAULT_METHODS = {MAIN: "POST", LOOKUP: "POST", CREATE: "POST", FIND: "GET"}

STATE_FIELD = "state"
MAX_STATE_BYTES = 8 * 1024 * 1024
MAX_NUMBER_LENGTH = 30

_INT = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")

FormState = Mapping[str, str]


class FormStateError(ValueError):
    """The editor sent something that is not a form state."""


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


class _IndexedState(dict[str, str]):
    """A form state with the row numbers under every prefix worked out in one pass over
    its keys: `_indices` is asked for every list of every row, and a large form has
    hundreds of inputs."""

    def __init__(self, state: FormState):
        super().__init__(state)
        rows: dict[str, set[int]] = {}
        for key in self:
            parts = key.split(".")
            for position in range(1, len(parts)):
                part = parts[position]
                if not part.isdigit():
                    continue
                index = parse_id(part)
                if index is not None:
                    rows.setdefault(".".join(parts[:position]), set()).add(index)
        self.rows = {prefix: sorted(found) for prefix, found in rows.items()}


def _indices(state: FormState, prefix: str) -> list[int]:
    """The row numbers present under `prefix` (`custom_fields` -> [0, 1, 2])."""
    if isinstance(state, _IndexedState):
        return state.rows.get(prefix, [])
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
    if_missing = _text(state, f"{prefix}.if_missing")
    if if_missing:
        field["if_missing"] = if_missing
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
    if field_type in SELECT_TYPES:
        field["options"] = [
            _text(state, f"{prefix}.options.{j}").strip()
            for j in _indices(state, f"{prefix}.options")
        ]
    if_missing = _text(state, f"{prefix}.if_missing")
    if if_missing:
        field["if_missing"] = if_missing
    if if_missing == "default":
        field["default"] = read_json_value(_text(state, f"{prefix}.default"))
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


def _optional(state: FormState, key: str) -> str | None:
    """A stripped text input, or None when it is empty."""
    return _text(state, key).strip() or None


def _headers_from_form(state: FormState, prefix: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for j in _indices(state, f"{prefix}.headers"):
        header_name = _text(state, f"{prefix}.headers.{j}.name").strip()
        value = _text(state, f"{prefix}.headers.{j}.value")
        if header_name or value:
            headers[header_name] = value
    return headers


def _errors_from_form(state: FormState, prefix: str) -> list[dict[str, Any]]:
    errors = []
    for j in _indices(state, f"{prefix}.errors"):
        error_prefix = f"{prefix}.errors.{j}"
        status = _text(state, f"{error_prefix}.status")
        errors.append(
            {
                "status": _number(status, integer=True) if status.strip() else "",
                "sub_code": _optional(state, f"{error_prefix}.sub_code"),
                "sub_code_path": _optional(state, f"{error_prefix}.sub_code_path"),
                "reason": _text(state, f"{error_prefix}.reason"),
                "message": _text(state, f"{error_prefix}.message"),
                "action": _text(state, f"{error_prefix}.action") or "fail",
            }
        )
    return errors


def _auth_override_from_form(state: FormState, prefix: str) -> dict[str, Any]:
    """A request's own auth settings: the variables it reads are typed as names."""
    method = _text(state, f"{prefix}.method") or "none"
    auth: dict[str, Any] = {"method": method}
    if method == "api_key_header":
        auth["header_name"] = _text(state, f"{prefix}.header_name").strip()
        auth["value_template"] = _text(state, f"{prefix}.value_template")
    elif method == "basic":
        auth["username_variable"] = _text(state, f"{prefix}.username_variable").strip()
        # An empty password field: Basic auth sends no password.
        auth["password_variable"] = _optional(state, f"{prefix}.password_variable")
    elif method == "bearer":
        auth["token_variable"] = _text(state, f"{prefix}.token_variable").strip()
    return auth


def _set_path(
    target: dict[str, Any], key: str, state: FormState, prefix: str, *, empty: Any = None
) -> None:
    """`target[key]` from a path input: stripped text, or when empty `empty` (None), or
    no key at all if `empty` is `...` (normalising then fills in the default)."""
    text = _text(state, f"{prefix}.{key}").strip()
    if text:
        target[key] = text
    elif empty is not ...:
        target[key] = empty


def _request_from_form(state: FormState, prefix: str, endpoint: str, role: str) -> dict[str, Any]:
    """One request of an endpoint (its own, its lookup, the lookup's create, the find)."""
    request: dict[str, Any] = {
        "method": _text(state, f"{prefix}.method") or DEFAULT_METHODS[role],
        "url": _text(state, f"{prefix}.url").strip(),
        "headers": _headers_from_form(state, prefix),
        "payload": _text(state, f"{prefix}.payload"),
    }
    if endpoint in BATCH_ENDPOINTS and role != FIND:
        request["item_template"] = _text(state, f"{prefix}.item_template")
        batch_size = _text(state, f"{prefix}.batch_size")
        default_size = DEFAULT_BATCH_SIZE if role == MAIN else DEFAULT_LOOKUP_BATCH_SIZE
        request["batch_size"] = (
            _number(batch_size, integer=True) if batch_size.strip() else default_size
        )
        mode = _text(state, f"{prefix}.mode") or BATCH
        # An endpoint's own request is sent in batches unless it says otherwise (version 1
        # has no mode); a lookup or a create always says which.
        if role != MAIN or mode != BATCH:
            request["mode"] = mode
    if role == MAIN and endpoint == CREATE_LIST:
        request["list_id_path"] = _text(state, f"{prefix}.list_id_path").strip() or (
            DEFAULT_LIST_ID_PATH
        )
    if role == LOOKUP:
        request["key"] = _text(state, f"{prefix}.key")
    if role in (LOOKUP, CREATE):
        _set_path(request, "results_path", state, prefix, empty=...)
        _set_path(request, "result_key_path", state, prefix)
        _set_path(request, "partner_id_path", state, prefix, empty=...)
    if role == FIND:
        _set_path(request, "results_path", state, prefix)
        _set_path(request, "match_path", state, prefix)
        match = _text(state, f"{prefix}.match")
        request["match"] = match if match.strip() else None
        _set_path(request, "list_id_path", state, prefix, empty=...)
    if role in (LOOKUP, FIND):
        request["ignore_case"] = _checked(state, f"{prefix}.ignore_case")
    if role == LOOKUP:
        request["not_found"] = _text(state, f"{prefix}.not_found") or "skip"
    request["errors"] = _errors_from_form(state, prefix)
    if f"{prefix}.auth.{PRESENT}" in state:
        request["auth"] = _auth_override_from_form(state, f"{prefix}.auth")
    if role == LOOKUP and request["not_found"] == "create" and _has_part(state, f"{prefix}.create"):
        request["create"] = _request_from_form(state, f"{prefix}.create", endpoint, CREATE)
    if role == MAIN and endpoint in BATCH_ENDPOINTS and _has_part(state, f"{prefix}.lookup"):
        request["lookup"] = _request_from_form(state, f"{prefix}.lookup", endpoint, LOOKUP)
    if role == MAIN and endpoint == CREATE_LIST and _has_part(state, f"{prefix}.find"):
        request["find"] = _request_from_form(state, f"{prefix}.find", endpoint, FIND)
    return request


def _has_part(state: FormState, prefix: str) -> bool:
    return f"{prefix}.{PRESENT}" in state


def _pair_fields(
    fields: list[dict[str, Any]], stored: list[Any]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(form field, stored field) pairs: by variable, then a renamed field by the one
    stored field whose variable is no longer in the form."""
    stored_fields = [field for field in stored if isinstance(field, dict)]
    by_variable: dict[Any, dict[str, Any]] = {}
    for field in stored_fields:
        by_variable.setdefault(field.get("variable"), field)
    form_variables = {field.get("variable") for field in fields}
    pairs = [
        (field, by_variable[field["variable"]])
        for field in fields
        if field["variable"] in by_variable
    ]
    unmatched_form = [field for field in fields if field["variable"] not in by_variable]
    left = [field for field in stored_fields if field.get("variable") not in form_variables]
    if len(unmatched_form) == 1 and len(left) == 1:
        pairs.append((unmatched_form[0], left[0]))
    return pairs


def _keep(target: dict[str, Any], stored: Any, edited: frozenset[str]) -> None:
    """Copy the keys of `stored` that the form does not edit into `target`."""
    if not isinstance(stored, dict):
        return
    for key, value in stored.items():
        if key not in edited and key not in target:
            target[key] = copy.deepcopy(value)


def _keep_request(request: dict[str, Any], stored: Any, edited: frozenset[str]) -> None:
    """`_keep` for one request and, recursively, its other requests and auth settings."""
    _keep(request, stored, edited)
    stored = json_object(stored)
    for role in (LOOKUP, CREATE, FIND):
        if isinstance(request.get(role), dict):
            _keep_request(request[role], stored.get(role), FORM_REQUEST_KEYS[role])
    auth, stored_auth = request.get("auth"), json_object(stored.get("auth"))
    if isinstance(auth, dict) and stored_auth.get("method") == auth.get("method"):
        _keep(auth, stored_auth, frozenset(AUTH_KEYS.get(str(auth.get("method")), ("method",))))


def keep_unedited(manifest: dict[str, Any], kept: Mapping[str, Any] | None) -> dict[str, Any]:
    """`manifest` with what the form does not edit copied from the stored draft `kept`."""
    if not isinstance(kept, Mapping):
        return manifest
    _keep(manifest, dict(kept), FORM_TOP_LEVEL_KEYS)
    for key, edited in (
        ("custom_fields", FORM_CUSTOM_FIELD_KEYS),
        ("mapping_fields", FORM_MAPPING_FIELD_KEYS),
    ):
        stored = kept.get(key)
        if isinstance(stored, list):
            for field, previous in _pair_fields(manifest[key], stored):
                _keep(field, previous, edited)
    stored_endpoints = kept.get("endpoints")
    if isinstance(stored_endpoints, dict):
        for name, stored in stored_endpoints.items():
            if name in manifest["endpoints"]:
                _keep_request(manifest["endpoints"][name], stored, FORM_ENDPOINT_KEYS)
            elif name not in ENDPOINT_ORDER:
                manifest["endpoints"][name] = copy.deepcopy(stored)
    auth, stored_auth = manifest["auth"], kept.get("auth")
    if isinstance(stored_auth, dict) and stored_auth.get("method") == auth.get("method"):
        _keep(auth, stored_auth, frozenset(AUTH_KEYS.get(auth.get("method"), ("method",))))
    _keep(manifest["delivery"], kept.get("delivery"), frozenset(DELIVERY_KEYS))
    return manifest


def manifest_from_form(
    state: FormState,
    *,
    display_name: str,
    integration_type: str,
    auth_method: str | None = None,
    kept: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest (without logo) the editor's inputs describe, normalised.

    `display_name` and `integration_type` come from the stored draft: Part 1 edits them.
    `auth_method` overrides the posted method (the auth switch reads the form as it was
    under the previous method). `kept` is the stored draft, whose keys the form does not
    edit are kept (see the module docstring).
    """
    state = _IndexedState(state)
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
        name: _request_from_form(state, f"endpoints.{name}", name, MAIN)
        for name in ENDPOINT_ORDER
        if name in present
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
    manifest = keep_unedited(manifest, kept)
    stored_version = kept.get("manifest_version") if isinstance(kept, Mapping) else None
    manifest["manifest_version"] = max(
        needed_version(manifest),
        stored_version
        if stored_version in MANIFEST_VERSIONS and not isinstance(stored_version, bool)
        else MANIFEST_VERSION,
    )
    return normalize_manifest(manifest)
