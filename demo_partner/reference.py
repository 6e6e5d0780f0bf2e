"""What the demo partner's API is, told to people: its own page shows it, and the portal's
test page shows it beside a draft that calls the demo partner.

Kept as data (method, path, body, answer) so that both render it their own way; the tests
of the server check that every example here is what it really answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from demo_partner.api import ID_KEYS, IN_COHORT_KEYS, MEMBER_CONTAINER_KEYS
from demo_partner.credentials import DEMO_API_KEY, DEMO_TOKEN

CREDENTIALS = f"Authorization: Bearer {DEMO_TOKEN}  (or X-API-Key: {DEMO_API_KEY})"


@dataclass(frozen=True)
class Operation:
    """One call of the demo partner's API, with an example body and its answer."""

    api: str  # "list" or "property"
    method: str
    path: str
    body: str
    status: int
    answer: str
    note: str


OPERATIONS = (
    Operation(
        "list",
        "POST",
        "/v1/lists",
        '{"name": "Power users"}',
        201,
        '{"data": {"id": "lst_1a2b3c", "name": "Power users"}}',
        "The new list's id comes back at data.id: that is the list_id_path.",
    ),
    Operation(
        "list",
        "POST",
        "/v1/lists/{list_id}/members",
        '{"userIds": ["user-1", "user-2"]}',
        200,
        '{"data": {"list_id": "lst_1a2b3c", "received": 2, "added": 2, "member_count": 2}}',
        "Adds users to the list; an unknown list id is a 404.",
    ),
    Operation(
        "list",
        "DELETE",
        "/v1/lists/{list_id}/members",
        '{"userIds": ["user-2"]}',
        200,
        '{"data": {"list_id": "lst_1a2b3c", "received": 1, "removed": 1, "member_count": 1}}',
        "Removes users; removing someone not on the list is not an error.",
    ),
    Operation(
        "property",
        "POST",
        "/v1/users/properties",
        '{"users": [{"user_id": "user-1", "in_cohort": true}]}',
        200,
        '{"data": {"updated": 1}}',
        "Sets in_cohort on each user (PUT and PATCH work too).",
    ),
)

BODY_SHAPES = (
    "Users arrive in an array, bare or under one of "
    + ", ".join(MEMBER_CONTAINER_KEYS)
    + "; each is an id, or an object with one of "
    + ", ".join(ID_KEYS)
    + ". Property updates also carry "
    + " or ".join(IN_COHORT_KEYS)
    + "."
)
ERRORS = (
    'Errors answer {"error": {"code": "E_AUTH", "message": "…"}}: 401 E_AUTH for wrong '
    "credentials, 404 E_NOT_FOUND for an unknown list, 400 E_VALIDATION for a body it cannot "
    "read."
)


def operations(api: str | None = None) -> tuple[Operation, ...]:
    """The calls of one API ("list" or "property"), or all of them."""
    return tuple(op for op in OPERATIONS if api is None or op.api == api)
