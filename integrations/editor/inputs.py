"""The editor's inputs: how they are named, and how a stored value shows in one.

Every input of the editor form is named by the manifest path it edits
(`custom_fields.0.variable`, `endpoints.add_users.payload`, `delivery.max_concurrency`), so
a diagnostic, which carries a manifest path, lands on the input to fix. The only inputs
that are not manifest paths are:

- header rows, `endpoints.<name>.headers.<i>.name` / `.value` (the manifest keeps headers
  as an object; `paths.input_path` maps `endpoints.<name>.headers.<header>` back to its
  row);
- `custom_fields.<i>.auth_role`, which says which auth setting reads that field, so that
  renaming the field renames the reference too;
- `custom_fields.<i>.default_option`, the default of a select field, given as the path of
  the chosen option row (or `raw:<value>` for a stored default that is no option);
- `<path>.present`, on an endpoint and on each of its optional parts (a lookup, the
  lookup's create request, create_list's find request, a request's own auth settings):
  the part is in the manifest when its marker is in the form.

A mapping field's default is any JSON value: its input shows text as it is unless that
text would read as another JSON value (`42`, `true`, `"x"`), which is shown quoted
(`show_json_value`, `read_json_value`).

This naming is the contract between the form the templates render (`form_rows`) and the
state the browser posts back (`form_state`), so it lives apart from both. A draft may hold
any JSON (the editor opens drafts with errors so that they can be fixed), so stored values
are read for display through `shown` and `json_object`, never assumed well-formed.
"""

from __future__ import annotations

import json
from typing import Any

RAW_DEFAULT_PREFIX = "raw:"
PRESENT = "present"
# The auth settings that name a custom field (basic and bearer auth).
AUTH_ROLE_KEYS = ("username_variable", "password_variable", "token_variable")


def shown(value: Any) -> str:
    """How a stored value appears in a text input."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def json_object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (a malformed part shows empty)."""
    return value if isinstance(value, dict) else {}


def _as_json(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` is a JSON value this editor can store, else (False, None)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False, None
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:  # 1e999 reads as infinity, which JSON cannot store
        return False, None
    return True, value


def show_json_value(value: Any) -> str:
    """A JSON value in a text input: text as typed unless it would read back as another
    value, everything else as JSON."""
    if isinstance(value, str) and not _as_json(value)[0]:
        return value
    return json.dumps(value, ensure_ascii=False)


def read_json_value(text: str) -> Any:
    """The value `show_json_value` shows as `text`: JSON if it is JSON, else the text."""
    is_json, value = _as_json(text)
    return value if is_json else text
