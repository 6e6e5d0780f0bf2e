"""The optional parts of an endpoint, and what a newly added one starts with.

An endpoint of a version-2 manifest may have parts a version-1 one has not: add, remove
and update a lookup of partner ids (and the lookup a create request for the users it does
not find), create_list a find request, and every one of these requests its own auth
settings. The editor shows a part only once the partner adds it, and then fetches its
inputs (`new_part`) filled with a starting point drawn from the draft: the endpoint's
host and headers, the first mapping field as the lookup key, the integration's auth
settings as the credentials to change. The checks guide the rest.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from integrations.editor.form_rows import auth_override_row, request_row
from integrations.editor.inputs import json_object
from syncengine.core.manifest.schema import (
    BATCH_ENDPOINTS,
    CREATE,
    CREATE_LIST,
    FIND,
    LOOKUP,
    PER_USER,
    VARIABLE_NAME,
)

AUTH_PART = "auth"
PART_KINDS = (LOOKUP, CREATE, FIND, AUTH_PART)
# The key a lookup starts with when the draft has no mapping field yet.
FALLBACK_KEY_VARIABLE = "email"


def _request_prefixes(endpoint: str) -> dict[str, str]:
    """The requests of `endpoint` that may carry a part, by manifest path: role."""
    base = f"endpoints.{endpoint}"
    if endpoint in BATCH_ENDPOINTS:
        return {base: "main", f"{base}.lookup": LOOKUP, f"{base}.lookup.create": CREATE}
    return {base: "main", f"{base}.find": FIND}


def part_at(path: str) -> tuple[str, str] | None:
    """(kind, endpoint) of the part at manifest path `path`, or None if there is none
    there (`endpoints.add_users.lookup` -> (lookup, add_users))."""
    parts = path.split(".")
    if len(parts) < 3 or parts[0] != "endpoints":
        return None
    endpoint = parts[1]
    if endpoint not in BATCH_ENDPOINTS and endpoint != CREATE_LIST:
        return None
    prefixes = _request_prefixes(endpoint)
    if parts[-1] == AUTH_PART and ".".join(parts[:-1]) in prefixes:
        return AUTH_PART, endpoint
    role = prefixes.get(path)
    if role in (LOOKUP, CREATE, FIND):
        return role, endpoint
    return None


def _origin(url: Any) -> str:
    """`https://host/` of an endpoint's URL, where the partner's other requests most
    likely go too; `https://` when it has none yet."""
    if not isinstance(url, str):
        return "https://"
    try:
        split = urlsplit(url.strip())
    except ValueError:
        return "https://"
    if split.scheme in ("http", "https") and split.netloc:
        return f"{split.scheme}://{split.netloc}/"
    return "https://"


def _key_variable(manifest: Mapping[str, Any]) -> str:
    for field in manifest.get("mapping_fields") or []:
        variable = field.get("variable") if isinstance(field, dict) else None
        if isinstance(variable, str) and VARIABLE_NAME.fullmatch(variable):
            return variable
    return FALLBACK_KEY_VARIABLE


def starter(kind: str, endpoint: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a newly added part of `endpoint` starts with."""
    if kind == AUTH_PART:
        auth = manifest.get("auth")
        return copy.deepcopy(auth) if isinstance(auth, dict) else {"method": "none"}
    settings = json_object(json_object(manifest.get("endpoints")).get(endpoint))
    origin = _origin(settings.get("url"))
    headers = copy.deepcopy(json_object(settings.get("headers")))
    variable = _key_variable(manifest)
    if kind == LOOKUP:
        return {
            "method": "POST",
            "url": f"{origin}search",
            "headers": headers,
            "payload": json.dumps({"keys": "$items"}).replace('"$items"', "$items"),
            "item_template": f'"${variable}"',
            "key": f"${variable}",
            "results_path": "results",
            "result_key_path": variable,
            "partner_id_path": "id",
            "not_found": "skip",
        }
    if kind == CREATE:
        return {
            "method": "POST",
            "url": origin,
            "headers": headers,
            "mode": PER_USER,
            "payload": json.dumps({variable: f"${variable}"}),
            "partner_id_path": "id",
        }
    return {
        "method": "GET",
        "url": (settings["url"].strip() if isinstance(settings.get("url"), str) else "") or origin,
        "headers": headers,
        "results_path": "lists",
        "match_path": "name",
        "match": "$cohort_name",
        "list_id_path": "id",
    }


def new_part(manifest: Mapping[str, Any], path: str) -> tuple[str, dict[str, Any]]:
    """(kind, form row) of a part the partner adds at `path`, filled with its starter.

    Raises `ValueError` when `path` is no place for a part.
    """
    found = part_at(path)
    if found is None:
        raise ValueError(f"no part can be added at {path!r}")
    kind, endpoint = found
    settings = starter(kind, endpoint, manifest)
    if kind == AUTH_PART:
        return kind, auth_override_row(path, settings)
    return kind, request_row(endpoint, kind, path, settings)
