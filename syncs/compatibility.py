"""Whether a connection can move to another version of its destination by itself.

A new version (an approval, an internal release, a rollback) upgrades a connection without
asking anyone when its Connect modal asks for nothing the connection lacks: the same kind
of integration, no new required field, no field whose kind changed, and the values and
mapping choices the connection holds still valid (a select's value still one of its
options). Otherwise the organisation reconnects, and `upgrade_problem` says why in a
sentence for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.errors import ActionError
from syncengine.connect_values import clean_mapping, clean_values, field_label, fields_of


def _kind(raw: Mapping[str, Any]) -> str:
    return str(raw.get("type") or "string")


def _field_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], key: str, held: Mapping[str, Any], number: int
) -> str | None:
    old_fields, new_fields = fields_of(old, key), fields_of(new, key)
    for variable, raw in new_fields.items():
        label = field_label(raw)
        before = old_fields.get(variable)
        if before is not None and _kind(before) != _kind(raw):
            return f"v{number} changed {label} from {_kind(before)} to {_kind(raw)}"
        if raw.get("required") is True and not held.get(variable):
            if before is None:
                return f"v{number} asks for {label}, a new required field"
            return f"v{number} makes {label} required and this connection has no value for it"
    return None


def upgrade_problem(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    values: Mapping[str, Any],
    mapping: Mapping[str, Any],
    number: int,
) -> str | None:
    """None when a connection holding `values` and `mapping` for the manifest `old` works
    unchanged with the manifest `new` (version `number`); otherwise why it does not."""
    if old.get("integration_type") != new.get("integration_type"):
        return (
            f"v{number} is a {new.get('integration_type')}-based integration, no longer "
            f"{old.get('integration_type')}-based"
        )
    problem = _field_changes(old, new, "custom_fields", values, number) or _field_changes(
        old, new, "mapping_fields", mapping, number
    )
    if problem:
        return problem
    kept_values = {k: v for k, v in values.items() if k in fields_of(new, "custom_fields")}
    kept_mapping = {k: v for k, v in mapping.items() if k in fields_of(new, "mapping_fields")}
    try:
        clean_values(new, kept_values, {})
        clean_mapping(new, kept_mapping)
    except ActionError as error:
        return f"in v{number}, {error.message.rstrip('.')}"
    return None
