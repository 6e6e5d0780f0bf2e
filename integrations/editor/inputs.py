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
  the chosen option row (or `raw:<value>` for a stored default that is no option).

This naming is the contract between the form the templates render (`form_rows`) and the
state the browser posts back (`form_state`), so it lives apart from both. A draft may hold
any JSON (the editor opens drafts with errors so that they can be fixed), so stored values
are read for display through `shown` and `json_object`, never assumed well-formed.
"""

from __future__ import annotations

import json
from typing import Any

RAW_DEFAULT_PREFIX = "raw:"
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
