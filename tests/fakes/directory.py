"""A made-up partner whose list members are its own person ids: the core's test partner.

Its API needs each user's person id, found by email, so a manifest for it needs every
version-2 construct: a lookup, a create request for people it does not know, a per-user
removal, a list found by name before creating one.

- auth: `Authorization: Bearer dir-token` (401 otherwise)
- `POST /lists` `{"name"}` -> 201 `{"id", "name"}`; a taken name is 409
- `GET /lists` -> 200 `{"lists": [{"id", "name"}, ...]}`
- `POST /people/search` `{"emails": [...]}` (at most 50) -> 200 `{"people": [{"id",
  "email"}]}`, in its own order, without the unknown ones
- `POST /people` `{"email"}` -> 201 `{"person": {"id", "email"}}`; a known email is 409
- `POST /lists/{id}/members` `{"ids": [...]}` -> 200; an unknown person id is 400
- `DELETE /lists/{id}/members/{person_id}` -> 204; an unknown person is 404
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.fakes.base import Answer, ApiRefusal, Call, FakeApi

TOKEN = "dir-token"
MAX_SEARCH = 50


def refuse(status: int, message: str) -> ApiRefusal:
    return ApiRefusal(status, {"error": message})


class DirectoryApi(FakeApi):
    def __init__(self) -> None:
        self.people: dict[str, str] = {}  # email (lower case) -> person id
        self.lists: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        super().__init__()

    def routes(self) -> None:
        self.route("POST", r"/lists", self.create_list)
        self.route("GET", r"/lists", self.get_lists)
        self.route("POST", r"/people/search", self.search)
        self.route("POST", r"/people", self.create_person)
        self.route("POST", r"/lists/(?P<list>[^/]+)/members", self.add_members)
        self.route("DELETE", r"/lists/(?P<list>[^/]+)/members/(?P<person>[^/]+)", self.remove)

    def authenticate(self, call: Call) -> None:
        if call.header("authorization") != f"Bearer {TOKEN}":
            raise refuse(401, "bad token")

    def add_person(self, email: str) -> str:
        person = f"P{next(self._ids)}"
        self.people[email.lower()] = person
        return person

    def members(self, list_id: str) -> set[str]:
        return self.lists[list_id]["members"]

    def _body(self, call: Call) -> Any:
        self.require_content_type(call, "application/json", refuse(415, "JSON only"))
        return self.json_body(call, lambda message: refuse(400, message))

    def create_list(self, call: Call, match: re.Match[str]) -> Answer:
        name = self._body(call).get("name")
        if not isinstance(name, str) or not name:
            raise refuse(400, "name is required")
        if any(entry["name"] == name for entry in self.lists.values()):
            raise refuse(409, "a list with this name exists")
        list_id = f"L{next(self._ids)}"
        self.lists[list_id] = {"name": name, "members": set()}
        return Answer(201, {"id": list_id, "name": name})

    def get_lists(self, call: Call, match: re.Match[str]) -> Answer:
        lists = [{"id": key, "name": entry["name"]} for key, entry in self.lists.items()]
        return Answer(200, {"lists": lists})

    def search(self, call: Call, match: re.Match[str]) -> Answer:
        emails = self._body(call).get("emails")
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise refuse(400, "emails must be a list of texts")
        if len(emails) > MAX_SEARCH:
            raise refuse(400, f"at most {MAX_SEARCH} emails")
        found = [
            {"id": self.people[e.lower()], "email": e.lower()}
            for e in emails
            if e.lower() in self.people
        ]
        return Answer(200, {"people": list(reversed(found))})

    def create_person(self, call: Call, match: re.Match[str]) -> Answer:
        email = self._body(call).get("email")
        if not isinstance(email, str) or "@" not in email:
            raise refuse(400, "a valid email is required")
        if email.lower() in self.people:
            raise refuse(409, "this person exists")
        return Answer(201, {"person": {"id": self.add_person(email), "email": email}})

    def add_members(self, call: Call, match: re.Match[str]) -> Answer:
        if match["list"] not in self.lists:
            raise refuse(404, "no such list")
        ids = self._body(call).get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise refuse(400, "ids must be a list of person ids")
        unknown = sorted(set(ids) - set(self.people.values()))
        if unknown:
            raise refuse(400, f"unknown person ids: {', '.join(unknown)}")
        self.members(match["list"]).update(ids)
        return Answer(200, {"added": len(ids)})

    def remove(self, call: Call, match: re.Match[str]) -> Answer:
        if match["list"] not in self.lists:
            raise refuse(404, "no such list")
        if match["person"] not in set(self.people.values()):
            raise refuse(404, "no such person")
        self.members(match["list"]).discard(match["person"])
        return Answer(204)
