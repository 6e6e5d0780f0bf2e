"""Manifest paths in the editor: the input each one lands on, and how to say it in words.

The engine's diagnostics and the variable tracker point at manifest paths
(`endpoints.add_users.headers.X-Token`, `custom_fields.1.variable`,
`endpoints.add_users.lookup.payload`). The editor needs two
things from such a path: the input to mark and focus (`input_path`, which knows the few
inputs that are not named by their path, see `inputs`) and a place name a person can read
in the problem summary and the history (`describe_path`). `annotate` adds both to a
diagnostic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.editor.inputs import AUTH_ROLE_KEYS
from integrations.editor.labels import ENDPOINT_SHORT_LABELS, KEY_LABELS, REQUEST_LABELS
from portal.params import parse_id

# Which diagnostics of a header concern its name (the rest concern its value).
HEADER_NAME_CODES = frozenset({"invalid_header_name", "reserved_header", "duplicate_header"})


def _header_input(parts: list[str], manifest: Mapping[str, Any], code: str) -> str | None:
    """The header row input of a header path of any request of an endpoint
    (`endpoints.add_users.lookup.headers.Accept`), or None if `parts` is no such path."""
    if len(parts) < 4 or parts[0] != "endpoints":
        return None
    request: Any = (manifest.get("endpoints") or {}).get(parts[1])
    index = 2
    while index < len(parts) and parts[index] in REQUEST_LABELS:
        request = request.get(parts[index]) if isinstance(request, dict) else None
        index += 1
    if index + 1 >= len(parts) or parts[index] != "headers":
        return None
    prefix = ".".join(parts[:index])
    headers = request.get("headers") if isinstance(request, dict) else None
    header = ".".join(parts[index + 1 :])
    if isinstance(headers, dict) and header in headers:
        row = list(headers).index(header)
        suffix = "name" if code in HEADER_NAME_CODES else "value"
        return f"{prefix}.headers.{row}.{suffix}"
    return f"{prefix}.headers"


def input_path(path: str, manifest: Mapping[str, Any], code: str = "") -> str:
    """The editor input (or section) for a manifest path.

    Header paths (`endpoints.add_users.headers.Content-Type`, and the same below a lookup,
    a create or a find request) become their row's input; the variables the integration's
    basic and bearer auth read are edited in the custom fields, so their paths point at the
    auth section (a request's own credentials name them in inputs of their own).
    """
    parts = path.split(".")
    header = _header_input(parts, manifest, code)
    if header is not None:
        return header
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
        while rest and rest[0] in REQUEST_LABELS:
            words.append(REQUEST_LABELS[rest[0]])
            rest = rest[1:]
        if rest and rest[0] == "auth":
            words.append("own credentials")
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
