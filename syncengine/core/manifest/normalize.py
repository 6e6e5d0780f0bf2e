"""Loading and normalising manifests: export -> import -> export is byte-identical.

`normalize_manifest` and `canonical_json` give every manifest one form: known keys in the
documented order with defaults filled in (see `schema`), unknown keys kept (sorted, after
the known ones) so that nothing a partner wrote is silently dropped. `load_manifest`
decodes a manifest's JSON text strictly. The defaults a new draft starts from are here
too (`starter_manifest`, `default_auth`, `default_auth_fields`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from syncengine.core.diagnostic_codes import INVALID_JSON, INVALID_TYPE, TOO_DEEP
from syncengine.core.json_depth import JsonTooDeep, decode_json
from syncengine.core.manifest.schema import (
    AUTH_DEFAULTS,
    AUTH_KEYS,
    AUTH_METHODS,
    BATCH_ENDPOINTS,
    CREATE_DEFAULTS,
    CREATE_KEYS,
    CUSTOM_FIELD_DEFAULTS,
    CUSTOM_FIELD_KEYS,
    DELIVERY_DEFAULTS,
    DELIVERY_KEYS,
    ENDPOINT_DEFAULTS,
    ENDPOINT_KEYS,
    ENDPOINT_ORDER,
    ERROR_DEFAULTS,
    ERROR_KEYS,
    FIND_DEFAULTS,
    FIND_KEYS,
    INTEGRATION_TYPES,
    LOOKUP_DEFAULTS,
    LOOKUP_KEYS,
    MAPPING_FIELD_DEFAULTS,
    MAPPING_FIELD_KEYS,
    OPTION_KEYS,
    REQUIRED_ENDPOINTS,
    SELECT_TYPES,
    TOP_LEVEL_DEFAULTS,
    TOP_LEVEL_KEYS,
)
from syncengine.core.nul import dotted_path
from syncengine.core.types import Diagnostic


def not_an_object() -> Diagnostic:
    """The problem with a manifest that is not a JSON object at all."""
    return Diagnostic("error", INVALID_TYPE, "a manifest must be a JSON object", "")


class ManifestError(ValueError):
    """A manifest that cannot be used; `diagnostics` says why and where."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        errors = [d for d in diagnostics if d.is_error] or diagnostics
        summary = "; ".join(f"{d.path or '(manifest)'}: {d.message}" for d in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"invalid manifest: {summary}{more}")


def load_manifest(data: str | bytes) -> Any:
    """Decode a manifest's JSON text, refusing duplicate keys, NaN/Infinity and nesting
    deeper than `json_depth.MAX_JSON_DEPTH`.

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
        return decode_json(
            text, object_pairs_hook=refuse_duplicates, parse_constant=refuse_constant
        )
    except JsonTooDeep as error:
        raise ManifestError(
            [Diagnostic("error", TOO_DEEP, str(error), dotted_path(error.path))]
        ) from None
    except json.JSONDecodeError as error:
        raise ManifestError(
            [Diagnostic("error", INVALID_JSON, error.msg, "", error.lineno, error.colno)]
        ) from None
    except (ValueError, RecursionError) as error:
        raise ManifestError([Diagnostic("error", INVALID_JSON, str(error), "")]) from None


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
    return _settle_options(normalized, SELECT_TYPES)


def _settle_options(field: dict[Any, Any], select_types: frozenset[str]) -> dict[Any, Any]:
    """Select fields always carry `options`; other fields carry them only if non-empty.

    An empty `options` left over on a string field means nothing, so it is dropped; a
    non-empty one is kept for `check_manifest` to report.
    """
    field_type = field.get("type")
    if isinstance(field_type, str) and field_type in select_types:
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


def _normalize_errors(errors: Any) -> Any:
    return _normalize_list(errors, _normalize_error)


def _normalize_create(create: Any) -> Any:
    if not isinstance(create, dict):
        return copy.deepcopy(create)
    return _ordered(
        create,
        CREATE_KEYS,
        CREATE_DEFAULTS,
        {"errors": _normalize_errors, "auth": _normalize_auth},
    )


def _normalize_lookup(lookup: Any) -> Any:
    if not isinstance(lookup, dict):
        return copy.deepcopy(lookup)
    return _ordered(
        lookup,
        LOOKUP_KEYS,
        LOOKUP_DEFAULTS,
        {"errors": _normalize_errors, "auth": _normalize_auth, "create": _normalize_create},
    )


def _normalize_find(find: Any) -> Any:
    if not isinstance(find, dict):
        return copy.deepcopy(find)
    return _ordered(
        find, FIND_KEYS, FIND_DEFAULTS, {"errors": _normalize_errors, "auth": _normalize_auth}
    )


def _normalize_endpoint(name: str, endpoint: Any) -> Any:
    if not isinstance(endpoint, dict):
        return copy.deepcopy(endpoint)
    return _ordered(
        endpoint,
        ENDPOINT_KEYS[name],
        ENDPOINT_DEFAULTS,
        {
            "errors": _normalize_errors,
            "auth": _normalize_auth,
            "lookup": _normalize_lookup,
            "find": _normalize_find,
        },
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
        raise ManifestError([not_an_object()])
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
    return _ordered({"method": method}, AUTH_KEYS[method], AUTH_DEFAULTS)


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
