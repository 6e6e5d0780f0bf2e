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
from syncengine.core.manifest.schema import CUSTOM_FIELD_TYPES


def _select_options(options: Any) -> list[tuple[str, str]]:
    pairs = []
    for option in options if isinstance(options, list) else []:
        if isinstance(option, dict):
            value = shown(option.get("value"))
            pairs.append((value, shown(option.get("label")) or value))
        else:
            pairs.append((shown(option), shown(option)))
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
                "variable": shown(field.get("variable")),
                "label": shown(field.get("display_name")) or shown(field.get("variable")),
                "type": field_type,
                "required": field.get("required") is True,
                "secret": field.get("secret") is True,
                "help_text": shown(field.get("help_text")),
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
                "type": "single_select" if field.get("type") == "single_select" else "string",
                "required": field.get("required") is True,
                "help_text": shown(field.get("help_text")),
                "options": _select_options(field.get("options")),
            }
        )
    return {
        "title": shown(manifest.get("display_name")) or "your integration",
        "fields": fields,
        "mappings": mappings,
    }
