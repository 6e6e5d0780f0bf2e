"""The six conformance checks and `run_conformance`, which runs them in order.

Each check decides what to send (the same compiled requests, batch ids and users a sync
would use), sends it through the run's `ExchangeRecorder` and judges the answer, with a
plain-language detail that says what was sent, what came back and how to fix it. The
package docstring lists the checks and the rules they share.

Why one module of ~700 lines: the checks run in order and each reads what the one before
it left (the list it created, the users it added); kept together, that hand-over reads
top to bottom in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from syncengine.core.compiler import CompiledIntegration
from syncengine.core.conformance.exchanges import (
    Delivered,
    Exchange,
    ExchangeRecorder,
    sentence,
    status_line,
)
from syncengine.core.conformance.inputs import bad_credentials_context, check_users
from syncengine.core.conformance.results import (
    BAD_CREDENTIALS_REFUSED,
    FAILED,
    FULL_BATCH_ACCEPTED,
    LATENCY_WITHIN_LIMIT,
    LIST_ID_AT_PATH,
    NOT_APPLICABLE,
    PASSED,
    REPEATED_IDEMPOTENCY_KEY_ACCEPTED,
    UNKNOWN_USERS_ACCEPTED,
    CheckResult,
)
from syncengine.core.errors import PartnerError
from syncengine.core.http import IDEMPOTENCY_HEADER, OutboundClient
from syncengine.core.manifest.schema import (
    ADD_USERS,
    CREATE_LIST,
    DEFAULT_LIST_ID_PATH,
    REMOVE_USERS,
    UPDATE_USERS,
)
from syncengine.core.masking import mask_text
from syncengine.core.protocol import Batch, batch_id_for, plan_batches, read_list_id
from syncengine.core.template.errors import RenderError
from syncengine.core.types import PreparedRequest, RenderContext, User

logger = logging.getLogger(__name__)

# What the platform promises partners about response times (docs/partners.md).
DEFAULT_LATENCY_LIMIT_MS = 2000
LIST_NAME_PREFIX = "Conformance check"
REFUSAL_STATUS = 401
ALSO_ACCEPTED_REFUSAL_STATUS = 403
# Generated users are indexed by this property to plan batches, as a sync indexes by
# whatever its delivered state stores; generated user ids are unique within one call.
USER_KEY = "user_id"
NOT_CHECKED = "Not checked"


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
        self.scope = scope
        self.latency_limit_ms = latency_limit_ms
        self.is_list = integration.integration_type == "list"
        self.add_endpoint = ADD_USERS if self.is_list else UPDATE_USERS
        self.remove_endpoint = REMOVE_USERS if self.is_list else UPDATE_USERS
        self.list_name = f"{LIST_NAME_PREFIX} {scope}"
        self.context = replace(context, cohort_name=self.list_name, list_id=None)
        # The text describes the wrong values sent, or why the check does not apply.
        self.bad_context, self.bad_credentials_text = bad_credentials_context(
            integration, self.context, bad_credentials
        )
        secret_values = [*integration.secret_values(self.context)]
        if self.bad_context is not None:
            secret_values += integration.secret_values(self.bad_context)
        if signing_secret:
            secret_values.append(signing_secret)
        self.secrets = tuple(dict.fromkeys(secret_values))
        self.list_id_path = integration.list_id_path or DEFAULT_LIST_ID_PATH
        self.list_title = f"create_list returns an id at {self.list_id_path}"
        self.list_id: str | None = None
        self.recorder = ExchangeRecorder(
            integration, client, signing_secret=signing_secret, secrets=self.secrets
        )
        self._users = check_users(
            integration,
            add_endpoint=self.add_endpoint,
            remove_endpoint=self.remove_endpoint,
            scope=scope,
        )

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
        exchange = self.recorder.send(f'create_list "{self.list_name}"', request)
        described = self.recorder.describe_request(exchange)
        sent = f"Sent {described} to create the list “{self.list_name}”."
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
                f"{sent} {sentence(missing.message)} Fix: return the new list's id at "
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
            delivered = self.deliver(
                f"{endpoint} (full batch of {size})", batch, self.context_with_list()
            )
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        exchange = delivered.judged
        if exchange is None:
            return self.result(
                key,
                title,
                NOT_APPLICABLE,
                f"{endpoint} looks users up first and skips those it does not find; the "
                f"{size} generated users are unknown to your platform, so no batch was sent. "
                "Run a test with users your platform knows to see a full batch accepted.",
            )
        sent = (
            f"Sent one {self.recorder.describe_request(exchange)} carrying exactly {size} "
            f"generated users, the batch_size of {endpoint}."
            if exchange.request.endpoint == endpoint and not self.integration.is_per_user(endpoint)
            else f"Delivered a batch of {size} generated users to {endpoint} as a sync would "
            f"({len(delivered.exchanges)} requests); {self.recorder.describe_request(exchange)} "
            "is the one judged."
        )
        if exchange.accepted:
            return self.result(
                key, title, PASSED, f"{sent} {exchange.outcome()}", delivered.exchanges
            )
        return self.result(
            key,
            title,
            FAILED,
            f"{sent} {exchange.outcome()} {self.ignored_note(exchange)}Syncs send batches "
            f"of up to {size} users, so every full batch would fail the same way. Fix: make "
            "the endpoint accept that many users per request, or lower the batch_size of "
            f"{endpoint} to what it accepts.",
            delivered.exchanges,
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
            delivered = self.deliver(
                f"{endpoint} (users never added)", batch, self.context_with_list()
            )
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        exchange = delivered.judged
        skipped = len(delivered.outcome.skipped)
        if exchange is None:
            return self.result(
                key,
                title,
                PASSED,
                f"{endpoint} looks users up first and skips those it does not find: "
                f"{what} skipped all {skipped} of them, so a sync never fails on such users.",
                delivered.exchanges,
            )
        sent = f"Sent {self.recorder.describe_request(exchange)} {what}."
        if exchange.accepted:
            return self.result(
                key, title, PASSED, f"{sent} {exchange.outcome()}", delivered.exchanges
            )
        if exchange.ignored and exchange.response is not None:
            # The endpoint's own classifications make a sync treat this answer as
            # delivered, which is what "does not fail" means for a sync.
            return self.result(
                key,
                title,
                PASSED,
                f"{sent} The partner answered {status_line(exchange.response)}, which the "
                f"error classifications of {endpoint} mark “ignore”, so a sync treats the "
                "batch as delivered.",
                delivered.exchanges,
            )
        return self.result(
            key,
            title,
            FAILED,
            f"{sent} {exchange.outcome()} This happens in ordinary syncs (a user who left "
            "before being added, a list edited on the partner's side), and each time the "
            "whole sync would stop. Fix: answer 2xx when some users are not there, or "
            f"classify this answer as “ignore” in the error classifications of {endpoint}.",
            delivered.exchanges,
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
                delivered = self.deliver(
                    f"{endpoint} with bad credentials",
                    batch,
                    replace(bad_context, list_id=self.list_id),
                )
                # The first request a sync sends (a lookup, say) is the one refused.
                judged = delivered.exchanges[0] if delivered.exchanges else None
            else:
                # No list to add to: create_list needs no list id and is just as
                # protected. Its own batch id, so that a partner replaying the answer to
                # the real create_list's Idempotency-Key cannot make this look accepted.
                endpoint = CREATE_LIST
                batch_id = batch_id_for(f"{self.scope}:{key}", CREATE_LIST, ())
                request = self.build(CREATE_LIST, bad_context, batch_id=batch_id)
                judged = self.recorder.send(f"{endpoint} with bad credentials", request)
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        if judged is None:
            return self.result(
                key,
                title,
                FAILED,
                f"{NOT_CHECKED}: the {endpoint} request with bad credentials sent nothing "
                "(every user was skipped before any request).",
            )
        exchange = judged
        sent = (
            f"Sent {self.recorder.describe_request(exchange)} with {self.bad_credentials_text} in "
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
        if self.integration.lookup_of(endpoint) is not None or self.integration.is_per_user(
            endpoint
        ):
            return self.check_repeated_delivery(key, title, batch)
        try:
            request = self.build_batch(batch, self.context_with_list())
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        # The very same prepared request twice: same body, same batch id, hence the same
        # Idempotency-Key, exactly what a sync's retry of an unanswered batch sends.
        first = self.recorder.send(f"{endpoint} (first)", request)
        described = (
            f"{self.recorder.describe_request(first)} with {len(batch.users)} users and "
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
        second = self.recorder.send(f"{endpoint} (repeated)", request)
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

    def check_repeated_delivery(self, key: str, title: str, batch: Batch) -> CheckResult:
        """The repeated-key check for an endpoint with a lookup or per-user requests: the
        same batch delivered twice, as a sync re-delivers an unanswered one."""
        endpoint = batch.endpoint
        try:
            first = self.deliver(f"{endpoint} (first)", batch, self.context_with_list())
            if first.judged is None and first.outcome.skipped:
                return self.result(
                    key,
                    title,
                    NOT_APPLICABLE,
                    f"{endpoint} looks users up first and skips those it does not find; the "
                    "generated users are unknown to your platform, so no batch was sent.",
                    first.exchanges,
                )
            failed = (
                first.judged if first.judged is not None and not first.judged.accepted else None
            )
            if failed is not None or not first.main:
                what = failed.outcome() if failed is not None else "Nothing was sent."
                return self.result(
                    key,
                    title,
                    FAILED,
                    f"Delivered {len(batch.users)} users to {endpoint}; the first delivery "
                    f"already failed, so the repeat was not sent. {what}",
                    first.exchanges,
                )
            second = self.deliver(f"{endpoint} (repeated)", batch, self.context_with_list())
        except _RenderProblem as problem:
            return self.result(key, title, FAILED, str(problem))
        keys = sorted({e.request.batch_id or "" for e in first.main})
        sent = (
            f"Delivered {len(batch.users)} users to {endpoint} twice with the same "
            f"{IDEMPOTENCY_HEADER} ({', '.join(keys)}); the first delivery was accepted."
        )
        judged = second.judged
        if judged is None or not judged.accepted or not second.main:
            what = judged.outcome() if judged is not None else "Nothing was sent."
            return self.result(
                key,
                title,
                FAILED,
                f"{sent} The repeat was not accepted. {what} A sync delivers a batch again "
                f"with the same {IDEMPOTENCY_HEADER} when it got no answer the first time, so "
                "the repeat must succeed.",
                first.exchanges + second.exchanges,
            )
        return self.result(
            key,
            title,
            PASSED,
            f"{sent} The repeat was accepted too ({second.main[0].short()}).",
            first.exchanges + second.exchanges,
        )

    def check_latency(self) -> CheckResult:
        """Every response of the checks above arrived within the limit."""
        limit = self.latency_limit_ms
        title = f"Every response arrives within {limit} ms"
        timed = [
            exchange for exchange in self.recorder.exchanges if exchange.latency_ms is not None
        ]
        if not timed:
            return self.result(
                LATENCY_WITHIN_LIMIT,
                title,
                FAILED,
                f"{NOT_CHECKED}: none of the {len(self.recorder.exchanges)} requests got an "
                "answer, so there is nothing to time. See the other checks for why.",
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

    def build(
        self, endpoint: str, context: RenderContext, *, batch_id: str | None = None
    ) -> PreparedRequest:
        try:
            return self.integration.build_request(endpoint, context=context, batch_id=batch_id)
        except (RenderError, ValueError) as problem:
            raise _RenderProblem(_render_problem_text(endpoint, problem)) from None

    def deliver(self, label: str, batch: Batch, context: RenderContext) -> Delivered:
        """Deliver `batch` once as a sync would; `_RenderProblem` if it cannot be built."""
        delivered = self.recorder.deliver(
            label,
            endpoint=batch.endpoint,
            users=batch.users,
            keys=batch.keys,
            context=context,
            batch_id=batch.batch_id,
            in_cohort=batch.in_cohort,
        )
        error = delivered.outcome.error
        if error is not None and error.kind == "invalid_request" and not delivered.exchanges:
            raise _RenderProblem(
                f"{NOT_CHECKED}: the {batch.endpoint} request cannot be built from the "
                f"configuration and the test values ({error.message}). Fix the configuration "
                "or the values, then run the checks again."
            )
        return delivered

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

    def ignored_note(self, exchange: Exchange) -> str:
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
        exchanges: Sequence[Exchange] = (),
    ) -> CheckResult:
        """A result with every secret masked, in the texts as in the exchanges."""
        return CheckResult(
            key=key,
            title=mask_text(title, self.secrets),
            status=status,
            detail=mask_text(detail, self.secrets),
            exchanges=tuple(self.recorder.display(exchange) for exchange in exchanges),
        )


def _latency(exchange: Exchange) -> float:
    return exchange.latency_ms or 0.0


def _took(exchange: Exchange) -> str:
    if exchange.response is None:
        return f"no answer after {_latency(exchange):.0f} ms (timed out)"
    return f"{_latency(exchange):.0f} ms"


def _render_problem_text(endpoint: str, problem: Exception) -> str:
    path = getattr(problem, "path", "") or f"endpoints.{endpoint}"
    message = getattr(problem, "message", None) or str(problem)
    return (
        f"{NOT_CHECKED}: the {endpoint} request cannot be built from the configuration "
        f"and the test values ({path}: {message}). Fix the configuration or the values, "
        "then run the checks again."
    )
