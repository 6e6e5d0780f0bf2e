"""Reading partner payloads: member ids and property updates in the shapes partners use.

Integrations write their own payload templates, so the demo partner accepts the common
shapes rather than one exact schema:

- members (add/remove): ``{"userIds": [...]}``, ``{"user_ids": [...]}``,
  ``{"members": [...]}``, ``{"users": [...]}``, ``{"items": [...]}``, ``{"ids": [...]}``,
  JSON:API ``{"data": [...]}`` or a bare array. Each entry is a string (or number), or an
  object carrying one of ``id``, ``user_id``, ``userId``, ``external_id``, ``email``
  (directly or under ``attributes``).
- property updates: the same containers; each entry is an object with an id as above
  and an ``in_cohort`` (or ``inCohort``) flag, directly, under ``properties`` or under
  ``attributes``; other scalar values are stored as properties too.
"""

from __future__ import annotations

from typing import Any

MEMBER_CONTAINER_KEYS = ("userIds", "user_ids", "members", "users", "items", "ids", "data")
ID_KEYS = ("id", "user_id", "userId", "external_id", "externalId", "email")
IN_COHORT_KEYS = ("in_cohort", "inCohort")
NESTED_KEYS = ("properties", "attributes")


class PayloadError(ValueError):
    """The payload does not have a shape the demo partner understands."""


def entries_of(payload: Any) -> list[Any]:
    """The list of entries inside a members or properties payload."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in MEMBER_CONTAINER_KEYS:
            if key in payload:
                value = payload[key]
                if isinstance(value, dict) and isinstance(value.get("attributes"), dict):
                    # JSON:API single resource holding the array in its attributes.
                    return entries_of(value["attributes"])
                if not isinstance(value, list):
                    raise PayloadError(f"{key!r} must be an array")
                return value
    raise PayloadError(
        "expected an array of users, or an object with one of: " + ", ".join(MEMBER_CONTAINER_KEYS)
    )


def entry_id(entry: Any, position: int) -> str:
    """The user id an entry stands for."""
    if isinstance(entry, bool):
        raise PayloadError(f"entry {position} is a boolean, not a user id")
    if isinstance(entry, str | int | float):
        text = str(entry)
        if not text:
            raise PayloadError(f"entry {position} is an empty user id")
        return text
    if isinstance(entry, dict):
        for source in (entry, *(entry.get(k) for k in NESTED_KEYS)):
            if not isinstance(source, dict):
                continue
            for key in ID_KEYS:
                value = source.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                    return str(value)
        raise PayloadError(f"entry {position} has none of the id keys: {', '.join(ID_KEYS)}")
    raise PayloadError(f"entry {position} is neither a user id nor an object")


def member_ids(payload: Any) -> list[str]:
    """The user ids of an add/remove payload."""
    return [entry_id(entry, position) for position, entry in enumerate(entries_of(payload))]


def property_updates(payload: Any) -> list[tuple[str, dict[str, Any]]]:
    """(user id, properties) for each entry of an update payload; in_cohort required."""
    updates = []
    for position, entry in enumerate(entries_of(payload)):
        if not isinstance(entry, dict):
            raise PayloadError(f"entry {position} must be an object with an id and in_cohort")
        user_id = entry_id(entry, position)
        values: dict[str, Any] = {}
        for source in (entry, *(entry.get(k) for k in NESTED_KEYS)):
            if isinstance(source, dict):
                for key, value in source.items():
                    if isinstance(value, str | int | float | bool) or value is None:
                        values[key] = value
        flag = next((values.pop(k) for k in IN_COHORT_KEYS if k in values), None)
        if isinstance(flag, str) and flag.lower() in {"true", "false"}:
            flag = flag.lower() == "true"
        if not isinstance(flag, bool):
            raise PayloadError(f"entry {position} needs in_cohort: true or false")
        for key in ID_KEYS:
            values.pop(key, None)
        values["in_cohort"] = flag
        updates.append((user_id, values))
    return updates
