"""A fake of Klaviyo's lists and profiles API (https://a.klaviyo.com), written from its
public OpenAPI reference (revision 2024-10-15 and later).

What it holds to, as the reference does:

- `Authorization: Klaviyo-API-Key <private key>` (401 `not_authenticated` otherwise) and a
  `revision` header `YYYY-MM-DD[.suffix]` on every request (400 without it);
- JSON:API bodies: `Content-Type: application/vnd.api+json` (415 otherwise), `data`
  objects with `type` (`list`, `profile`) and `attributes`;
- `GET /api/lists` with an optional `filter=equals(name,"...")`; `POST /api/lists`
  `{"data": {"type": "list", "attributes": {"name"}}}` -> 201 with the list;
- `GET /api/profiles?filter=any(email,[...])` (or `equals(email,"...")`), `page[size]` 1
  to 100 (the filter may list at most 100 emails) -> 200 `{"data": [profiles]}`;
- `POST /api/profile-import` (create or update by email) -> 201 new, 200 existing;
- `POST` / `DELETE /api/lists/{id}/relationships/profiles` `{"data": [{"type": "profile",
  "id"}]}`, at most 1000 per call, ids Klaviyo issued -> 204; an unknown list is 404.

Error bodies are `{"errors": [{"id", "status", "code", "title", "detail", "source"}]}`.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from typing import Any

from tests.fakes.base import Answer, ApiRefusal, Call, FakeApi

API_KEY = "pk_test_fake_0123456789"
REVISION = re.compile(r"\d{4}-\d{2}-\d{2}(\.[a-z0-9]+)?")
JSON_API = "application/vnd.api+json"
MAX_PAGE_SIZE = 100
MAX_FILTER_VALUES = 100
MAX_RELATIONSHIPS = 1000
_EQUALS_NAME = re.compile(r"equals\(name,(?P<value>.+)\)", re.DOTALL)
_ANY_EMAIL = re.compile(r"any\(email,(?P<values>\[.*\])\)", re.DOTALL)
_EQUALS_EMAIL = re.compile(r"equals\(email,(?P<value>.+)\)", re.DOTALL)


def error(status: int, code: str, title: str, detail: str, pointer: str = "") -> ApiRefusal:
    entry: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
    }
    if pointer:
        entry["source"] = {"pointer": pointer}
    return ApiRefusal(status, {"errors": [entry]})


def invalid(detail: str, pointer: str = "") -> ApiRefusal:
    return error(400, "invalid", "Invalid input.", detail, pointer)


class KlaviyoApi(FakeApi):
    content_type = JSON_API

    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}  # id -> profile
        self.lists: dict[str, dict[str, Any]] = {}  # id -> {"name", "members": set}
        self._ids = itertools.count(1)
        super().__init__()

    # -- state helpers -------------------------------------------------------------------

    def add_profile(self, email: str) -> str:
        profile_id = f"01K{next(self._ids):08d}PROFILE"
        self.profiles[profile_id] = {"email": email.lower()}
        return profile_id

    def profile_by_email(self, email: str) -> str | None:
        wanted = email.lower()
        return next((pid for pid, p in self.profiles.items() if p["email"] == wanted), None)

    def members_by_email(self, list_id: str) -> set[str]:
        return {self.profiles[pid]["email"] for pid in self.lists[list_id]["members"]}

    # -- routes --------------------------------------------------------------------------

    def routes(self) -> None:
        self.route("GET", r"/api/lists/?", self.get_lists)
        self.route("POST", r"/api/lists/?", self.create_list)
        self.route("GET", r"/api/profiles/?", self.get_profiles)
        self.route("POST", r"/api/profile-import/?", self.import_profile)
        self.route("POST", r"/api/lists/(?P<id>[^/]+)/relationships/profiles/?", self.add)
        self.route("DELETE", r"/api/lists/(?P<id>[^/]+)/relationships/profiles/?", self.remove)

    def not_found(self, call: Call) -> ApiRefusal:
        return error(404, "not_found", "Not found.", f"{call.method} {call.path} does not exist")

    def authenticate(self, call: Call) -> None:
        if call.header("authorization") != f"Klaviyo-API-Key {API_KEY}":
            raise error(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid private key.",
            )
        revision = call.header("revision")
        if revision is None or not REVISION.fullmatch(revision):
            raise invalid("The revision header is missing or not YYYY-MM-DD.", "/header/revision")
        accept = call.header("accept")
        if accept is not None and not any(
            kind.strip().split(";")[0] in (JSON_API, "*/*", "application/*")
            for kind in accept.split(",")
        ):
            raise error(406, "not_acceptable", "Not acceptable.", f"Cannot answer {accept}.")

    def document(self, call: Call, resource: str) -> Any:
        if (call.header("content-type") or "").split(";")[0].strip() != JSON_API:
            raise error(
                415,
                "unsupported_media_type",
                "Unsupported media type.",
                f"Content-Type must be {JSON_API}.",
            )
        try:
            body = json.loads(call.body)
        except ValueError:
            raise invalid("The body is not valid JSON.") from None
        data = body.get("data") if isinstance(body, dict) else None
        if resource == "relationships":
            if not isinstance(data, list):
                raise invalid("data must be an array of resource identifiers.", "/data")
            return data
        if not isinstance(data, dict) or data.get("type") != resource:
            raise invalid(f"data.type must be {resource!r}.", "/data/type")
        attributes = data.get("attributes")
        if not isinstance(attributes, dict):
            raise invalid("data.attributes is required.", "/data/attributes")
        return attributes

    # -- handlers ------------------------------------------------------------------------

    def list_resource(self, list_id: str) -> dict[str, Any]:
        return {
            "type": "list",
            "id": list_id,
            "attributes": {"name": self.lists[list_id]["name"]},
            "links": {"self": f"https://a.klaviyo.com/api/lists/{list_id}/"},
        }

    def get_lists(self, call: Call, match: re.Match[str]) -> Answer:
        ids = list(self.lists)
        filters = call.query.get("filter")
        if filters:
            found = _EQUALS_NAME.fullmatch(filters[0])
            if not found:
                raise invalid(f"Unsupported filter {filters[0]!r}.", "/query/filter")
            name = _filter_string(found["value"])
            ids = [list_id for list_id in ids if self.lists[list_id]["name"] == name]
        return Answer(200, {"data": [self.list_resource(i) for i in ids], "links": {}})

    def create_list(self, call: Call, match: re.Match[str]) -> Answer:
        name = self.document(call, "list").get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("A list name is required.", "/data/attributes/name")
        list_id = f"Y{next(self._ids):05d}"
        self.lists[list_id] = {"name": name, "members": set()}
        return Answer(201, {"data": self.list_resource(list_id)})

    def get_profiles(self, call: Call, match: re.Match[str]) -> Answer:
        size_values = call.query.get("page[size]", ["20"])
        try:
            size = int(size_values[0])
        except ValueError:
            raise invalid("page[size] must be a whole number.", "/query/page[size]") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(f"page[size] must be from 1 to {MAX_PAGE_SIZE}.", "/query/page[size]")
        filters = call.query.get("filter")
        emails: list[str] | None = None
        if filters:
            text = filters[0]
            if found := _ANY_EMAIL.fullmatch(text):
                emails = _filter_list(found["values"])
            elif found := _EQUALS_EMAIL.fullmatch(text):
                emails = [_filter_string(found["value"])]
            else:
                raise invalid(f"Unsupported filter {text!r}.", "/query/filter")
            if len(emails) > MAX_FILTER_VALUES:
                raise invalid(f"A filter may list at most {MAX_FILTER_VALUES} values.")
        wanted = {email.lower() for email in emails} if emails is not None else None
        matching = [
            {"type": "profile", "id": pid, "attributes": {"email": profile["email"]}}
            for pid, profile in self.profiles.items()
            if wanted is None or profile["email"] in wanted
        ]
        return Answer(200, {"data": matching[:size], "links": {}})

    def import_profile(self, call: Call, match: re.Match[str]) -> Answer:
        attributes = self.document(call, "profile")
        email = attributes.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise invalid("One of email, phone_number or external_id is required.")
        existing = self.profile_by_email(email)
        profile_id = existing or self.add_profile(email)
        resource = {"type": "profile", "id": profile_id, "attributes": {"email": email.lower()}}
        return Answer(200 if existing else 201, {"data": resource})

    def relationship_ids(self, call: Call, match: re.Match[str]) -> tuple[str, list[str]]:
        list_id = match["id"]
        if list_id not in self.lists:
            raise error(404, "not_found", "Not found.", f"List {list_id} does not exist.")
        data = self.document(call, "relationships")
        if len(data) > MAX_RELATIONSHIPS:
            raise invalid(f"At most {MAX_RELATIONSHIPS} profiles per call.", "/data")
        ids = []
        for index, entry in enumerate(data):
            if not isinstance(entry, dict) or entry.get("type") != "profile":
                raise invalid("Each entry must be a profile identifier.", f"/data/{index}")
            profile_id = entry.get("id")
            if not isinstance(profile_id, str) or profile_id not in self.profiles:
                raise invalid(f"Profile {profile_id!r} does not exist.", f"/data/{index}/id")
            ids.append(profile_id)
        return list_id, ids

    def add(self, call: Call, match: re.Match[str]) -> Answer:
        list_id, ids = self.relationship_ids(call, match)
        self.lists[list_id]["members"].update(ids)
        return Answer(204)

    def remove(self, call: Call, match: re.Match[str]) -> Answer:
        list_id, ids = self.relationship_ids(call, match)
        self.lists[list_id]["members"].difference_update(ids)
        return Answer(204)


def _filter_string(text: str) -> str:
    """A string of Klaviyo's filter syntax: double- or single-quoted."""
    text = text.strip()
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            raise invalid(f"Cannot read {text!r} as a string.") from None
        if isinstance(value, str):
            return value
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    raise invalid(f"Cannot read {text!r} as a string.", "/query/filter")


def _filter_list(text: str) -> list[str]:
    try:
        values = json.loads(text)
    except ValueError:
        raise invalid(f"Cannot read {text!r} as a list of strings.", "/query/filter") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise invalid("The filter list must hold strings.", "/query/filter")
    return values
