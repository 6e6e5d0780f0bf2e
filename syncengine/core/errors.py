"""The partner error family: what a partner call can end in, and the record of each try.

The client (`http`) raises `PartnerError`, carrying the `PartnerResponse` when the
partner answered; `diagnosis` explains an error as a `Diagnosis`; `retry` records every
try as an `AttemptRecord`. They all share these types, and nothing here imports them, so
that none of them has to import another to name what it handles.

Whether a failure is worth another try starts here too: `PartnerError.permanent` follows
the platform's default rule (`is_retryable_status`, DESIGN section 6) and
`PartnerError.retry_after` the partner's `Retry-After` (`parse_retry_after`), before the
endpoint's error classifications have their say in `diagnosis`.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Literal

from syncengine.core.display import request_for_display, response_for_display
from syncengine.core.masking import mask_text
from syncengine.core.types import PreparedRequest

# 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry.
NON_RETRYABLE_5XX = frozenset({501, 505})
RETRYABLE_4XX = frozenset({408, 429})

Action = Literal["retry", "fail", "ignore"]
Outcome = Literal["success", "ignored", "retrying", "failed"]


def is_retryable_status(status: int) -> bool:
    """The platform's default: 408, 429 and 5xx except 501 and 505 are worth retrying."""
    if status in RETRYABLE_4XX:
        return True
    return 500 <= status <= 599 and status not in NON_RETRYABLE_5XX


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header value, or None when absent or invalid.

    Accepts delta-seconds (`"120"`) and an HTTP date (`"Wed, 21 Oct 2015 07:28:00 GMT"`).
    A date in the past means "now" (0 seconds). Negative, fractional-looking or otherwise
    malformed values are ignored rather than guessed at: the normal backoff applies.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    # isdigit() alone also accepts digits such as "²" that are not delta-seconds.
    if text.isascii() and text.isdigit():
        seconds = float(text)  # not int(): that refuses more than 4300 digits
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; parsedate gives a naive datetime for "-0000".
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


# --- the error family -----------------------------------------------------------------


class PartnerError(Exception):
    """A partner call that did not produce a usable 2xx response.

    `kind` names what went wrong (connection_refused, dns_failure, tls_error, timeout,
    redirect, too_large, blocked_address, invalid_url, connection_closed,
    connection_error, http_status, non_json, list_id_missing); `permanent` says whether
    retrying can help (before the endpoint's classifications are applied); `status` and
    `response` are set when the partner answered; `retry_after` holds its Retry-After in
    seconds; `request` is the request as it was sent, if it got that far; `info` carries
    structured details (host, port, address, reason, location, timeout, ...) for the
    diagnosis. `diagnosis` and `attempts` are filled in by `retry.send_with_retries`.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        retry_after: float | None = None,
        response: PartnerResponse | None = None,
        request: PreparedRequest | None = None,
        info: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        self.response = response
        self.request = request
        self.info: dict[str, Any] = dict(info or {})
        self.diagnosis: Diagnosis | None = None
        self.attempts: tuple[AttemptRecord, ...] = ()

    def __repr__(self) -> str:
        return f"PartnerError({self.kind!r}, {self.message!r}, status={self.status!r})"


@dataclass(frozen=True, slots=True)
class PartnerResponse:
    """A partner's answer as recorded: status, headers and at most 1 MiB of body.

    `request` is the request as sent, with the headers the client added. `truncated` is
    true when the partner sent more than was kept. `remote_address` is the IP the
    connection actually went to.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    latency_ms: float
    request: PreparedRequest
    remote_address: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    @property
    def text(self) -> str:
        """The body as text; invalid UTF-8 shows as replacement characters."""
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        """The first value of a response header, case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body decoded as JSON, or `PartnerError` kind `non_json` saying why not."""
        if self.truncated:
            raise PartnerError(
                "non_json",
                f"the body was cut at {len(self.body)} bytes, so it cannot be read as JSON",
                permanent=True,
                status=self.status,
                response=self,
                request=self.request,
            )
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            excerpt = self.text[:200] or "(empty body)"
            raise PartnerError(
                "non_json",
                f"{exc}; the body starts with {excerpt!r}",
                permanent=True,
                status=self.status,
                response=self,
                request=self.request,
            ) from None


