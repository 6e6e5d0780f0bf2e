"""The end user's Connect modal, as the testing panel and the review pages preview it.

When a cohort owner connects the integration, they fill in its custom fields and map its
mapping fields in a modal. The editor previews that modal for the draft being edited and
reviewers see it for a submitted version, so it is built here, from any manifest, apart
from the rest of the panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.editor.inputs import shown
from syncengine.core.manifest.schema import CUSTOM_FIELD_TYPES, SELECT_TYPES
from syncengine.core.manifest.variables import collect_auth_references, missing_value_note


def _select_options(options: Any) -> list[tuple[str, str]]:
    pairs = []
    for option in options if isinstance(options, list) else []:
        if isinstance(option, dict):
            value = shown(option.get("value"))
            pairs.append((value, shown(option.get("label")) or value))
        else:
            pairs.append((shown(option), shown(option)))
    return pairs


def _help(field: Mapping[str, Any], *, mapping: bool) -> str:
    """The field's help text, followed by what happens when it has no value (version 2)."""
    parts = [shown(field.get("help_text")), missing_value_note(field, mapping=mapping)]
    return " ".join(part for part in parts if part)


def connect_modal(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The end user's Connect modal: every custom field and mapping field with its widget.

    A field any auth settings read (the integration's, or an endpoint's override) is a
    secret whether or not it is marked so; a field's `if_missing` is said in its help."""
    auth_variables = {use.variable for use in collect_auth_references(dict(manifest))}
    fields = []
    for i, field in enumerate(manifest.get("custom_fields") or []):
        if not isinstance(field, dict):
            continue
        field_type = field.get("type") if field.get("type") in CUSTOM_FIELD_TYPES else "string"
        fields.append(
            {
                "id": f"modal-custom-{i}",
                "variable": shown(field.get("variable")),
                "label": shown(field.get("display_name")) or shown(field.get("variable")),
                "type": field_type,
                "required": field.get("required") is True,
                "secret": field.get("secret") is True or field.get("variable") in auth_variables,
                "help_text": _help(field, mapping=False),
                "options": _select_options(field.get("options")),
                "default": shown(field.get("default")),
            }
        )
    mappings = []
    for i, field in enumerate(manifest.get("mapping_fields") or []):
        if not isinstance(field, dict):
            continue
        mappings.append(
            {
                "id": f"modal-mapping-{i}",
                "variable": shown(field.get("variable")),
                "label": shown(field.get("display_name")) or shown(field.get("variable")),
                "type": field.get("type") if field.get("type") in SELECT_TYPES else "string",
                "required": field.get("required") is True,
                "help_text": _help(field, mapping=True),
                "options": _select_options(field.get("options")),
            }
        )
    return {
        "title": shown(manifest.get("display_name")) or "your integration",
        "fields": fields,
        "mappings": mappings,
    }
