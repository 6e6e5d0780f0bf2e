"""The requests of a conformance run: each sent once, timed, and shown masked.

`ExchangeRecorder` sends every request of the checks through the retry loop with a single
attempt (retries would hide exactly what the checks look for), paced by the integration's
`requests_per_second`, and keeps an `Exchange` per request: what was sent, what came back,
how long it took and how the failure was diagnosed. `display` shows an exchange with all
of the run's secrets masked.

A batch is delivered as a sync delivers it (`deliver`, through `delivery.deliver_batch`):
an endpoint's lookup and create requests, and requests sent per user, are exchanges of
the check like its batch request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from syncengine.core.compiler import CompiledIntegration
from syncengine.core.conformance.results import json_ready_object
from syncengine.core.delivery import BatchOutcome, deliver_batch
from syncengine.core.display import request_for_display, response_for_display, scrub_url
from syncengine.core.errors import AttemptRecord, Diagnosis, PartnerError, PartnerResponse
from syncengine.core.http import OutboundClient
from syncengine.core.masking import mask_text
from syncengine.core.retry import RetryPolicy, send_with_retries
from syncengine.core.types import PreparedRequest, RenderContext, User

ONE_ATTEMPT = RetryPolicy.none()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request sent during the checks and what became of it."""

    label: str
    request: PreparedRequest
    response: PartnerResponse | None
    error: PartnerError | None
    diagnosis: Diagnosis | None
    ignored: bool
    elapsed_ms: float

    @property
    def accepted(self) -> bool:
        """The partner answered 2xx (an `ignore`-classified error is not acceptance)."""
        return self.response is not None and self.response.ok

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None

    @property
    def latency_ms(self) -> float | None:
        """How long the answer took; a timeout counts as the time waited for it."""
        if self.response is not None:
            return self.response.latency_ms
        if self.error is not None and self.error.kind == "timeout":
            return self.elapsed_ms
        return None

    def short(self) -> str:
        """The answer in a few words: "201 Created in 12 ms", or what went wrong."""
        if self.response is not None:
            return f"{status_line(self.response)} in {self.response.latency_ms:.0f} ms"
        if self.diagnosis is not None:
            return self.diagnosis.title
        return self.error.kind if self.error is not None else "no answer"

    def outcome(self) -> str:
        """The answer as a full sentence, with the diagnosis when it was not a 2xx."""
        response = self.response
        if response is not None and (self.accepted or self.diagnosis is None):
            return f"The partner answered {self.short()}."
        if self.diagnosis is not None:
            diagnosis = self.diagnosis
            if diagnosis.classified and response is not None:
                # A classified answer carries the partner's own message, not the status.
                return sentence(f"The partner answered {diagnosis.title}: {diagnosis.message}")
            return sentence(diagnosis.message)
        if self.error is not None:
            return sentence(self.error.message)
        return "Nothing came back."


@dataclass(frozen=True)
class Delivered:
    """A batch delivered once as a sync would: the outcome and every exchange, in order."""

    endpoint: str
    outcome: BatchOutcome
    exchanges: tuple[Exchange, ...]

    @property
    def main(self) -> tuple[Exchange, ...]:
        """The exchanges of the endpoint's own request(s), without lookups and creates."""
        return tuple(e for e in self.exchanges if e.request.endpoint == self.endpoint)

    @property
    def judged(self) -> Exchange | None:
        """The exchange a check judges: the first that failed, else the first of the
        endpoint's own; None when nothing was sent."""
        failed = [e for e in self.exchanges if not e.accepted]
        if failed:
            return failed[0]
        return self.main[0] if self.main else None


