"""Changing a draft's auth method without losing the partner's fields.

Each auth method reads its secrets from custom fields (bearer's `bearer_token`, basic's
`api_key` and `secret_key`). Switching methods swaps those fields for the new method's, in
place, and can bring back what the partner had under a method they return to. It is a
rule about manifests, separate from reading or rendering the form: the editor's view reads
the form, switches, and renders the auth and custom field sections of the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.editor.inputs import json_object
from syncengine.core.manifest.normalize import default_auth, default_auth_fields, normalize_manifest
from syncengine.core.manifest.schema import AUTH_METHODS
from syncengine.core.manifest.variables import auth_variable_references

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
            if (replacement := replaced[i]) is not None:
                result.append(replacement)
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
    auth = json_object(doc.get("auth"))
    return {
        "auth": auth,
        "fields": [fields[i] for i in _auth_field_positions(auth, fields)],
    }


def _auth_field_positions(auth: Any, fields: list[dict[str, Any]]) -> list[int]:
    """Where the custom fields `auth` reads are, in the order it reads them."""
    where: dict[Any, int] = {}
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
