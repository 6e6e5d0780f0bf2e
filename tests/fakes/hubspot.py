"""A fake of HubSpot's CRM API (https://api.hubapi.com): Lists v3 and contacts, written
from its public reference (the OpenAPI specs its client libraries are generated from).

What it holds to, as the reference does:

- `Authorization: Bearer <private app token>` (401 `INVALID_AUTHENTICATION` otherwise);
  JSON bodies with `Content-Type: application/json` (415 otherwise);
- `POST /crm/v3/lists/` `{"name", "objectTypeId", "processingType"}` -> 200 `{"list":
  {...}}`; names are unique among lists (400 otherwise); processingType MANUAL, SNAPSHOT
  or DYNAMIC; `GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}` -> 200
  `{"list"}` or 404;
- `PUT /crm/v3/lists/{listId}/memberships/add` and `/remove` with a JSON array of record
  id strings -> 200 `{"recordsIdsAdded" | "recordIdsRemoved", "recordIdsMissing"}`;
  records that do not exist are reported missing, not added; only MANUAL and SNAPSHOT
  lists take them; an unknown list is 404;
- `POST /crm/v3/objects/contacts/batch/read` `{"idProperty": "email", "inputs": [{"id"}],
  "properties"}`, at most 100 inputs -> 200, or 207 with `errors` when some were not
  found; `POST .../batch/upsert` `{"inputs": [{"idProperty", "id", "properties"}]}` -> 200;
  `POST .../batch/update` `{"inputs": [{"id", "properties"}]}` with string values only
  (400 otherwise), ids HubSpot issued (404 otherwise), properties that exist.

Error bodies are `{"status": "error", "message", "correlationId", "category"}`.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from typing import Any
from urllib.parse import unquote

from tests.fakes.base import Answer, ApiRefusal, Call, FakeApi

TOKEN = "pat-na1-fake-0123"
MAX_BATCH_INPUTS = 100
CONTACT_PROPERTIES = frozenset({"email", "firstname", "lastname", "amplitude_id"})
PROCESSING_TYPES = ("MANUAL", "SNAPSHOT", "DYNAMIC")


def refuse(status: int, message: str, category: str = "VALIDATION_ERROR") -> ApiRefusal:
    return ApiRefusal(
        status,
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        },
    )


class HubSpotApi(FakeApi):
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, str]] = {}  # record id -> properties
        self.lists: dict[str, dict[str, Any]] = {}
        self.defined_properties = set(CONTACT_PROPERTIES)
        self._ids = itertools.count(101)
        super().__init__()

    # -- state helpers -------------------------------------------------------------------

    def add_contact(self, email: str, **properties: str) -> str:
        record_id = str(next(self._ids))
        self.contacts[record_id] = {"email": email.lower(), **properties}
        return record_id

    def contact_by_email(self, email: str) -> str | None:
        wanted = email.lower()
        return next((rid for rid, c in self.contacts.items() if c.get("email") == wanted), None)

    def members_by_email(self, list_id: str) -> set[str]:
        return {self.contacts[rid]["email"] for rid in self.lists[list_id]["members"]}

    # -- routes --------------------------------------------------------------------------

    def routes(self) -> None:
        self.route("POST", r"/crm/v3/lists/?", self.create_list)
        self.route(
            "GET", r"/crm/v3/lists/object-type-id/(?P<type>[^/]+)/name/(?P<name>[^/]+)", self.find
        )
        self.route(
            "PUT", r"/crm/v3/lists/(?P<id>[^/]+)/memberships/(?P<action>add|remove)", self.members
        )
        self.route("POST", r"/crm/v3/objects/contacts/batch/read", self.batch_read)
        self.route("POST", r"/crm/v3/objects/contacts/batch/upsert", self.batch_upsert)
        self.route("POST", r"/crm/v3/objects/contacts/batch/update", self.batch_update)

    def not_found(self, call: Call) -> ApiRefusal:
        return refuse(404, f"No route for {call.method} {call.path}", "OBJECT_NOT_FOUND")

    def authenticate(self, call: Call) -> None:
        if call.header("authorization") != f"Bearer {TOKEN}":
            raise refuse(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "INVALID_AUTHENTICATION",
            )

    def body(self, call: Call) -> Any:
        if (call.header("content-type") or "").split(";")[0].strip() != "application/json":
            raise refuse(415, "Content-Type must be application/json", "UNSUPPORTED_MEDIA_TYPE")
        try:
            return json.loads(call.body)
        except ValueError:
            raise refuse(400, "Invalid input JSON") from None

    def inputs(self, call: Call) -> list[dict[str, Any]]:
        body = self.body(call)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise refuse(400, "inputs must be a list of objects")
        if len(inputs) > MAX_BATCH_INPUTS:
            raise refuse(400, f"Batch size of {len(inputs)} exceeds the limit of 100")
        return inputs

    # -- lists ---------------------------------------------------------------------------

    def list_document(self, list_id: str) -> dict[str, Any]:
        entry = self.lists[list_id]
        return {
            "listId": list_id,
            "name": entry["name"],
            "objectTypeId": entry["objectTypeId"],
            "processingType": entry["processingType"],
            "size": len(entry["members"]),
        }

    def create_list(self, call: Call, match: re.Match[str]) -> Answer:
        body = self.body(call)
        if not isinstance(body, dict):
            raise refuse(400, "The body must be an object")
        name, object_type = body.get("name"), body.get("objectTypeId")
        processing = body.get("processingType")
        if not isinstance(name, str) or not name.strip():
            raise refuse(400, "name is required")
        if object_type != "0-1":
            raise refuse(400, f"Unknown objectTypeId {object_type!r}")
        if processing not in PROCESSING_TYPES:
            raise refuse(400, f"processingType must be one of {', '.join(PROCESSING_TYPES)}")
        if any(entry["name"] == name for entry in self.lists.values()):
            raise refuse(400, f"A list named {name!r} already exists")
        list_id = str(next(self._ids))
        self.lists[list_id] = {
            "name": name,
            "objectTypeId": object_type,
            "processingType": processing,
            "members": set(),
        }
        return Answer(200, {"list": self.list_document(list_id)})

    def find(self, call: Call, match: re.Match[str]) -> Answer:
        name = unquote(match["name"])
        for list_id, entry in self.lists.items():
            if entry["name"] == name and entry["objectTypeId"] == match["type"]:
                return Answer(200, {"list": self.list_document(list_id)})
        raise refuse(404, f"List with name {name} does not exist", "OBJECT_NOT_FOUND")

    def members(self, call: Call, match: re.Match[str]) -> Answer:
        list_id = match["id"]
        if list_id not in self.lists:
            raise refuse(404, f"List {list_id} does not exist", "OBJECT_NOT_FOUND")
        entry = self.lists[list_id]
        if entry["processingType"] == "DYNAMIC":
            raise refuse(400, "Records cannot be added to or removed from a DYNAMIC list")
        ids = self.body(call)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise refuse(400, "The body must be a JSON array of record id strings")
        known = [record for record in ids if record in self.contacts]
        missing = [record for record in ids if record not in self.contacts]
        if match["action"] == "add":
            entry["members"].update(known)
            return Answer(200, {"recordsIdsAdded": known, "recordIdsMissing": missing})
        entry["members"].difference_update(known)
        return Answer(200, {"recordIdsRemoved": known, "recordIdsMissing": missing})

    # -- contacts ------------------------------------------------------------------------

    def record(self, record_id: str, wanted: Any = None) -> dict[str, Any]:
        properties = self.contacts[record_id]
        if isinstance(wanted, list):
            properties = {k: v for k, v in properties.items() if k in wanted}
        return {
            "id": record_id,
            "properties": {"hs_object_id": record_id, **properties},
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z",
            "archived": False,
        }

    def batch_read(self, call: Call, match: re.Match[str]) -> Answer:
        body = self.body(call)
        inputs = self.inputs(call)
        id_property = body.get("idProperty")
        if id_property not in (None, "email"):
            raise refuse(400, f"{id_property!r} is not a unique property of contacts")
        found, missing = [], []
        for entry in inputs:
            key = entry.get("id")
            if not isinstance(key, str):
                raise refuse(400, "each input needs an id")
            record_id = self.contact_by_email(key) if id_property else key
            if record_id is None or record_id not in self.contacts:
                missing.append(key)
            else:
                found.append(self.record(record_id, body.get("properties")))
        document: dict[str, Any] = {
            "status": "COMPLETE",
            "results": found,
            "startedAt": "2025-01-01T00:00:00.000Z",
            "completedAt": "2025-01-01T00:00:00.001Z",
        }
        if not missing:
            return Answer(200, document)
        document["numErrors"] = 1
        document["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not "
                "exist. Check that ids are valid.",
                "context": {"ids": missing},
            }
        ]
        return Answer(207, document)

    def batch_upsert(self, call: Call, match: re.Match[str]) -> Answer:
        results = []
        for entry in self.inputs(call):
            if entry.get("idProperty") != "email" or not isinstance(entry.get("id"), str):
                raise refuse(400, "each input needs idProperty email and an id")
            properties = self.checked_properties(entry.get("properties"))
            record_id = self.contact_by_email(entry["id"]) or self.add_contact(entry["id"])
            self.contacts[record_id].update(properties)
            results.append({**self.record(record_id), "new": True})
        return Answer(200, {"status": "COMPLETE", "results": results})

    def batch_update(self, call: Call, match: re.Match[str]) -> Answer:
        updates = []
        for entry in self.inputs(call):
            record_id = entry.get("id")
            if not isinstance(record_id, str) or record_id not in self.contacts:
                raise refuse(
                    404,
                    f"Object not found. objectId are usually numeric: {record_id}",
                    "OBJECT_NOT_FOUND",
                )
            updates.append((record_id, self.checked_properties(entry.get("properties"))))
        for record_id, properties in updates:
            self.contacts[record_id].update(properties)
        return Answer(200, {"status": "COMPLETE", "results": [self.record(r) for r, _ in updates]})

    def checked_properties(self, properties: Any) -> dict[str, str]:
        if not isinstance(properties, dict):
            raise refuse(400, "properties must be an object")
        for name, value in properties.items():
            if name not in self.defined_properties:
                raise refuse(400, f'Property "{name}" does not exist', "VALIDATION_ERROR")
            if not isinstance(value, str):
                raise refuse(
                    400,
                    f"Property values must be strings: {name} is {json.dumps(value)}",
                    "VALIDATION_ERROR",
                )
        return dict(properties)
