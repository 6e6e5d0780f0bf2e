"""The demo partner's in-memory state: lists, user properties, request log, faults.

Everything is guarded by one lock: the server handles requests on many threads and the
page, the tests and the API all read the same state.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_LOG_ENTRIES = 500
MAX_LOGGED_BODY_CHARS = 64 * 1024
MAX_IDEMPOTENCY_KEYS = 10_000
MAX_FAULT_DELAY_MS = 120_000
MASKED = "••••••"
# Headers whose values are credentials: logged masked, like the platform masks them.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "cookie"})


@dataclass
class PartnerList:
    """One audience list: its id, its name and the set of member ids."""

    id: str
    name: str
    created_at: float
    members: set[str] = field(default_factory=set)


@dataclass
class Faults:
    """Switches that make the next API responses misbehave, for demos and tests.

    `fail_next` responses answer `status` (with `Retry-After: retry_after` when set);
    every API response is delayed by `delay_ms` while it is non-zero.
    """

    fail_next: int = 0
    status: int = 503
    retry_after: str | None = None
    delay_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "fail_next": self.fail_next,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay_ms": self.delay_ms,
        }


@dataclass(frozen=True)
class StoredResponse:
    """A response remembered under an Idempotency-Key, with what it answered."""

    fingerprint: str
    status: int
    body: bytes


class PartnerState:
    """All of the demo partner's data; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lists: dict[str, PartnerList] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        self.log: deque[dict[str, Any]] = deque(maxlen=MAX_LOG_ENTRIES)
        self.faults = Faults()
        self._idempotent: OrderedDict[str, StoredResponse] = OrderedDict()
        self._sequence = 0

    # --- lists -----------------------------------------------------------------------

    def create_list(self, name: str) -> PartnerList:
        with self._lock:
            list_id = "lst_" + secrets.token_hex(6)
            created = PartnerList(id=list_id, name=name, created_at=time.time())
            self.lists[list_id] = created
            return created

    def add_members(self, list_id: str, members: Iterable[str]) -> tuple[int, int] | None:
        """Add members; (newly added, list size) or None for an unknown list."""
        with self._lock:
            target = self.lists.get(list_id)
            if target is None:
                return None
            before = len(target.members)
            target.members.update(members)
            return len(target.members) - before, len(target.members)

    def remove_members(self, list_id: str, members: Iterable[str]) -> tuple[int, int] | None:
        """Remove members; (removed, list size) or None for an unknown list."""
        with self._lock:
            target = self.lists.get(list_id)
            if target is None:
                return None
            before = len(target.members)
            target.members.difference_update(members)
            return before - len(target.members), len(target.members)

    def members_of(self, list_id: str) -> set[str] | None:
        with self._lock:
            target = self.lists.get(list_id)
            return set(target.members) if target is not None else None

    def list_summaries(self, *, with_members: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            summaries = []
            for item in self.lists.values():
                summary: dict[str, Any] = {
                    "id": item.id,
                    "name": item.name,
                    "member_count": len(item.members),
                }
                if with_members:
                    summary["members"] = sorted(item.members)
                summaries.append(summary)
            return summaries

    # --- user properties -------------------------------------------------------------

    def update_properties(self, updates: Iterable[tuple[str, dict[str, Any]]]) -> int:
        with self._lock:
            count = 0
            for user_id, values in updates:
                self.properties.setdefault(user_id, {}).update(values)
                count += 1
            return count

    def users_in_cohort(self) -> list[str]:
        with self._lock:
            return sorted(u for u, props in self.properties.items() if props.get("in_cohort"))

    # --- idempotency -----------------------------------------------------------------

    def remembered(self, key: str) -> StoredResponse | None:
        with self._lock:
            return self._idempotent.get(key)

    def remember(self, key: str, stored: StoredResponse) -> None:
        with self._lock:
            self._idempotent[key] = stored
            self._idempotent.move_to_end(key)
            while len(self._idempotent) > MAX_IDEMPOTENCY_KEYS:
                self._idempotent.popitem(last=False)

    # --- faults ----------------------------------------------------------------------

    def set_faults(self, **changes: Any) -> Faults:
        with self._lock:
            for name, value in changes.items():
                setattr(self.faults, name, value)
            return Faults(**self.faults.as_dict())

    def take_fault(self) -> tuple[int | None, str | None, int]:
        """(status to fail with or None, its Retry-After, delay in ms) for one request."""
        with self._lock:
            delay = self.faults.delay_ms
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                return self.faults.status, self.faults.retry_after, delay
            return None, None, delay

    # --- the request log -------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._sequence += 1
            entry["seq"] = self._sequence
            self.log.append(entry)

    def log_entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)

    def reset(self) -> None:
        with self._lock:
            self.lists.clear()
            self.properties.clear()
            self.log.clear()
            self.faults = Faults()
            self._idempotent.clear()


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What an Idempotency-Key is bound to: the same key must come with the same request."""
    digest = hashlib.sha256()
    digest.update(method.encode() + b" " + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def masked_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Headers for the log, credentials masked after their scheme."""
    result = []
    for name, value in headers:
        if name.lower() in CREDENTIAL_HEADERS:
            scheme, _, credential = value.partition(" ")
            value = f"{scheme} {MASKED}" if credential else MASKED
        result.append([name, value])
    return result
