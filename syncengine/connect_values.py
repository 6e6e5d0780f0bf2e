"""The values an end user gives in an integration's Connect modal (custom fields) and the
mapping choices (which user property each mapping field reads), checked against the
manifest: known fields only, one line of text, a select's value among its options, a
secret of at least `MIN_SECRET_LENGTH` characters, and an empty secret keeping the stored
one. Test settings, reviewers' runs and connections use
the same checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.errors import ActionError
from syncengine.core.manifest.schema import SELECT_TYPES
from syncengine.core.masking import MIN_SECRET_LENGTH
from syncengine.testplan import secret_variables

MAX_VALUE_LENGTH = 2_000
MAX_PROPERTY_NAME_LENGTH = 200


def fields_of(manifest: Mapping[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The manifest's custom or mapping fields by variable (well-formed ones only)."""
    found = manifest.get(key)
    return {
        raw["variable"]: raw
        for raw in (found if isinstance(found, list) else [])
        if isinstance(raw, dict) and isinstance(raw.get("variable"), str)
    }


def option_values(raw: Mapping[str, Any]) -> list[str]:
    """A select field's option values, as text (options may be plain or value/label)."""
    values = []
    for option in raw.get("options") or []:
        value = option.get("value") if isinstance(option, dict) else option
        values.append(str(value))
    return values


def field_label(raw: Mapping[str, Any]) -> str:
    """How the field is named to the person filling it in."""
    return str(raw.get("display_name") or raw.get("variable"))


def clean_values(
    manifest: Mapping[str, Any], given: Mapping[str, Any], stored: Mapping[str, Any]
) -> dict[str, str]:
    """The Connect-modal values after an edit. An empty secret keeps the stored one, so
    forms never need to send secrets back."""
    if not isinstance(given, Mapping):
        raise ActionError("values must be an object of field values.", field="values")
    fields = fields_of(manifest, "custom_fields")
    secret = secret_variables(manifest)
    unknown = sorted(set(given) - set(fields))
    if unknown:
        known = ", ".join(fields) or "none"
        raise ActionError(
            f"{unknown[0]!r} is not a field of this integration (its fields: {known}).",
            field=f"values.{unknown[0]}",
        )
    cleaned = {name: value for name, value in stored.items() if name in fields}
    for name, value in given.items():
        raw = fields[name]
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ActionError(f"{field_label(raw)} must be text.", field=f"values.{name}")
        value = value.strip()
        if len(value) > MAX_VALUE_LENGTH:
            raise ActionError(
                f"{field_label(raw)} is longer than {MAX_VALUE_LENGTH} characters.",
                field=f"values.{name}",
            )
        if "\r" in value or "\n" in value or "\x00" in value:
            raise ActionError(f"{field_label(raw)} must be on one line.", field=f"values.{name}")
        if name in secret and value == "":
            continue
        if name in secret and len(value) < MIN_SECRET_LENGTH:
            # A short secret cannot be told from ordinary text, so it would be masked only
            # where it stands as a whole value (see syncengine.core.masking).
            raise ActionError(
                f"{field_label(raw)} is a secret: it must be at least {MIN_SECRET_LENGTH} "
                "characters long.",
                field=f"values.{name}",
            )
        if value and raw.get("type") in SELECT_TYPES:
            options = option_values(raw)
            if value not in options:
                raise ActionError(
                    f"{field_label(raw)} must be one of {', '.join(options)} (got {value!r}).",
                    field=f"values.{name}",
                )
        cleaned[name] = value
    return cleaned


def clean_mapping(manifest: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, str]:
    """The mapping choices: which user property each mapping field reads."""
    if not isinstance(given, Mapping):
        raise ActionError("mapping must be an object of mapping choices.", field="mapping")
    fields = fields_of(manifest, "mapping_fields")
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ActionError(
            f"{unknown[0]!r} is not a mapping field of this integration.",
            field=f"mapping.{unknown[0]}",
        )
    cleaned: dict[str, str] = {}
    for name, raw in fields.items():
        value = given.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > MAX_PROPERTY_NAME_LENGTH:
            raise ActionError(
                f"{field_label(raw)} must be a user property name.", field=f"mapping.{name}"
            )
        value = value.strip()
        if raw.get("type") in SELECT_TYPES and value not in option_values(raw):
            raise ActionError(
                f"{field_label(raw)} must be one of {', '.join(option_values(raw))}.",
                field=f"mapping.{name}",
            )
        cleaned[name] = value
    return cleaned