# --- explanations and attempts ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A failure explained: a short title, a plain-language message and what to do next.

    `action` is what the sender does: `retry`, `fail` or `ignore`. `classified` says
    whether the partner's own error classification matched (then `classification` is it).
    `detail` keeps the technical text of the error for the curious.
    """

    kind: str
    title: str
    message: str
    action: Action
    status: int | None = None
    sub_code: str | None = None
    classified: bool = False
    classification: Mapping[str, Any] | None = None
    detail: str = ""
    # The manifest path to fix (`endpoints.create_list.list_id_path`), when one is at fault.
    field: str = ""

    @property
    def permanent(self) -> bool:
        return self.action == "fail"

    def for_display(self, secrets: Iterable[str] = ()) -> dict[str, Any]:
        """The diagnosis as a dict, secrets masked (a partner may echo a token back)."""
        secrets = tuple(secrets)
        return {
            "kind": self.kind,
            "title": mask_text(self.title, secrets),
            "message": mask_text(self.message, secrets),
            "action": self.action,
            "status": self.status,
            "sub_code": self.sub_code,
            "classified": self.classified,
            "detail": mask_text(self.detail, secrets),
            "field": self.field,
        }


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try of one request, as the caller stores and displays it.

    `request` is the request as sent (with User-Agent, Idempotency-Key and signature);
    `wait_seconds` is the pause chosen before the next attempt (None when there is none).
    Use `for_display()` for anything shown to people: it masks the request's secrets.
    """

    endpoint: str
    batch_id: str | None
    attempt: int
    max_attempts: int
    outcome: Outcome
    request: PreparedRequest
    response: PartnerResponse | None = None
    error: PartnerError | None = None
    diagnosis: Diagnosis | None = None
    wait_seconds: float | None = None
    latency_ms: float | None = None
    started_at: float = field(default_factory=time.time)

    @property
    def status(self) -> int | None:
        if self.response is not None:
            return self.response.status
        return None

    def describe(self) -> str:
        """A one-line summary that mentions attempts only where there was more than one, or
        more to come: "200 OK", "200 OK on attempt 3 of 8", "attempt 2 of 8: 503 Service
        Unavailable, waiting 4.2 s", "401 Unauthorized, not retried"."""
        if self.outcome == "success" and self.response is not None:
            what = f"{self.response.status} {self.response.reason}".strip()
        elif self.diagnosis is not None:
            what = self.diagnosis.title
        elif self.error is not None:
            what = self.error.kind
        else:
            what = self.outcome
        counted = f"attempt {self.attempt} of {self.max_attempts}"
        if self.outcome == "success":
            return what if self.attempt == 1 else f"{what} on {counted}"
        if self.outcome == "retrying":
            text = f"{counted}: {what}"
            if self.wait_seconds is not None:
                text += f", waiting {self.wait_seconds:.1f} s"
            return text
        if self.outcome == "ignored":
            text = f"{what}, ignored as classified"
        else:
            last = self.max_attempts > 1 and self.attempt >= self.max_attempts
            text = f"{what}, giving up" if last else f"{what}, not retried"
        return text if self.attempt == 1 else f"{counted}: {text}"

    def for_display(self) -> dict[str, Any]:
        """Everything about the attempt with every secret of the request masked."""
        secrets = self.request.secrets
        return {
            "endpoint": self.endpoint,
            "batch_id": self.batch_id,
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "outcome": self.outcome,
            "summary": mask_text(self.describe(), secrets),
            "wait_seconds": self.wait_seconds,
            "latency_ms": self.latency_ms,
            "started_at": self.started_at,
            "request": request_for_display(self.request),
            "response": (response_for_display(self.response, secrets) if self.response else None),
            "diagnosis": self.diagnosis.for_display(secrets) if self.diagnosis else None,
        }
