"""Retrying partner requests: which failures are worth another try, and when.

The platform promises partners (DESIGN section 6): connection errors, timeouts, 408, 429
and 5xx except 501 and 505 are retried, with exponential backoff and jitter over at most
8 attempts (1 s growing to about 2 minutes of total waiting), honouring `Retry-After`
(delta-seconds or an HTTP date, capped). Every other response status is permanent.

An endpoint's error classifications (`errors` in the manifest) can override that default
per status and sub-code: `retry` makes a failure retryable, `fail` makes it permanent and
`ignore` treats the batch as delivered. `diagnosis.diagnose` applies them; this module
only follows its verdict.

Every attempt, whatever its outcome, is reported through `on_attempt` so that the caller
can store it and show "attempt 2 of 8, waiting 4.2 s".
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, Literal

from syncengine.core import diagnosis as diagnosis_module
from syncengine.core.masking import mask_text

if TYPE_CHECKING:
    from syncengine.core.diagnosis import Diagnosis
    from syncengine.core.http import OutboundClient, PartnerError, PartnerResponse
    from syncengine.core.types import PreparedRequest

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_DELAY = 1.0  # seconds before the second attempt
BACKOFF_FACTOR = 2.0
MAX_DELAY = 120.0  # no single wait is longer than this
# A partner may ask for longer, but a worker holding a batch for more than a couple of
# minutes per attempt helps nobody; the next scheduled sync picks the users up again.
RETRY_AFTER_CAP = 120.0
# Each backoff delay is spread by up to ±20 % so that many batches failing together do
# not come back in lockstep.
JITTER = 0.2

# 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry.
NON_RETRYABLE_5XX = frozenset({501, 505})
RETRYABLE_4XX = frozenset({408, 429})

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
    if when is None:
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; parsedate gives a naive datetime for "-0000".
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try and how long to wait in between.

    The wait before attempt n+1 is `base_delay * backoff_factor**(n-1)`, spread by
    ±`jitter`, capped at `max_delay`: 1, 2, 4, ... 64 s with the defaults, about two
    minutes in total over 8 attempts. A `Retry-After` from the partner replaces the
    computed wait, capped at `retry_after_cap`.
    """

    max_attempts: int = MAX_ATTEMPTS
    base_delay: float = BASE_DELAY
    backoff_factor: float = BACKOFF_FACTOR
    max_delay: float = MAX_DELAY
    retry_after_cap: float = RETRY_AFTER_CAP
    jitter: float = JITTER

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.retry_after_cap < 0:
            raise ValueError("delays must not be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A single attempt: the "no retries" option of a test run."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number `attempt` (1-based), jitter included."""
        exponent = max(0, attempt - 1)
        # Guard against float overflow for absurd attempt counts.
        raw = self.base_delay * math.pow(self.backoff_factor, min(exponent, 64))
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return min(self.max_delay, raw * spread)

    def delay_before_next(
        self,
        attempt: int,
        retry_after: float | None = None,
        *,
        rng: random.Random | None = None,
    ) -> float:
        """The wait chosen after attempt `attempt`: the partner's Retry-After or backoff."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap)
        return self.backoff(attempt, rng=rng)


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
        """A one-line summary: "attempt 2 of 8: 503 Service Unavailable, waiting 4.2 s"."""
        head = f"attempt {self.attempt} of {self.max_attempts}"
        if self.outcome == "success" and self.response is not None:
            what = f"{self.response.status} {self.response.reason}".strip()
        elif self.diagnosis is not None:
            what = self.diagnosis.title
        elif self.error is not None:
            what = self.error.kind
        else:
            what = self.outcome
        text = f"{head}: {what}"
        if self.outcome == "retrying" and self.wait_seconds is not None:
            text += f", waiting {self.wait_seconds:.1f} s"
        elif self.outcome == "ignored":
            text += ", ignored as classified"
        elif self.outcome == "failed":
            text += ", giving up"
        return text

    def for_display(self) -> dict[str, Any]:
        """Everything about the attempt with every secret of the request masked."""
        from syncengine.core.http import request_for_display, response_for_display

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


@dataclass(frozen=True, slots=True)
class Delivery:
    """A request that the partner accepted (2xx) or whose error was classified `ignore`."""

    response: PartnerResponse
    attempts: tuple[AttemptRecord, ...]
    ignored: bool = False
    diagnosis: Diagnosis | None = None


def send_with_retries(
    client: OutboundClient,
    request: PreparedRequest,
    policy: RetryPolicy | None = None,
    *,
    classifications: Sequence[Mapping[str, Any]] = (),
    sleep: Callable[[float], None] = time.sleep,
    on_attempt: Callable[[AttemptRecord], None] | None = None,
    signing_secret: str | None = None,
    throttle: Callable[[], None] | None = None,
    rng: random.Random | None = None,
) -> Delivery:
    """Send `request` until it succeeds, fails permanently or runs out of attempts.

    Returns a `Delivery` on a 2xx or on an error the endpoint classifies as `ignore`.
    Raises the last `PartnerError`, with `.diagnosis` and `.attempts` filled in, when the
    request failed for good. `on_attempt` receives every attempt as it ends, before any
    wait; `throttle` (a rate limiter) is called before every attempt; `sleep` is injected
    by tests and by the protocol (which makes it return early when a run stops).
    """
    # Imported here because http.py imports this module for the retry rules above.
    from syncengine.core.http import PartnerError

    policy = policy or RetryPolicy()
    attempts: list[AttemptRecord] = []

    def report(record: AttemptRecord) -> None:
        attempts.append(record)
        if on_attempt is not None:
            on_attempt(record)

    attempt = 0
    while True:
        attempt += 1
        if throttle is not None:
            throttle()
        started_at = time.time()
        try:
            response = client.send(request, signing_secret=signing_secret)
        except PartnerError as error:
            verdict = diagnosis_module.diagnose(error, classifications)
            error.diagnosis = verdict
            sent = error.request or request
            latency = error.response.latency_ms if error.response is not None else None
            if verdict.action == "ignore" and error.response is not None:
                record = AttemptRecord(
                    endpoint=request.endpoint,
                    batch_id=request.batch_id,
                    attempt=attempt,
                    max_attempts=policy.max_attempts,
                    outcome="ignored",
                    request=sent,
                    response=error.response,
                    error=error,
                    diagnosis=verdict,
                    latency_ms=latency,
                    started_at=started_at,
                )
                report(record)
                return Delivery(error.response, tuple(attempts), ignored=True, diagnosis=verdict)
            last = verdict.action == "fail" or attempt >= policy.max_attempts
            wait = None if last else policy.delay_before_next(attempt, error.retry_after, rng=rng)
            record = AttemptRecord(
                endpoint=request.endpoint,
                batch_id=request.batch_id,
                attempt=attempt,
                max_attempts=policy.max_attempts,
                outcome="failed" if last else "retrying",
                request=sent,
                response=error.response,
                error=error,
                diagnosis=verdict,
                wait_seconds=wait,
                latency_ms=latency,
                started_at=started_at,
            )
            report(record)
            # The description quotes the partner (a reason phrase may echo a credential).
            logger.info("%s", mask_text(record.describe(), request.secrets))
            if last:
                error.attempts = tuple(attempts)
                raise error from None
            sleep(wait or 0.0)
            continue
        record = AttemptRecord(
            endpoint=request.endpoint,
            batch_id=request.batch_id,
            attempt=attempt,
            max_attempts=policy.max_attempts,
            outcome="success",
            request=response.request,
            response=response,
            latency_ms=response.latency_ms,
            started_at=started_at,
        )
        report(record)
        return Delivery(response, tuple(attempts))