class ExchangeRecorder:
    """Sends the requests of one conformance run and keeps every exchange, in order.

    `secrets` are all of the run's secret values (the real credentials, the wrong ones
    sent on purpose, the signing secret): every exchange is shown with all of them masked.
    """

    def __init__(
        self,
        integration: CompiledIntegration,
        client: OutboundClient,
        *,
        signing_secret: str | None,
        secrets: Sequence[str],
    ):
        self.integration = integration
        self.client = client
        self.signing_secret = signing_secret
        self.secrets = tuple(secrets)
        self.exchanges: list[Exchange] = []
        self._pacer = _Pacer(integration.delivery.get("requests_per_second"))

    def send(self, label: str, request: PreparedRequest) -> Exchange:
        """Send `request` once and record what happened; never raises `PartnerError`."""
        started = time.monotonic()
        try:
            delivery = send_with_retries(
                self.client,
                request,
                ONE_ATTEMPT,
                classifications=self.integration.error_classifications(request.endpoint),
                signing_secret=self.signing_secret,
                throttle=self._pacer.wait,
            )
        except PartnerError as error:
            exchange = Exchange(
                label=label,
                request=error.request or request,
                response=error.response,
                error=error,
                diagnosis=error.diagnosis,
                ignored=False,
                elapsed_ms=(time.monotonic() - started) * 1000,
            )
        else:
            exchange = Exchange(
                label=label,
                request=delivery.response.request,
                response=delivery.response,
                error=None,
                diagnosis=delivery.diagnosis,
                ignored=delivery.ignored,
                elapsed_ms=(time.monotonic() - started) * 1000,
            )
        self.exchanges.append(exchange)
        return exchange

    def deliver(
        self,
        label: str,
        *,
        endpoint: str,
        users: Sequence[User],
        keys: Sequence[str],
        context: RenderContext,
        batch_id: str,
        in_cohort: bool | None,
    ) -> Delivered:
        """Deliver one batch as a sync would, each request once; keep every exchange."""
        exchanges: list[Exchange] = []

        def record(attempt: AttemptRecord) -> None:
            request = attempt.request
            name = label if request.endpoint == endpoint else f"{label}: {request.endpoint}"
            elapsed = (time.time() - attempt.started_at) * 1000
            exchange = Exchange(
                label=name,
                request=request,
                response=attempt.response,
                error=attempt.error if attempt.outcome != "success" else None,
                diagnosis=attempt.diagnosis,
                ignored=attempt.outcome == "ignored",
                elapsed_ms=attempt.latency_ms if attempt.latency_ms is not None else elapsed,
            )
            exchanges.append(exchange)
            self.exchanges.append(exchange)

        outcome = deliver_batch(
            self.integration,
            self.client,
            endpoint=endpoint,
            users=users,
            keys=keys,
            context=context,
            batch_id=batch_id,
            in_cohort=in_cohort,
            policy=ONE_ATTEMPT,
            signing_secret=self.signing_secret,
            throttle=self._pacer.wait,
            on_attempt=record,
        )
        return Delivered(endpoint, outcome, tuple(exchanges))

    def describe_request(self, exchange: Exchange) -> str:
        """The request as a reviewer reads it: endpoint, method and the scrubbed URL."""
        request = exchange.request
        url = scrub_url(request.url, self.secrets)
        return f"{request.endpoint} request ({request.method} {url})"

    def display(self, exchange: Exchange) -> dict[str, Any]:
        """The exchange as JSON data, every secret of the run masked."""
        # The request carries only its own secrets; mask all of the run's, so that the
        # real credentials never show in the bad-credentials request and vice versa.
        request = replace(exchange.request, secrets=self.secrets)
        return json_ready_object(
            {
                "label": mask_text(exchange.label, self.secrets),
                "request": request_for_display(request),
                "response": (
                    response_for_display(exchange.response, self.secrets)
                    if exchange.response is not None
                    else None
                ),
                "diagnosis": (
                    exchange.diagnosis.for_display(self.secrets)
                    if exchange.diagnosis is not None
                    else None
                ),
            }
        )


class _Pacer:
    """Spaces request starts by the integration's declared requests_per_second."""

    def __init__(self, requests_per_second: Any):
        rate = float(requests_per_second) if requests_per_second else 0.0
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        """Sleep until the next request may start (the checks send one at a time)."""
        if not self._interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


def status_line(response: PartnerResponse) -> str:
    """The status and the reason phrase the partner sent ("201 Created")."""
    return f"{response.status} {response.reason}".strip()


def sentence(text: str) -> str:
    """`text` ending like a sentence, so that the next one can follow it."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."
