"""Retrying partner requests: which failures are worth another try, and when.

The platform promises partners (DESIGN section 6): connection errors, timeouts, 408, 429
and 5xx except 501 and 505 are retried, with exponential backoff and jitter over at most
8 attempts (1 s growing to about 2 minutes of total waiting), honouring `Retry-After`
(delta-seconds or an HTTP date, capped). Every other response status is permanent. The
client marks each error by those rules as it raises it (`errors.is_retryable_status`,
`errors.parse_retry_after`); this module decides how often to try and how long to wait.

An endpoint's error classifications (`errors` in the manifest) can override that default
per status and sub-code: `retry` makes a failure retryable, `fail` makes it permanent and
`ignore` treats the batch as delivered. `diagnosis.diagnose` applies them; this module
only follows its verdict.

Every attempt, whatever its outcome, is reported through `on_attempt` so that the caller
can store it and show "attempt 2 of 8, waiting 4.2 s".

A worker should not sleep through a long wait: with `max_wait`, a wait longer than that
ends the call with `RetryDeferred` (after how many seconds to try again, how many attempts
were used), and the caller re-enqueues itself with a countdown, then calls again with
`start_attempt` so that the attempts keep counting towards the same limit.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncengine.core.diagnosis import diagnose
from syncengine.core.errors import AttemptRecord, Diagnosis, PartnerError, PartnerResponse
from syncengine.core.http import OutboundClient
from syncengine.core.masking import mask_text
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


class RetryDeferred(Exception):
    """The next try should wait longer than the caller wants to sleep.

    `after_seconds` is the wait; `attempts_used` the attempts made so far (call again with
    `start_attempt=attempts_used + 1`); `error` is the failure of the last attempt.
    """

    def __init__(self, after_seconds: float, attempts_used: int, error: PartnerError):
        super().__init__(f"try again in {after_seconds:.1f} s (after {attempts_used} attempts)")
        self.after_seconds = after_seconds
        self.attempts_used = attempts_used
        self.error = error


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
    max_wait: float | None = None,
    start_attempt: int = 1,
) -> Delivery:
    """Send `request` until it succeeds, fails permanently or runs out of attempts.

    Returns a `Delivery` on a 2xx or on an error the endpoint classifies as `ignore`.
    Raises the last `PartnerError`, with `.diagnosis` and `.attempts` filled in, when the
    request failed for good. `on_attempt` receives every attempt as it ends, before any
    wait; `throttle` (a rate limiter) is called before every attempt; `sleep` is injected
    by tests and by the protocol (which makes it return early when a run stops).

    `max_wait`: a wait longer than this raises `RetryDeferred` instead of sleeping.
    `start_attempt`: the number of the first attempt (a deferred request tried again).
    """
    policy = policy or RetryPolicy()
    if not 1 <= start_attempt <= policy.max_attempts:
        raise ValueError(f"start_attempt must be from 1 to {policy.max_attempts}")
    attempts: list[AttemptRecord] = []

    def report(record: AttemptRecord) -> None:
        attempts.append(record)
        if on_attempt is not None:
            on_attempt(record)

    attempt = start_attempt - 1
    while True:
        attempt += 1
        if throttle is not None:
            throttle()
        started_at = time.time()
        try:
            response = client.send(request, signing_secret=signing_secret)
        except PartnerError as error:
            verdict = diagnose(error, classifications)
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
            if max_wait is not None and (wait or 0.0) > max_wait:
                error.attempts = tuple(attempts)
                raise RetryDeferred(wait or 0.0, attempt, error) from None
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
