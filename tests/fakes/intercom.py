"""A fake of Intercom's contacts and tags API (https://api.intercom.io), written from its
public OpenAPI reference (intercom/Intercom-OpenAPI, versions 2.x).

What it holds to, as the reference does:

- `Authorization: Bearer <access token>` (401 `unauthorized`); an `Intercom-Version`
  header, when sent, must name a published version (400 `intercom_version_invalid`);
  JSON bodies with `Content-Type: application/json`;
- `POST /tags` `{"name"}` creates a tag, or returns the tag of that name; `{"name",
  "users": [{"id"}]}` tags those contacts (ids Intercom issued, 404 `not_found`
  otherwise) -> 200 the tag;
- `POST /contacts/search` `{"query": {"field", "operator", "value"}, "pagination":
  {"per_page"}}`, `per_page` at most 150 -> 200 `{"type": "list", "data": [contacts],
  "total_count"}`;
- `POST /contacts` `{"role": "user" | "lead", "email"}` -> 200 the contact; a known
  email is 409 `conflict`;
- `DELETE /contacts/{contact_id}/tags/{id}` -> 200 the tag; an unknown contact or tag
  is 404.

Error bodies are `{"type": "error.list", "request_id", "errors": [{"code", "message"}]}`.
"""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

from tests.fakes.base import Answer, ApiRefusal, Call, FakeApi

TOKEN = "dG9rOmZha2UtaW50ZXJjb20="
VERSIONS = frozenset(
    {"2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "Unstable"}
)
MAX_PER_PAGE = 150
SEARCH_OPERATORS = {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"}


def refuse(status: int, code: str, message: str) -> ApiRefusal:
    return ApiRefusal(
        status,
        {
            "type": "error.list",
            "request_id": str(uuid.uuid4()),
            "errors": [{"code": code, "message": message}],
        },
    )


class IntercomApi(FakeApi):
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # id -> {"email", "role", "tags": set}
        self.tags: dict[str, str] = {}  # id -> name
        self._ids = itertools.count(1)
        super().__init__()

    # -- state helpers -------------------------------------------------------------------

    def add_contact(self, email: str, role: str = "user") -> str:
        contact_id = f"6{next(self._ids):07d}aa0c1f2e3d4b5a69"
        self.contacts[contact_id] = {"email": email.lower(), "role": role, "tags": set()}
        return contact_id

    def contact_by_email(self, email: str) -> str | None:
        wanted = email.lower()
        return next((cid for cid, c in self.contacts.items() if c["email"] == wanted), None)

    def tagged_emails(self, tag_id: str) -> set[str]:
        return {c["email"] for c in self.contacts.values() if tag_id in c["tags"]}

    # -- routes --------------------------------------------------------------------------

    def routes(self) -> None:
        self.route("POST", r"/tags", self.tags_endpoint)
        self.route("POST", r"/contacts/search", self.search)
        self.route("POST", r"/contacts", self.create_contact)
        self.route("DELETE", r"/contacts/(?P<contact>[^/]+)/tags/(?P<tag>[^/]+)", self.untag)

    def not_found(self, call: Call) -> ApiRefusal:
        return refuse(404, "not_found", "Resource Not Found")

    def authenticate(self, call: Call) -> None:
        if call.header("authorization") != f"Bearer {TOKEN}":
            raise refuse(401, "unauthorized", "Access Token Invalid")
        version = call.header("intercom-version")
        if version is not None and version not in VERSIONS:
            raise refuse(400, "intercom_version_invalid", f"The version {version} is invalid")

    def body(self, call: Call) -> dict[str, Any]:
        self.require_content_type(
            call,
            "application/json",
            refuse(415, "unsupported_media_type", "Content-Type must be application/json"),
        )
        document = self.json_body(call, lambda message: refuse(400, "parameter_invalid", message))
        if not isinstance(document, dict):
            raise refuse(400, "parameter_invalid", "The body must be an object")
        return document

    def tag_document(self, tag_id: str) -> dict[str, Any]:
        return {"type": "tag", "id": tag_id, "name": self.tags[tag_id]}

    def contact_document(self, contact_id: str) -> dict[str, Any]:
        contact = self.contacts[contact_id]
        return {
            "type": "contact",
            "id": contact_id,
            "role": contact["role"],
            "email": contact["email"],
            "tags": {"type": "list", "data": [{"type": "tag", "id": t} for t in contact["tags"]]},
        }

    # -- handlers ------------------------------------------------------------------------

    def tags_endpoint(self, call: Call, match: re.Match[str]) -> Answer:
        body = self.body(call)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise refuse(400, "parameter_not_found", "name not specified")
        users = body.get("users")
        if users is not None:
            if not isinstance(users, list) or not all(
                isinstance(u, dict) and isinstance(u.get("id"), str) for u in users
            ):
                raise refuse(400, "parameter_invalid", "users must be a list of {id} objects")
            unknown = [u["id"] for u in users if u["id"] not in self.contacts]
            if unknown:
                raise refuse(404, "not_found", f"User Not Found: {', '.join(unknown)}")
        tag_id = next((t for t, n in self.tags.items() if n == name), None)
        if tag_id is None:
            tag_id = str(next(self._ids) + 100)
            self.tags[tag_id] = name
        for user in users or []:
            self.contacts[user["id"]]["tags"].add(tag_id)
        return Answer(200, self.tag_document(tag_id))

    def search(self, call: Call, match: re.Match[str]) -> Answer:
        body = self.body(call)
        query = body.get("query")
        if not isinstance(query, dict):
            raise refuse(400, "parameter_invalid", "query is required")
        field, operator, value = query.get("field"), query.get("operator"), query.get("value")
        if field != "email" or operator not in SEARCH_OPERATORS:
            raise refuse(400, "parameter_invalid", f"Unsupported query {field} {operator}")
        per_page = (body.get("pagination") or {}).get("per_page", 50)
        if not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
            raise refuse(400, "parameter_invalid", f"per_page must be from 1 to {MAX_PER_PAGE}")
        if operator in ("IN", "NIN"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise refuse(400, "parameter_invalid", f"{operator} needs a list of values")
            wanted = {v.lower() for v in value}
        elif operator == "=" and isinstance(value, str):
            wanted = {value.lower()}
        else:
            raise refuse(400, "parameter_invalid", f"Unsupported operator {operator}")
        found = [
            self.contact_document(cid)
            for cid, contact in self.contacts.items()
            if (contact["email"] in wanted) == (operator != "NIN")
        ]
        return Answer(
            200,
            {"type": "list", "data": found[:per_page], "total_count": len(found), "pages": {}},
        )

    def create_contact(self, call: Call, match: re.Match[str]) -> Answer:
        body = self.body(call)
        role, email = body.get("role", "user"), body.get("email")
        if role not in ("user", "lead"):
            raise refuse(400, "parameter_invalid", "role must be user or lead")
        if not isinstance(email, str) or "@" not in email:
            raise refuse(400, "parameter_not_found", "One of email, external_id or role")
        if self.contact_by_email(email) is not None:
            raise refuse(409, "conflict", "A contact matching those details already exists")
        return Answer(200, self.contact_document(self.add_contact(email, role)))

    def untag(self, call: Call, match: re.Match[str]) -> Answer:
        contact_id, tag_id = match["contact"], match["tag"]
        if contact_id not in self.contacts:
            raise refuse(404, "not_found", "Contact Not Found")
        if tag_id not in self.tags:
            raise refuse(404, "not_found", "Tag Not Found")
        self.contacts[contact_id]["tags"].discard(tag_id)
        return Answer(200, self.tag_document(tag_id))
