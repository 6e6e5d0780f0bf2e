"""The result of a conformance check: what is stored and shown to the reviewer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PASSED, FAILED, NOT_APPLICABLE = "passed", "failed", "not_applicable"
STATUSES = (PASSED, FAILED, NOT_APPLICABLE)

LIST_ID_AT_PATH = "list_id_at_path"
FULL_BATCH_ACCEPTED = "full_batch_accepted"
UNKNOWN_USERS_ACCEPTED = "unknown_users_accepted"
BAD_CREDENTIALS_REFUSED = "bad_credentials_refused"
REPEATED_IDEMPOTENCY_KEY_ACCEPTED = "repeated_idempotency_key_accepted"
LATENCY_WITHIN_LIMIT = "latency_within_limit"
# The order the checks run in and are returned in. Latency comes last because it
# judges the responses of all the others.
CHECK_KEYS = (
    LIST_ID_AT_PATH,
    FULL_BATCH_ACCEPTED,
    UNKNOWN_USERS_ACCEPTED,
    BAD_CREDENTIALS_REFUSED,
    REPEATED_IDEMPOTENCY_KEY_ACCEPTED,
    LATENCY_WITHIN_LIMIT,
)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one conformance check, ready to store and show.

    `key` is a stable id (one of `CHECK_KEYS`); `title` is the checklist wording;
    `status` is "passed", "failed" or "not_applicable"; `detail` explains in plain
    language what was sent, what came back and how to fix it; `exchanges` are the
    request/response pairs of the check, masked, as JSON-ready dicts with keys `label`,
    `request`, `response` (None when nothing came back) and `diagnosis` (None on a 2xx).
    """

    key: str
    title: str
    status: str
    detail: str
    exchanges: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def as_dict(self) -> dict[str, Any]:
        """The result as plain JSON data (a fresh copy, safe to store or mutate)."""
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "exchanges": [json_ready(exchange) for exchange in self.exchanges],
        }


def json_ready(value: Any) -> Any:
    """A deep copy with tuples turned into lists, as JSON storage gives them back."""
    if isinstance(value, dict):
        return json_ready_object(value)
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value


def json_ready_object(value: Mapping[str, Any]) -> dict[str, Any]:
    """`json_ready` of a JSON object, typed as the dict it gives back."""
    return {key: json_ready(item) for key, item in value.items()}
