"""Automated conformance checks: the checklist a reviewer sees before approving.

`run_conformance` talks to the partner's real endpoint the way a sync would (the same
compiled requests, the same client, batch ids and `Idempotency-Key`s from the protocol
helpers) and answers six questions, each as a `CheckResult`:

1. `list_id_at_path`: create_list returns an id at `list_id_path` (list-based only);
2. `full_batch_accepted`: the add endpoint (update_users for property-based) accepts a
   batch of exactly `batch_size` users;
3. `unknown_users_accepted`: removing users who are not on the list (property-based:
   `$in_cohort` false for users never added) does not fail;
4. `bad_credentials_refused`: wrong credentials get 401 (403 accepted, with a note);
5. `repeated_idempotency_key_accepted`: the same batch sent twice with the same
   `Idempotency-Key` is accepted both times;
6. `latency_within_limit`: every response of the checks above arrived within the limit.

Every request is sent once (`RetryPolicy.none()`): the checks are about how the partner
behaves, and retries would hide exactly what they look for. A partner that misbehaves,
answers nonsense or cannot be reached never makes this module raise: the check fails
with a plain-language detail. Checks are independent where they can be; the ones that
need the list fail with "not checked" when create_list gave no list id, so that an
unverified check can never read as passed.

Every text and exchange in a result is masked: the real credentials, the wrong ones sent
on purpose, and the signing secret never appear in clear.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from syncengine.core.compiler import CompiledIntegration
from syncengine.core.display import request_for_display, response_for_display, scrub_url
from syncengine.core.errors import Diagnosis, PartnerError, PartnerResponse
from syncengine.core.http import IDEMPOTENCY_HEADER, OutboundClient
from syncengine.core.manifest.schema import (
    ADD_USERS,
    CREATE_LIST,
    DEFAULT_LIST_ID_PATH,
    REMOVE_USERS,
    UPDATE_USERS,
)
from syncengine.core.manifest.variables import auth_variable_references
from syncengine.core.masking import mask_text
from syncengine.core.protocol import Batch, batch_id_for, plan_batches, read_list_id
from syncengine.core.retry import RetryPolicy, send_with_retries
from syncengine.core.template.errors import RenderError
from syncengine.core.types import PreparedRequest, RenderContext, User
from syncengine.core.users import generate_users

__all__ = [
    "CHECK_KEYS",
    "DEFAULT_LATENCY_LIMIT_MS",
    "FAILED",
    "NOT_APPLICABLE",
    "PASSED",
    "CheckResult",
    "run_conformance",
]

logger = logging.getLogger(__name__)

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

# What the platform promises partners about response times (docs/partners.md).
DEFAULT_LATENCY_LIMIT_MS = 2000
# Users removed (or set in_cohort false) although never added: enough to be a real
# batch, few enough to stay cheap; capped by the endpoint's batch size.
UNKNOWN_USERS_COUNT = 10
# Users in the batch that is sent twice with the same Idempotency-Key.
REPEATED_BATCH_USERS_COUNT = 3
# Users in the request sent with wrong credentials.
BAD_CREDENTIALS_USERS_COUNT = 1
LIST_NAME_PREFIX = "Conformance check"
# Generated users get a seed derived from the scope, so that each conformance run uses
# users no earlier run (or test run, which uses seed 0) has touched. Kept small so that
# the generated ids stay readable ("alice-482913-1").
USER_SEED_RANGE = 1_000_000
# A made-up credential: random, so it can never be the real one by accident.
WRONG_CREDENTIAL_PREFIX = "conformance-wrong-"
WRONG_CREDENTIAL_RANDOM_BYTES = 12
REFUSAL_STATUS = 401
ALSO_ACCEPTED_REFUSAL_STATUS = 403
# Generated users are indexed by this property to plan batches, as a sync indexes by
# whatever its delivered state stores; generated user ids are unique within one call.
USER_KEY = "user_id"
ONE_ATTEMPT = RetryPolicy.none()
NOT_CHECKED = "Not checked"


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
            "exchanges": [_json_ready(exchange) for exchange in self.exchanges],
        }


@dataclass(frozen=True, slots=True)
class _Exchange:
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
            return f"{_status_line(self.response)} in {self.response.latency_ms:.0f} ms"
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
                return _sentence(f"The partner answered {diagnosis.title}: {diagnosis.message}")
            return _sentence(diagnosis.message)
        if self.error is not None:
            return _sentence(self.error.message)
        return "Nothing came back."


class _RenderProblem(Exception):
    """A request of the check cannot be built from the configuration and values."""


def run_conformance(
    integration: CompiledIntegration,
    client: OutboundClient,
    *,
    context: RenderContext,
    scope: str,
    bad_credentials: RenderContext | None = None,
    latency_limit_ms: int = DEFAULT_LATENCY_LIMIT_MS,
    on_progress: Callable[[CheckResult], None] | None = None,
    signing_secret: str | None = None,
) -> list[CheckResult]:
    """Run every conformance check against the partner and return the results in order.

    `context` holds the test credentials and the users' mapping; its cohort name is
    replaced by "Conformance check <scope>", which names the dedicated list the checks
    create (a list id in `context` is not used). `scope` identifies this conformance run
    (e.g. "review:12:run:3"): it names the list and seeds the batch ids and the generated
    users, so use a fresh one per run.

    `bad_credentials`: the values to send in the bad-credentials check; they override
    `context`'s values (mapping, cohort and list stay the run's). Without it, every value
    the auth settings read is replaced by a random wrong one.

    `on_progress` receives each result as soon as its check has finished, in the order
    of `CHECK_KEYS`. `signing_secret` is required when the integration signs requests.

    Raises `ValueError` only for a caller's mistake (empty scope, a limit below 1 ms,
    a missing signing secret, bad credentials equal to the real ones), before sending
    anything. Partner failures of any kind are failed checks, never exceptions.
    """
    if not scope.strip():
        raise ValueError("scope must identify the conformance run")
    if latency_limit_ms < 1:
        raise ValueError("latency_limit_ms must be at least 1")
    signs = bool(integration.delivery.get("sign_requests"))
    if signs and not signing_secret:
        raise ValueError("this integration signs its requests: pass its signing secret")
    run = _ConformanceRun(
        integration,
        client,
        context=context,
        scope=scope,
        bad_credentials=bad_credentials,
        latency_limit_ms=latency_limit_ms,
        signing_secret=signing_secret if signs else None,
    )
    results: list[CheckResult] = []
    for check in run.checks():
        result = check()
        logger.info("conformance %s for %s: %s", result.key, scope, result.status)
        results.append(result)
        if on_progress is not None:
            on_progress(result)
    return results


class _ConformanceRun:
    """The state shared by the checks of one run: the list, the users, every exchange."""

    def __init__(
        self,
        integration: CompiledIntegration,
        client: OutboundClient,
        *,
        context: RenderContext,
        scope: str,
        bad_credentials: RenderContext | None,
        latency_limit_ms: int,
        signing_secret: str | None,
    ):
        self.integration = integration
        self.client = client
        self.scope = scope
        self.latency_limit_ms = latency_limit_ms
        self.signing_secret = signing_secret
        self.is_list = integration.integration_type == "list"
        self.add_endpoint = ADD_USERS if self.is_list else UPDATE_USERS
        self.remove_endpoint = REMOVE_USERS if self.is_list else UPDATE_USERS
        self.list_name = f"{LIST_NAME_PREFIX} {scope}"
        self.context = replace(context, cohort_name=self.list_name, list_id=None)
        self.auth_method = _auth_method(integration.manifest)
        self.auth_variables = _auth_variables(integration.manifest)
        # The text describes the wrong values sent, or why the check does not apply.
        self.bad_context, self.bad_credentials_text = self._bad_credentials(bad_credentials)
        secret_values = [*integration.secret_values(self.context)]
        if self.bad_context is not None:
            secret_values += integration.secret_values(self.bad_context)
        if signing_secret:
            secret_values.append(signing_secret)
        self.secrets = tuple(dict.fromkeys(secret_values))
        self.list_id_path = integration.list_id_path or DEFAULT_LIST_ID_PATH
        self.list_title = f"create_list returns an id at {self.list_id_path}"
        self.list_id: str | None = None
        self.exchanges: list[_Exchange] = []
        self._pacer = _Pacer(integration.delivery.get("requests_per_second"))
        self._users = self._generate_users()

    def checks(self) -> tuple[Callable[[], CheckResult], ...]:
        return (
            self.check_list_id,
            self.check_full_batch,
            self.check_unknown_users,
            self.check_bad_credentials,
            self.check_repeated_idempotency_key,
            self.check_latency,
        )

    # --- the checks ---------------------------------------------------------------------

    def check_list_id(self) -> CheckResult:
        """create_list returns an id at list_id_path (list-based only)."""
        if not self.is_list:
            return self.result(
                LIST_ID_AT_PATH,
                "create_list returns a list id",
                NOT_APPLICABLE,
                "Property-based integrations have no create_list: update_users sets each "
                "user's property directly, so there is no list id to read.",
            )
        path, title = self.list_id_path, self.list_title
        batch_id = batch_id_for(self.scope, CREATE_LIST, ())
        try:
            request = self.build(CREATE_LIST, self.context, batch_id=batch_id)
        except _RenderProblem as problem:
            return self.result(LIST_ID_AT_PATH, title, FAILED, str(problem))
        exchange = self.send(f'create_list "{self.list_name}"', request)
        sent = f"Sent {self.describe_request(exchange)} to create the list “{self.list_name}”."
        if not exchange.accepted or exchange.response is None:
            return self.result(
                LIST_ID_AT_PATH,
                title,
                FAILED,
                f"{sent} {exchange.outcome()} Without a list id no sync can add or remove users.",
                [exchange],
            )
        try:
            list_id = read_list_id(exchange.response, path)
        except PartnerError as missing:
            return self.result(
                LIST_ID_AT_PATH,
                title,
                FAILED,
                f"{sent} {_sentence(missing.message)} Fix: return the new list's id at "
                f"{path} in the response, or set list_id_path to where the response has it "
                "(dotted, with numbers for array positions, like data.id or lists.0.id).",
                [exchange],
            )
        self.list_id = list_id
        return self.result(
            LIST_ID_AT_PATH,
            title,
            PASSED,
            f"{sent} The partner answered {exchange.short()} with the list id “{list_id}” "
            f"at {path}.",
            [exchange],
        )

    def check_full_batch(self) -> CheckResult:
        """The add endpoint accepts exactly batch_size users in one request."""
        key = FULL_BATCH_ACCEPTED
        endpoint = self.add_endpoint
        size = self.integration.batch_size(endpoint)
        title = f"{endpoint} accepts a full batch of {size} users"
        blocked = self.needs_list(key, title)
        if blocked is not None:
            return blocked
        batch = self.batch(endpoint, self._users["full_batch"], in_cohort=True)
        try:
            request = self.build_batch(batch, self.context_with_list())
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        exchange = self.send(f"{endpoint} (full batch of {size})", request)
        sent = (
            f"Sent one {self.describe_request(exchange)} carrying exactly {size} generated "
            f"users, the batch_size of {endpoint}."
        )
        if exchange.accepted:
            return self.result(key, title, PASSED, f"{sent} {exchange.outcome()}", [exchange])
        return self.result(
            key,
            title,
            FAILED,
            f"{sent} {exchange.outcome()} {self.ignored_note(exchange)}Syncs send batches "
            f"of up to {size} users, so every full batch would fail the same way. Fix: make "
            "the endpoint accept that many users per request, or lower the batch_size of "
            f"{endpoint} to what it accepts.",
            [exchange],
        )

    def check_unknown_users(self) -> CheckResult:
        """Removing users who are not there (or were never added) does not fail."""
        key = UNKNOWN_USERS_ACCEPTED
        endpoint = self.remove_endpoint
        users = self._users["unknown"]
        if self.is_list:
            title = "remove_users accepts users who are not on the list"
            what = f"removing {len(users)} generated users who were never added to the list"
        else:
            title = "update_users accepts in_cohort false for users never added"
            what = (
                f"setting $in_cohort to false for {len(users)} generated users who were never added"
            )
        blocked = self.needs_list(key, title)
        if blocked is not None:
            return blocked
        batch = self.batch(endpoint, users, in_cohort=False)
        try:
            request = self.build_batch(batch, self.context_with_list())
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        exchange = self.send(f"{endpoint} (users never added)", request)
        sent = f"Sent {self.describe_request(exchange)} {what}."
        if exchange.accepted:
            return self.result(key, title, PASSED, f"{sent} {exchange.outcome()}", [exchange])
        if exchange.ignored and exchange.response is not None:
            # The endpoint's own classifications make a sync treat this answer as
            # delivered, which is what "does not fail" means for a sync.
            return self.result(
                key,
                title,
                PASSED,
                f"{sent} The partner answered {_status_line(exchange.response)}, which the "
                f"error classifications of {endpoint} mark “ignore”, so a sync treats the "
                "batch as delivered.",
                [exchange],
            )
        return self.result(
            key,
            title,
            FAILED,
            f"{sent} {exchange.outcome()} This happens in ordinary syncs (a user who left "
            "before being added, a list edited on the partner's side), and each time the "
            "whole sync would stop. Fix: answer 2xx when some users are not there, or "
            f"classify this answer as “ignore” in the error classifications of {endpoint}.",
            [exchange],
        )

    def check_bad_credentials(self) -> CheckResult:
        """A request with wrong credentials is refused with 401 (403 accepted)."""
        key = BAD_CREDENTIALS_REFUSED
        title = f"Bad credentials are refused with {REFUSAL_STATUS}"
        if self.bad_context is None:
            return self.result(key, title, NOT_APPLICABLE, self.bad_credentials_text)
        bad_context = self.bad_context
        try:
            if self.list_id is not None or not self.is_list:
                endpoint = self.add_endpoint
                batch = self.batch(endpoint, self._users["bad_credentials"], in_cohort=True)
                request = self.build_batch(batch, replace(bad_context, list_id=self.list_id))
            else:
                # No list to add to: create_list needs no list id and is just as
                # protected. Its own batch id, so that a partner replaying the answer to
                # the real create_list's Idempotency-Key cannot make this look accepted.
                endpoint = CREATE_LIST
                batch_id = batch_id_for(f"{self.scope}:{key}", CREATE_LIST, ())
                request = self.build(CREATE_LIST, bad_context, batch_id=batch_id)
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        exchange = self.send(f"{endpoint} with bad credentials", request)
        sent = (
            f"Sent {self.describe_request(exchange)} with {self.bad_credentials_text} in "
            "place of the real credentials."
        )
        status = exchange.status
        if status == REFUSAL_STATUS:
            return self.result(
                key,
                title,
                PASSED,
                f"{sent} The partner refused it with {exchange.short()}, as it should.",
                [exchange],
            )
        if status == ALSO_ACCEPTED_REFUSAL_STATUS:
            return self.result(
                key,
                title,
                PASSED,
                f"{sent} The partner refused it with {exchange.short()}. That is accepted, "
                f"though {REFUSAL_STATUS} Unauthorized is the standard answer to wrong "
                f"credentials: {ALSO_ACCEPTED_REFUSAL_STATUS} usually means valid credentials "
                "without permission, which may point end users at the wrong fix.",
                [exchange],
            )
        if exchange.accepted:
            return self.result(
                key,
                title,
                FAILED,
                f"{sent} The partner accepted it: {exchange.short()}. Fix: check the "
                f"credentials on every request and answer {REFUSAL_STATUS} to wrong ones; "
                "otherwise anybody can write to your customers' data, and an end user with "
                "a mistyped key never finds out.",
                [exchange],
            )
        return self.result(
            key,
            title,
            FAILED,
            f"{sent} {exchange.outcome()} Wrong credentials must be refused with "
            f"{REFUSAL_STATUS} Unauthorized. Fix: check the credentials before anything "
            f"else and answer {REFUSAL_STATUS} when they are wrong, so that end users are "
            "told to fix their key rather than something else.",
            [exchange],
        )

    def check_repeated_idempotency_key(self) -> CheckResult:
        """The same batch sent twice with the same Idempotency-Key is accepted twice."""
        key = REPEATED_IDEMPOTENCY_KEY_ACCEPTED
        title = f"A repeated {IDEMPOTENCY_HEADER} is accepted"
        blocked = self.needs_list(key, title)
        if blocked is not None:
            return blocked
        endpoint = self.add_endpoint
        batch = self.batch(endpoint, self._users["repeated"], in_cohort=True)
        try:
            request = self.build_batch(batch, self.context_with_list())
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        # The very same prepared request twice: same body, same batch id, hence the same
        # Idempotency-Key, exactly what a sync's retry of an unanswered batch sends.
        first = self.send(f"{endpoint} (first)", request)
        described = (
            f"{self.describe_request(first)} with {len(batch.users)} users and "
            f"{IDEMPOTENCY_HEADER}: {batch.batch_id}"
        )
        if not first.accepted:
            return self.result(
                key,
                title,
                FAILED,
                f"Sent {described}. The first request already failed, so the repeat was not "
                f"sent and could not be judged. {first.outcome()}",
                [first],
            )
        second = self.send(f"{endpoint} (repeated)", request)
        sent = f"Sent {described} twice; the first was accepted ({first.short()})."
        if not second.accepted:
            return self.result(
                key,
                title,
                FAILED,
                f"{sent} The repeat was not accepted. {second.outcome()} A sync sends a batch "
                f"again with the same {IDEMPOTENCY_HEADER} when it got no answer the first "
                "time (a timeout, a dropped connection), so the repeat must succeed. Fix: "
                "answer 2xx again, ideally by replaying the first response without applying "
                "the batch twice.",
                [first, second],
            )
        assert first.response is not None and second.response is not None
        if (first.response.status, first.response.body) == (
            second.response.status,
            second.response.body,
        ):
            note = "Both responses are identical."
        else:
            note = (
                "The two responses differ, which is fine as long as the batch is applied "
                "once; replaying the first response is the usual answer."
            )
        return self.result(
            key,
            title,
            PASSED,
            f"{sent} The repeat was accepted too ({second.short()}). {note}",
            [first, second],
        )

    def check_latency(self) -> CheckResult:
        """Every response of the checks above arrived within the limit."""
        limit = self.latency_limit_ms
        title = f"Every response arrives within {limit} ms"
        timed = [exchange for exchange in self.exchanges if exchange.latency_ms is not None]
        if not timed:
            return self.result(
                LATENCY_WITHIN_LIMIT,
                title,
                FAILED,
                f"{NOT_CHECKED}: none of the {len(self.exchanges)} requests got an answer, so "
                "there is nothing to time. See the other checks for why.",
            )
        slowest = max(timed, key=_latency)
        slow = [exchange for exchange in timed if _latency(exchange) > limit]
        if not slow:
            return self.result(
                LATENCY_WITHIN_LIMIT,
                title,
                PASSED,
                f"All {len(timed)} responses arrived within {limit} ms; the slowest was "
                f"{slowest.label} at {_latency(slowest):.0f} ms.",
                [slowest],
            )
        listed = "; ".join(f"{exchange.label}: {_took(exchange)}" for exchange in slow)
        return self.result(
            LATENCY_WITHIN_LIMIT,
            title,
            FAILED,
            f"{len(slow)} of {len(timed)} requests took longer than {limit} ms to answer "
            f"({listed}); the slowest was {slowest.label} at {_latency(slowest):.0f} ms. "
            "Syncs wait for every batch, so slow answers hold up every customer's syncs and "
            "end in timeouts. Fix: answer as soon as the request is safely stored and do the "
            "heavy work afterwards.",
            slow,
        )

    # --- sending and recording -------------------------------------------------------

    def send(self, label: str, request: PreparedRequest) -> _Exchange:
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
            exchange = _Exchange(
                label=label,
                request=error.request or request,
                response=error.response,
                error=error,
                diagnosis=error.diagnosis,
                ignored=False,
                elapsed_ms=(time.monotonic() - started) * 1000,
            )
        else:
            exchange = _Exchange(
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

    def build(
        self, endpoint: str, context: RenderContext, *, batch_id: str | None = None
    ) -> PreparedRequest:
        try:
            return self.integration.build_request(endpoint, context=context, batch_id=batch_id)
        except (RenderError, ValueError) as problem:
            raise _RenderProblem(_render_problem_text(endpoint, problem)) from None

    def build_batch(self, batch: Batch, context: RenderContext) -> PreparedRequest:
        try:
            return self.integration.build_request(
                batch.endpoint,
                context=context,
                users=batch.users,
                in_cohort=batch.in_cohort,
                batch_id=batch.batch_id,
            )
        except (RenderError, ValueError) as problem:
            raise _RenderProblem(_render_problem_text(batch.endpoint, problem)) from None

    def batch(self, endpoint: str, users: Sequence[User], *, in_cohort: bool) -> Batch:
        """One batch planned exactly as a sync plans it (sorted keys, stable batch id)."""
        by_key = {str(user[USER_KEY]): user for user in users}
        size = self.integration.batch_size(endpoint)
        direction = in_cohort if endpoint == UPDATE_USERS else None
        (planned,) = plan_batches(
            endpoint, by_key, size=size, scope=self.scope, in_cohort=direction
        )
        return planned

    def context_with_list(self) -> RenderContext:
        return replace(self.context, list_id=self.list_id)

    def needs_list(self, key: str, title: str) -> CheckResult | None:
        """A failed "not checked" result when the check needs a list and there is none."""
        if not self.is_list or self.list_id is not None:
            return None
        return self.result(
            key,
            title,
            FAILED,
            f"{NOT_CHECKED}: this check sends users to the list that create_list creates, "
            f"and create_list gave no list id (see “{self.list_title}”). Fix that check "
            "first, then run the checks again.",
        )

    def describe_request(self, exchange: _Exchange) -> str:
        request = exchange.request
        url = scrub_url(request.url, self.secrets)
        return f"{request.endpoint} request ({request.method} {url})"

    def ignored_note(self, exchange: _Exchange) -> str:
        if not exchange.ignored:
            return ""
        return (
            "(The error classifications mark this answer “ignore”, so a sync would count "
            "these users as delivered although the partner did not take them.) "
        )

    def result(
        self,
        key: str,
        title: str,
        status: str,
        detail: str,
        exchanges: Sequence[_Exchange] = (),
    ) -> CheckResult:
        """A result with every secret masked, in the texts as in the exchanges."""
        return CheckResult(
            key=key,
            title=mask_text(title, self.secrets),
            status=status,
            detail=mask_text(detail, self.secrets),
            exchanges=tuple(self.display(exchange) for exchange in exchanges),
        )

    def display(self, exchange: _Exchange) -> dict[str, Any]:
        # The request carries only its own secrets; mask all of the run's, so that the
        # real credentials never show in the bad-credentials request and vice versa.
        request = replace(exchange.request, secrets=self.secrets)
        return _json_ready(
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

    # --- set-up ------------------------------------------------------------------------

    def _generate_users(self) -> dict[str, list[dict[str, Any]]]:
        """Disjoint sets of generated users, one per check, from one call (unique ids)."""
        add_size = self.integration.batch_size(self.add_endpoint)
        sizes = {
            "full_batch": add_size,
            "unknown": min(UNKNOWN_USERS_COUNT, self.integration.batch_size(self.remove_endpoint)),
            "repeated": min(REPEATED_BATCH_USERS_COUNT, add_size),
            "bad_credentials": BAD_CREDENTIALS_USERS_COUNT,
        }
        digest = hashlib.sha256(self.scope.encode("utf-8", "surrogatepass")).digest()
        seed = int.from_bytes(digest[:8], "big") % USER_SEED_RANGE + 1
        pool = generate_users(sum(sizes.values()), seed=seed)
        groups: dict[str, list[dict[str, Any]]] = {}
        start = 0
        for name, size in sizes.items():
            groups[name] = pool[start : start + size]
            start += size
        return groups

    def _bad_credentials(self, given: RenderContext | None) -> tuple[RenderContext | None, str]:
        """The context for the bad-credentials request and how to describe its values.

        Without a context to send, the text says why the check does not apply.
        """
        if self.auth_method == "none":
            return None, (
                "The integration uses no authentication (auth method none), so there are "
                "no credentials to get wrong."
            )
        if not self.auth_variables:
            return None, (
                f"The {self.auth_method} credentials are written into the configuration "
                "itself rather than read from a Connect-modal field, so an end user has no "
                "credentials to get wrong."
            )
        names = ", ".join(f"${name}" for name in self.auth_variables)
        if given is not None:
            values = {**self.context.values, **given.values}
            if all(values.get(n) == self.context.values.get(n) for n in self.auth_variables):
                raise ValueError(
                    f"bad_credentials has the same credentials as context: give other "
                    f"values for {names}"
                )
            described = f"the bad credentials supplied for {names}"
        else:
            values = dict(self.context.values)
            for name in self.auth_variables:
                values[name] = WRONG_CREDENTIAL_PREFIX + secrets.token_hex(
                    WRONG_CREDENTIAL_RANDOM_BYTES
                )
            described = f"made-up values for {names}"
        return replace(self.context, values=values), described


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


def _auth_method(manifest: Mapping[str, Any]) -> str:
    auth = manifest.get("auth")
    method = auth.get("method") if isinstance(auth, dict) else None
    return method if isinstance(method, str) and method else "none"


def _auth_variables(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """The custom-field variables the auth settings read (the credentials)."""
    declared = {
        field.get("variable")
        for field in manifest.get("custom_fields", [])
        if isinstance(field, dict)
    }
    names = [use.variable for use in auth_variable_references(manifest.get("auth"))]
    return tuple(name for name in dict.fromkeys(names) if name in declared)


def _status_line(response: PartnerResponse) -> str:
    return f"{response.status} {response.reason}".strip()


def _latency(exchange: _Exchange) -> float:
    return exchange.latency_ms or 0.0


def _took(exchange: _Exchange) -> str:
    if exchange.response is None:
        return f"no answer after {_latency(exchange):.0f} ms (timed out)"
    return f"{_latency(exchange):.0f} ms"


def _sentence(text: str) -> str:
    """`text` ending like a sentence, so that the next one can follow it."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _render_problem_text(endpoint: str, problem: Exception) -> str:
    path = getattr(problem, "path", "") or f"endpoints.{endpoint}"
    message = getattr(problem, "message", None) or str(problem)
    return (
        f"{NOT_CHECKED}: the {endpoint} request cannot be built from the configuration "
        f"and the test values ({path}: {message}). Fix the configuration or the values, "
        "then run the checks again."
    )


def _json_ready(value: Any) -> Any:
    """A deep copy with tuples turned into lists, as JSON storage gives them back."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value
