"""A fake of SendGrid's Marketing Campaigns contacts and lists API
(https://api.sendgrid.com/v3), written from its public OpenAPI reference (sendgrid-oai).

What it holds to, as the reference does:

- `Authorization: Bearer <API key>` (401 otherwise); JSON bodies with
  `Content-Type: application/json` (415 otherwise);
- `POST /v3/marketing/lists` `{"name"}` (1 to 100 characters, unique) -> 200 the list;
  `GET /v3/marketing/lists?page_size=` (1 to 1000) -> 200 `{"result": [lists]}`;
- `PUT /v3/marketing/contacts` `{"list_ids": [...], "contacts": [{"email", ...}]}`, at
  most 30,000 contacts, lists that exist -> 202 `{"job_id"}`; contacts are upserted by
  email and get an id;
- `POST /v3/marketing/contacts/search/emails` `{"emails": [...]}`, at most 100 valid
  addresses (400 otherwise) -> 200 `{"result": {email: {"contact": {...}} | {"error"}}}`
  with emails in lower case, or 404 when none is found;
- `DELETE /v3/marketing/lists/{id}/contacts?contact_ids=a,b,c` (required, comma
  separated) -> 202 `{"job_id"}`; an unknown list or contact id is 404.

Error bodies are `{"errors": [{"field", "message"}]}`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.fakes.base import Answer, ApiRefusal, Call, FakeApi

API_KEY = "SG.fake-key.0123456789"
MAX_CONTACTS = 30_000
MAX_SEARCH = 100
MAX_LISTS_PAGE = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def refuse(status: int, message: str, field: str | None = None) -> ApiRefusal:
    return ApiRefusal(status, {"errors": [{"field": field, "message": message}]})


class SendGridApi(FakeApi):
    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}  # id -> {"email", "list_ids": set}
        self.lists: dict[str, str] = {}  # id -> name
        super().__init__()

    # -- state helpers -------------------------------------------------------------------

    def add_contact(self, email: str, *list_ids: str) -> str:
        contact_id = str(uuid.uuid4())
        self.contacts[contact_id] = {"email": email.lower(), "list_ids": set(list_ids)}
        return contact_id

    def contact_by_email(self, email: str) -> str | None:
        wanted = email.lower()
        return next((cid for cid, c in self.contacts.items() if c["email"] == wanted), None)

    def members_by_email(self, list_id: str) -> set[str]:
        return {c["email"] for c in self.contacts.values() if list_id in c["list_ids"]}

    # -- routes --------------------------------------------------------------------------

    def routes(self) -> None:
        self.route("POST", r"/v3/marketing/lists", self.create_list)
        self.route("GET", r"/v3/marketing/lists", self.get_lists)
        self.route("PUT", r"/v3/marketing/contacts", self.upsert)
        self.route("POST", r"/v3/marketing/contacts/search/emails", self.search)
        self.route("DELETE", r"/v3/marketing/lists/(?P<id>[^/]+)/contacts", self.remove)

    def not_found(self, call: Call) -> ApiRefusal:
        return refuse(404, "resource not found")

    def authenticate(self, call: Call) -> None:
        if call.header("authorization") != f"Bearer {API_KEY}":
            raise refuse(401, "authorization required")

    def body(self, call: Call) -> dict[str, Any]:
        self.require_content_type(
            call, "application/json", refuse(415, "content type must be application/json")
        )
        document = self.json_body(call, lambda message: refuse(400, message))
        if not isinstance(document, dict):
            raise refuse(400, "the body must be an object")
        return document

    def list_document(self, list_id: str) -> dict[str, Any]:
        return {
            "id": list_id,
            "name": self.lists[list_id],
            "contact_count": len(self.members_by_email(list_id)),
            "_metadata": {"self": f"https://api.sendgrid.com/v3/marketing/lists/{list_id}"},
        }

    # -- handlers ------------------------------------------------------------------------

    def create_list(self, call: Call, match: re.Match[str]) -> Answer:
        name = self.body(call).get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise refuse(400, "name must be 1 to 100 characters", "name")
        if name in self.lists.values():
            raise refuse(400, "a list with this name already exists", "name")
        list_id = str(uuid.uuid4())
        self.lists[list_id] = name
        return Answer(200, self.list_document(list_id))

    def get_lists(self, call: Call, match: re.Match[str]) -> Answer:
        size_text = call.query.get("page_size", ["100"])[0]
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_LISTS_PAGE:
            raise refuse(400, f"page_size must be from 1 to {MAX_LISTS_PAGE}", "page_size")
        documents = [self.list_document(list_id) for list_id in self.lists][: int(size_text)]
        return Answer(200, {"result": documents, "_metadata": {"count": len(self.lists)}})

    def upsert(self, call: Call, match: re.Match[str]) -> Answer:
        body = self.body(call)
        list_ids = body.get("list_ids", [])
        contacts = body.get("contacts")
        if not isinstance(list_ids, list) or not all(isinstance(i, str) for i in list_ids):
            raise refuse(400, "list_ids must be a list of list ids", "list_ids")
        unknown = [i for i in list_ids if i not in self.lists]
        if unknown:
            raise refuse(404, f"list ids do not exist: {', '.join(unknown)}", "list_ids")
        if not isinstance(contacts, list) or not contacts:
            raise refuse(400, "contacts must be a non-empty list", "contacts")
        if len(contacts) > MAX_CONTACTS:
            raise refuse(400, f"at most {MAX_CONTACTS} contacts per request", "contacts")
        for index, contact in enumerate(contacts):
            email = contact.get("email") if isinstance(contact, dict) else None
            if not isinstance(email, str) or not _EMAIL.fullmatch(email):
                raise refuse(400, "a valid email is required", f"contacts[{index}].email")
        for contact in contacts:
            contact_id = self.contact_by_email(contact["email"]) or self.add_contact(
                contact["email"]
            )
            self.contacts[contact_id]["list_ids"].update(list_ids)
        return Answer(202, {"job_id": str(uuid.uuid4())})

    def search(self, call: Call, match: re.Match[str]) -> Answer:
        emails = self.body(call).get("emails")
        if not isinstance(emails, list) or not emails:
            raise refuse(400, "emails must be a non-empty list", "emails")
        if len(emails) > MAX_SEARCH:
            raise refuse(400, f"at most {MAX_SEARCH} emails", "emails")
        result: dict[str, Any] = {}
        for email in emails:
            if not isinstance(email, str) or not _EMAIL.fullmatch(email):
                raise refuse(400, f"invalid email {email!r}", "emails")
            contact_id = self.contact_by_email(email)
            if contact_id is None:
                result[email.lower()] = {"error": "contact not found"}
            else:
                contact = self.contacts[contact_id]
                result[email.lower()] = {
                    "contact": {
                        "id": contact_id,
                        "email": contact["email"],
                        "list_ids": sorted(contact["list_ids"]),
                    }
                }
        if not any("contact" in entry for entry in result.values()):
            raise refuse(404, "no contacts found")
        return Answer(200, {"result": result})

    def remove(self, call: Call, match: re.Match[str]) -> Answer:
        list_id = match["id"]
        if list_id not in self.lists:
            raise refuse(404, "list not found")
        values = call.query.get("contact_ids")
        if not values or not values[0]:
            raise refuse(400, "contact_ids is required", "contact_ids")
        ids = values[0].split(",")
        unknown = [contact_id for contact_id in ids if contact_id not in self.contacts]
        if unknown:
            raise refuse(404, f"contacts not found: {', '.join(unknown)}")
        for contact_id in ids:
            self.contacts[contact_id]["list_ids"].discard(list_id)
        return Answer(202, {"job_id": str(uuid.uuid4())})
