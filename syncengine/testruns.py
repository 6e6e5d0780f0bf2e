"""Running a test of an integration: one code path for the worker and for the CLI.

`run_test(plan, observer, client=...)` drives the pure sync protocol step by step
(create_list → add_users → remove_users, or update_users with `$in_cohort` true then
false) and reports to an observer as it goes. Steps run one after the other, not
interleaved, so that a remove never overtakes the add of the same user.

A version-2 step may send more than its batches: the endpoint's lookup and create
requests are exchanges of the step like any other (named `add_users.lookup`, ...), and
the users a step did not send (a missing value, a lookup that did not find them) are
counted per step, with their reasons, in the step's note and the run's summary.

- The Celery task calls `execute_test_run(run_id)`: it claims the `TestRun` row with a
  conditional update, builds the plan from the row (the credentials are reloaded from the
  database, never passed in task arguments), and `RunRecorder` stores every attempt as a
  `TestExchange` while the page polls.
- `manage.py integration test` builds the plan from a manifest file and its options and
  prints each exchange instead (`syncengine.cli`); no broker and no rows involved.
"""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from portal.jobs import LeaseKeeper
from portal.wording import counted
from syncengine.core.compiler import CompiledIntegration, compile_manifest
from syncengine.core.diagnosis import diagnose
from syncengine.core.errors import AttemptRecord, PartnerError
from syncengine.core.http import OutboundClient
from syncengine.core.manifest.normalize import ManifestError, normalize_manifest
from syncengine.core.manifest.schema import (
    ADD_USERS,
    BATCH_ENDPOINTS,
    CREATE_LIST,
    REMOVE_USERS,
    UPDATE_USERS,
)
from syncengine.core.manifest.variables import collect_auth_references, collect_declarations
from syncengine.core.masking import mask_text
from syncengine.core.protocol import SyncResult, run_sync
from syncengine.core.retry import RetryPolicy
from syncengine.core.template.errors import RenderError
from syncengine.core.types import RenderContext, SkippedUser
from syncengine.models import (
    FAILED,
    PASSED,
    PENDING,
    RUNNING,
    SKIPPED,
    SigningSecret,
    TestExchange,
    TestKind,
    TestRun,
    TestSettings,
    TestStatus,
    UsersSource,
)
from syncengine.testusers import TestUsers, csv_users, generated_users, split_add_remove

logger = logging.getLogger(__name__)

# Bodies kept per exchange for the inspector: enough to read a few hundred items of a
# batch; the full size is recorded next to it.
STORED_BODY_CHARS = 64 * 1024
MAX_STORED_URL_CHARS = 8 * 1024
MAX_SUMMARY_CHARS = 300
PROGRESS_SAVE_SECONDS = 0.25
DEFAULT_COHORT_NAME = "Cohort Portal test"
# Stand-ins used only by `check_plan`, which renders requests without sending them.
CHECK_LIST_ID = "list-id-for-checking"
CHECK_BATCH_ID = "batch-id-for-checking"

# Failures found in a 2xx answer (create_list's body, a lookup's results), not in an
# attempt of their own.
AFTER_RESPONSE_FAILURES = frozenset(
    {"non_json", "list_id_missing", "results_missing", "results_unmatched", "created_without_id"}
)
CHECK_PARTNER_ID = "partner-id-for-checking"
# How a skip reason reads in a step's note and the summary.
SKIP_REASON_WORDS = {
    "missing_value": "missing value",
    "invalid_value": "value of the wrong type",
    "not_found": "not found by the lookup",
}


class TestSetupError(Exception):
    """A test that cannot start: its configuration or inputs are unusable."""


# --- the plan ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One step of a test: an endpoint, the users it sends and how many requests that is."""

    key: str
    endpoint: str
    label: str
    users: int = 0
    batches: int = 0
    in_cohort: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "endpoint": self.endpoint,
            "label": self.label,
            "users": self.users,
            "batches": self.batches,
            "status": PENDING,
            "requests": 0,
            "batches_done": 0,
            "users_done": 0,
            "users_skipped": 0,
            "skip_reasons": {},
            "note": "",
        }


@dataclass(frozen=True)
class TestPlan:
    """Everything a test needs: what to call, with which values, for which users."""

    integration: CompiledIntegration
    kind: str
    context: RenderContext
    users: TestUsers
    scope: str
    policy: RetryPolicy
    signing_secret: str | None = None
    steps: tuple[StepPlan, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of this test, for masking anything shown or stored."""
        extra = (self.signing_secret,) if self.signing_secret else ()
        return self.integration.secret_values(self.context) + extra


def steps_for(
    integration: CompiledIntegration, kind: str, users: TestUsers
) -> tuple[StepPlan, ...]:
    """The steps of a test of `kind`, with their user and request counts."""

    def batches(endpoint: str, count: int) -> int:
        return math.ceil(count / integration.batch_size(endpoint)) if count else 0

    adding, removing = len(users.to_add), len(users.to_remove)
    if integration.integration_type == "property":
        if kind not in (TestKind.FULL, TestKind.UPDATE_USERS):
            raise TestSetupError(f"a property-based integration has no {kind} step")
        return (
            StepPlan(
                "update_users:enter",
                UPDATE_USERS,
                "update_users ($in_cohort true)",
                adding,
                batches(UPDATE_USERS, adding),
                True,
            ),
            StepPlan(
                "update_users:leave",
                UPDATE_USERS,
                "update_users ($in_cohort false)",
                removing,
                batches(UPDATE_USERS, removing),
                False,
            ),
        )
    create = StepPlan(CREATE_LIST, CREATE_LIST, "create_list", batches=1)
    add = StepPlan(ADD_USERS, ADD_USERS, "add_users", adding, batches(ADD_USERS, adding))
    remove = StepPlan(
        REMOVE_USERS, REMOVE_USERS, "remove_users", removing, batches(REMOVE_USERS, removing)
    )
    chosen = {
        TestKind.FULL: (create, add, remove),
        TestKind.CREATE_LIST: (create,),
        TestKind.ADD_USERS: (add,),
        TestKind.REMOVE_USERS: (remove,),
    }.get(kind)
    if chosen is None:
        raise TestSetupError(f"a list-based integration has no {kind} step")
    return chosen


def secret_variables(manifest: Mapping[str, Any]) -> set[str]:
    """Variables whose values are secrets: fields marked secret and whatever auth reads."""
    marked = {d.variable for d in collect_declarations(manifest) if d.secret}
    return marked | {use.variable for use in collect_auth_references(manifest)}


def retry_policy(no_retries: bool) -> RetryPolicy:
    """The platform's retry policy, or a single attempt for "no retries"."""
    if no_retries:
        return RetryPolicy.none()
    return RetryPolicy(base_delay=settings.RETRY_BASE_DELAY_SECONDS)


def outbound_client() -> OutboundClient:
    """The outbound client as configured: the SSRF guard on unless explicitly lifted."""
    return OutboundClient(
        allow_private_networks=settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS,
        **settings.OUTBOUND_CLIENT_OPTIONS,
    )


def build_plan(
    manifest: Mapping[str, Any],
    *,
    kind: str,
    values: Mapping[str, Any],
    mapping: Mapping[str, str],
    users: TestUsers,
    scope: str,
    cohort_id: str,
    cohort_name: str,
    list_id: str | None = None,
    no_retries: bool = False,
    signing_secret: str | None = None,
) -> TestPlan:
    """Compile the manifest and assemble a plan; `TestSetupError` says why it cannot run."""
    try:
        integration = compile_manifest(normalize_manifest(dict(manifest)))
    except ManifestError as error:
        first = error.diagnostics[0]
        raise TestSetupError(
            f"the configuration has {len(error.diagnostics)} error(s), first "
            f"{first.path or '(manifest)'}: {first.message}"
        ) from None
    if integration.delivery.get("sign_requests") and not signing_secret:
        raise TestSetupError(
            "this integration signs its requests (delivery.sign_requests) but has no "
            "signing secret yet"
        )
    context = RenderContext(
        values=dict(values),
        mapping=dict(users.mapping if users.mapping is not None else mapping),
        cohort_id=users.cohort_id or cohort_id,
        cohort_name=users.cohort_name or cohort_name,
        list_id=list_id or None,
    )
    return TestPlan(
        integration=integration,
        kind=kind,
        context=context,
        users=users,
        scope=scope,
        policy=retry_policy(no_retries),
        signing_secret=signing_secret,
        steps=steps_for(integration, kind, users),
    )


def check_plan(plan: TestPlan) -> None:
    """Build each step's first request once (and its lookup's, create's and find's), so
    that a value that cannot be rendered (a required field left empty, a missing mapping
    choice) is reported before any call. A user the request would skip does not count."""
    integration = plan.integration
    for step in plan.steps:
        leaving = step.endpoint == REMOVE_USERS or step.in_cohort is False
        users = plan.users.to_remove if leaving else plan.users.to_add
        context = plan.context
        if step.endpoint != CREATE_LIST and not context.list_id:
            context = replace(context, list_id=CHECK_LIST_ID)
        for name in integration.request_names:
            if name.split(".")[0] != step.endpoint:
                continue
            try:
                sample: list[Any] = []
                if step.endpoint in BATCH_ENDPOINTS:
                    candidates = list(users.values())[:1]
                    skipped = integration.screen_users(name, candidates, context)
                    sample = [u for i, u in enumerate(candidates) if i not in skipped]
                main_with_lookup = name == step.endpoint and integration.lookup_of(name)
                integration.build_request(
                    name,
                    context=context,
                    users=sample,
                    in_cohort=step.in_cohort if step.endpoint == UPDATE_USERS else None,
                    batch_id=CHECK_BATCH_ID if step.endpoint in BATCH_ENDPOINTS else None,
                    partner_ids=[CHECK_PARTNER_ID] * len(sample) if main_with_lookup else None,
                )
            except (RenderError, ValueError) as error:
                message = getattr(error, "message", None) or str(error)
                path = getattr(error, "path", "")
                where = f" ({path})" if path else ""
                raise TestSetupError(
                    mask_text(f"the {name} request cannot be built: {message}{where}", plan.secrets)
                ) from None


# --- running ----------------------------------------------------------------------------


class TestObserver(Protocol):
    """What a test reports as it runs; all calls happen on the calling thread."""

    def step_started(self, step: StepPlan) -> None: ...

    def attempt(self, step: StepPlan, record: AttemptRecord) -> None: ...

    def batch_delivered(self, step: StepPlan, user_count: int) -> None: ...

    def users_skipped(self, step: StepPlan, skipped: Mapping[str, SkippedUser]) -> None: ...

    def list_id(self, list_id: str) -> None: ...

    def step_finished(
        self, step: StepPlan, status: str, note: str, error: PartnerError | None = None
    ) -> None: ...


@dataclass
class TestOutcome:
    """How a test ended. `error` (with its diagnosis) is the failure that stopped it."""

    passed: bool
    list_id: str | None = None
    list_created: bool = False
    delivered: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    error: PartnerError | None = None
    failed_step: StepPlan | None = None
    summary: str = ""

    def diagnosis_for_display(self, secrets: Sequence[str]) -> dict[str, Any] | None:
        if self.error is None:
            return None
        verdict = self.error.diagnosis or diagnose(self.error)
        shown = verdict.for_display(secrets)
        shown["step"] = self.failed_step.key if self.failed_step else None
        return shown


def run_test(
    plan: TestPlan,
    observer: TestObserver,
    *,
    client: OutboundClient,
    sleep: Callable[[float], None] | None = None,
) -> TestOutcome:
    """Run the plan's steps in order against the partner; stop at the first failure.

    Never raises `PartnerError`: a failure is in the outcome with its diagnosis.
    """
    outcome = TestOutcome(passed=True, list_id=plan.context.list_id)
    context = plan.context
    for step in plan.steps:
        if step.endpoint in (ADD_USERS, REMOVE_USERS) and not context.list_id:
            # Only reachable when create_list did not run in this test and no id was given.
            raise TestSetupError(f"{step.endpoint} needs a list id: run create_list first")
        if step.endpoint != CREATE_LIST and step.users == 0:
            observer.step_started(step)
            observer.step_finished(step, SKIPPED, "no users for this step")
            continue
        observer.step_started(step)
        result = _run_step(plan, step, context, observer, client, sleep)
        if result.list_created and result.list_id:
            context = replace(context, list_id=result.list_id)
            outcome.list_id = result.list_id
            outcome.list_created = True
        if step.endpoint != CREATE_LIST:
            outcome.delivered[step.key] = sum(result.delivered_users.values())
            if result.skipped:
                outcome.skipped[step.key] = skip_counts(result.skipped.values())
        if result.error is not None:
            outcome.passed = False
            outcome.error = result.error
            outcome.failed_step = step
            verdict = result.error.diagnosis or diagnose(result.error)
            observer.step_finished(
                step, FAILED, mask_text(verdict.title, plan.secrets), result.error
            )
            break
        note = f"list id {result.list_id}" if step.endpoint == CREATE_LIST else ""
        observer.step_finished(step, PASSED, note)
    outcome.summary = summarize(plan, outcome)
    return outcome


def _run_step(
    plan: TestPlan,
    step: StepPlan,
    context: RenderContext,
    observer: TestObserver,
    client: OutboundClient,
    sleep: Callable[[float], None] | None,
) -> SyncResult:
    adding = step.endpoint == ADD_USERS or step.in_cohort is True
    removing = step.endpoint == REMOVE_USERS or step.in_cohort is False
    return run_sync(
        plan.integration,
        client,
        context=context,
        scope=plan.scope,
        to_add=plan.users.to_add if adding else None,
        to_remove=plan.users.to_remove if removing else None,
        step=step.endpoint,  # type: ignore[arg-type]
        policy=plan.policy,
        signing_secret=plan.signing_secret,
        on_list_id=observer.list_id,
        on_attempt=lambda record: observer.attempt(step, record),
        on_batch_delivered=lambda _endpoint, keys: observer.batch_delivered(step, len(keys)),
        on_users_skipped=lambda _endpoint, skipped: observer.users_skipped(step, skipped),
        sleep=sleep,
    )


def skip_counts(skipped: Iterable[SkippedUser]) -> dict[str, int]:
    """How many users were skipped for each reason."""
    counts: dict[str, int] = {}
    for user in skipped:
        counts[user.reason] = counts.get(user.reason, 0) + 1
    return counts


def describe_skips(counts: Mapping[str, int]) -> str:
    """ "2 skipped (1 not found by the lookup, 1 missing value)"."""
    total = sum(counts.values())
    reasons = ", ".join(
        f"{count} {SKIP_REASON_WORDS.get(reason, reason)}" for reason, count in counts.items()
    )
    return f"{total:,} skipped ({reasons})"


def summarize(plan: TestPlan, outcome: TestOutcome) -> str:
    """One or two sentences for the run list: what passed, or where and why it failed."""
    if outcome.error is not None and outcome.failed_step is not None:
        verdict = outcome.error.diagnosis or diagnose(outcome.error)
        text = f"Failed at {outcome.failed_step.label}: {verdict.title}. {verdict.message}"
        return mask_text(text, plan.secrets)[:MAX_SUMMARY_CHARS]
    parts = []
    for step in plan.steps:
        if step.endpoint == CREATE_LIST:
            parts.append(f"created list {outcome.list_id}")
        elif step.users:
            count = outcome.delivered.get(step.key, 0)
            text = f"{step.label}: {counted(count, 'user')} in {counted(step.batches, 'request')}"
            if outcome.skipped.get(step.key):
                text += f", {describe_skips(outcome.skipped[step.key])}"
            parts.append(text)
    return mask_text("Passed: " + "; ".join(parts) + ".", plan.secrets)[:MAX_SUMMARY_CHARS]


# --- the worker side: TestRun rows ---------------------------------------------------------


def clean_text(text: str | None, secrets: Sequence[str] = (), limit: int | None = None) -> str:
    """Text safe to store: secrets masked, NUL characters (which PostgreSQL refuses in text)
    replaced, and cut to `limit` characters."""
    if not text:
        return ""
    text = mask_text(text, secrets).replace("\x00", "\ufffd")
    return text[:limit] if limit is not None else text


def _clean_pairs(pairs: Sequence[Sequence[str]] | None, secrets: Sequence[str]) -> list[list[str]]:
    return [[clean_text(name, secrets), clean_text(value, secrets)] for name, value in pairs or ()]


def _clean_json(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return clean_text(value, secrets)
    if isinstance(value, dict):
        return {key: _clean_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(item, secrets) for item in value]
    return value


def exchange_fields(record: AttemptRecord, secrets: Sequence[str]) -> dict[str, Any]:
    """A `TestExchange`'s columns for one attempt, every secret masked, bodies cut."""
    shown = record.for_display()
    request = shown["request"]
    response = shown["response"]
    request_body = clean_text(request["body"], secrets)
    fields: dict[str, Any] = {
        "step": record.endpoint,
        "batch_id": record.batch_id or "",
        "attempt": record.attempt,
        "max_attempts": record.max_attempts,
        "outcome": record.outcome,
        "summary": clean_text(shown["summary"], secrets, 300),
        "item_count": record.request.item_count,
        "request_method": clean_text(request["method"], secrets, 10),
        "request_url": clean_text(request["url"], secrets, MAX_STORED_URL_CHARS),
        "request_headers": _clean_pairs(request["headers"], secrets),
        "request_body": request_body[:STORED_BODY_CHARS],
        "request_body_bytes": len(record.request.body or b""),
        "request_body_truncated": request["body_truncated"]
        or len(request_body) > STORED_BODY_CHARS,
        "latency_ms": record.latency_ms,
        "wait_seconds": record.wait_seconds,
        "started_at": datetime.fromtimestamp(record.started_at, tz=UTC),
    }
    if response is not None:
        body = clean_text(response["body"], secrets)
        fields.update(
            response_status=response["status"],
            response_reason=clean_text(response["reason"], secrets, 200),
            response_headers=_clean_pairs(response["headers"], secrets),
            response_body=body[:STORED_BODY_CHARS],
            response_body_truncated=response["truncated"] or len(body) > STORED_BODY_CHARS,
            remote_address=clean_text(response["remote_address"], secrets, 64),
        )
    if record.error is not None:
        fields["error_kind"] = record.error.kind[:30]
    if shown["diagnosis"] is not None:
        fields["diagnosis"] = _clean_json(shown["diagnosis"], secrets)
    return fields


class RunRecorder:
    """Stores a run's progress as it happens: its steps and one `TestExchange` per attempt.

    Each exchange commits on its own, so the page polling the run sees every attempt
    live. Step counters are saved at most every `PROGRESS_SAVE_SECONDS` (and at every
    step start and end, and after any attempt that did not succeed): the page polls once
    a second, and a commit per batch would cost more than the batch's HTTP call.
    """

    def __init__(self, run: TestRun, plan: TestPlan):
        self.run = run
        self.secrets = plan.secrets
        self.steps = [step.as_dict() for step in plan.steps]
        self.sequence = run.exchanges.count()
        self._saved_at = 0.0
        TestRun.objects.filter(pk=run.pk).update(
            steps=self.steps,
            cohort_id=clean_text(plan.context.cohort_id, self.secrets, 200),
            cohort_name=clean_text(plan.context.cohort_name, self.secrets, 200),
            users_to_add=len(plan.users.to_add),
            users_to_remove=len(plan.users.to_remove),
        )

    def _step(self, step: StepPlan) -> dict[str, Any]:
        return next(entry for entry in self.steps if entry["key"] == step.key)

    def _save_steps(self, *, now: bool = True) -> None:
        if not now and time.monotonic() - self._saved_at < PROGRESS_SAVE_SECONDS:
            return
        self._saved_at = time.monotonic()
        TestRun.objects.filter(pk=self.run.pk, status=TestStatus.RUNNING).update(
            steps=self.steps, exchange_count=self.sequence
        )

    def step_started(self, step: StepPlan) -> None:
        self._step(step)["status"] = RUNNING
        self._save_steps()

    def attempt(self, step: StepPlan, record: AttemptRecord) -> None:
        self.sequence += 1
        TestExchange.objects.create(
            run=self.run, sequence=self.sequence, **exchange_fields(record, self.secrets)
        )
        entry = self._step(step)
        entry["requests"] += 1
        entry["note"] = clean_text(record.describe(), self.secrets, 200)
        self._save_steps(now=record.outcome != "success")

    def batch_delivered(self, step: StepPlan, user_count: int) -> None:
        entry = self._step(step)
        entry["batches_done"] += 1
        entry["users_done"] += user_count
        self._save_steps(now=False)

    def users_skipped(self, step: StepPlan, skipped: Mapping[str, SkippedUser]) -> None:
        entry = self._step(step)
        entry["users_skipped"] += len(skipped)
        reasons = entry["skip_reasons"]
        for reason, count in skip_counts(skipped.values()).items():
            reasons[reason] = reasons.get(reason, 0) + count
        first_key, first = next(iter(skipped.items()))
        entry["note"] = clean_text(
            f"{describe_skips(reasons)}; e.g. {first_key}: {first.message}", self.secrets, 200
        )
        self._save_steps()

    def list_id(self, list_id: str) -> None:
        self.run.list_id = clean_text(list_id, self.secrets, 200)
        TestRun.objects.filter(pk=self.run.pk).update(list_id=self.run.list_id)

    def step_finished(
        self, step: StepPlan, status: str, note: str, error: PartnerError | None = None
    ) -> None:
        entry = self._step(step)
        entry["status"] = status
        if note:
            entry["note"] = clean_text(note, self.secrets, 200)
        elif entry.get("users_skipped"):
            entry["note"] = clean_text(describe_skips(entry["skip_reasons"]), self.secrets, 200)
        self._save_steps()
        if error is not None and error.kind in AFTER_RESPONSE_FAILURES:
            # The request itself got a 2xx; what failed was reading its answer. The
            # exchange says so, so that the inspector shows the reason next to the body.
            verdict = error.diagnosis or diagnose(error)
            TestExchange.objects.filter(run=self.run, sequence=self.sequence).update(
                error_kind=error.kind[:30],
                diagnosis=_clean_json(verdict.for_display(self.secrets), self.secrets),
            )


def plan_for_run(run: TestRun) -> TestPlan:
    """The plan of a stored run: its manifest, its inputs and the integration's secret."""
    users = users_for_run(run)
    signing_secret = None
    if run.manifest.get("delivery", {}).get("sign_requests"):
        stored = SigningSecret.objects.filter(integration_id=run.integration_id).first()
        signing_secret = stored.secret if stored is not None else None
    return build_plan(
        run.manifest,
        kind=run.kind,
        values=run.values,
        mapping=run.mapping,
        users=users,
        # Batch ids (Idempotency-Key) are unique per run: a later test re-adding the same
        # users must not be answered from the partner's idempotency cache. The creation
        # time keeps them unique between portals too (a staging and a production portal
        # both have a run 5, and may test against the same endpoint).
        scope=f"test-run:{run.pk}:{run.created_at.timestamp():.6f}",
        cohort_id=run.cohort_id or f"test-run-{run.pk}",
        cohort_name=run.cohort_name or f"{DEFAULT_COHORT_NAME} #{run.pk}",
        list_id=run.list_id or None,
        no_retries=run.no_retries,
        signing_secret=signing_secret,
    )


def users_for_run(run: TestRun) -> TestUsers:
    """The run's users from its stored spec: generated, sampled from a cohort, or a CSV."""
    spec = run.users or {}
    source = spec.get("source")
    if source == UsersSource.GENERATED:
        return generated_users(int(spec.get("count", 0)))
    if source == UsersSource.CSV:
        return csv_users(spec.get("rows", []))
    if source == UsersSource.COHORT:
        from portal.models import Cohort

        cohort = Cohort.objects.filter(
            pk=spec.get("cohort"), project__org_id=run.integration.org_id
        ).first()
        if cohort is None:
            raise TestSetupError("the cohort chosen for the test users no longer exists")
        members = cohort.members.order_by("member_key")[: int(spec.get("count", 0))]
        users = {member.member_key: member.as_user() for member in members}
        if not users:
            raise TestSetupError(f"the cohort {cohort.name} has no members")
        sampled = split_add_remove(
            users, description=f"{len(users):,} users of the cohort {cohort.name}"
        )
        sampled.cohort_name, sampled.cohort_id = cohort.name, cohort.public_id
        return sampled
    raise TestSetupError(f"unknown source of test users {source!r}")


def execute_test_run(
    run_id: int,
    *,
    client: OutboundClient | None = None,
    sleep: Callable[[float], None] | None = None,
) -> TestRun | None:
    """Claim a queued run, perform it against the partner, store how it went.

    A run that is not queued any more is not run again: partner calls are never replayed
    behind the partner's back. Finding it still running means this is the message of a
    worker that died under it (Celery hands it out again only then: the broker's visibility
    timeout outlasts the task's hard time limit), so the run is closed as an error at once
    and the page stops waiting.
    """
    token = TestRun.claim(run_id)
    if token is None:
        TestRun.close_if_abandoned(run_id, worker_lost=True)
        return None
    with LeaseKeeper(TestRun, run_id, token):
        return _execute_claimed(run_id, token, client=client, sleep=sleep)


def _execute_claimed(
    run_id: int,
    token: str,
    *,
    client: OutboundClient | None,
    sleep: Callable[[float], None] | None,
) -> TestRun:
    run = TestRun.objects.select_related("integration").get(pk=run_id)
    # Until the plan knows every derived secret, the secret fields' values are masked.
    secret = secret_variables(run.manifest)
    secrets: Sequence[str] = tuple(
        str(value) for name, value in run.values.items() if name in secret and value
    )
    try:
        plan = plan_for_run(run)
        secrets = plan.secrets
        recorder = RunRecorder(run, plan)
        if client is not None:
            outcome = run_test(plan, recorder, client=client, sleep=sleep)
        else:
            with outbound_client() as own_client:
                outcome = run_test(plan, recorder, client=own_client, sleep=sleep)
    except TestSetupError as problem:
        _finish(run, token, TestStatus.ERROR, f"The test could not run: {problem}.", secrets)
        return TestRun.objects.get(pk=run_id)
    except SoftTimeLimitExceeded:
        _finish(
            run,
            token,
            TestStatus.ERROR,
            "The test ran longer than a worker may spend on one task and was stopped: the "
            "partner kept failing and asking for retries. Try again with No retries.",
            secrets,
        )
        return TestRun.objects.get(pk=run_id)
    except Exception as crash:
        logger.error(
            "test run %s stopped by an internal error:\n%s",
            run_id,
            clean_text(traceback.format_exc(), secrets),
        )
        _finish(
            run,
            token,
            TestStatus.ERROR,
            f"The test stopped because of an internal error ({type(crash).__name__}). "
            "It has been logged; please run it again.",
            secrets,
        )
        return TestRun.objects.get(pk=run_id)
    _finish(
        run,
        token,
        TestStatus.PASSED if outcome.passed else TestStatus.FAILED,
        outcome.summary,
        secrets,
        diagnosis=outcome.diagnosis_for_display(secrets),
        delivered=outcome.delivered,
        steps=recorder.steps,
        exchange_count=recorder.sequence,
    )
    if outcome.list_created and outcome.list_id and run.from_test_settings:
        TestSettings.objects.filter(integration_id=run.integration_id).update(
            list_id=clean_text(outcome.list_id, secrets, 200)
        )
    logger.info("test run %s %s: %s", run_id, "passed" if outcome.passed else "failed", run.kind)
    return TestRun.objects.get(pk=run_id)


def _finish(
    run: TestRun,
    token: str,
    status: str,
    summary: str,
    secrets: Sequence[str],
    *,
    diagnosis: dict[str, Any] | None = None,
    delivered: dict[str, int] | None = None,
    steps: list[dict[str, Any]] | None = None,
    exchange_count: int | None = None,
) -> None:
    changes: dict[str, Any] = {
        "summary": clean_text(summary, secrets, MAX_SUMMARY_CHARS * 2),
        "diagnosis": _clean_json(diagnosis, secrets) if diagnosis else None,
    }
    if delivered is not None:
        changes["delivered"] = delivered
    changes["exchange_count"] = (
        exchange_count
        if exchange_count is not None
        else TestExchange.objects.filter(run_id=run.pk).count()
    )
    if steps is not None:
        changes["steps"] = steps
    elif status == TestStatus.ERROR:
        # Steps that never finished did not fail on their own: the run stopped under them.
        stored = TestRun.objects.filter(pk=run.pk).values_list("steps", flat=True).first() or []
        for entry in stored:
            if entry.get("status") in (PENDING, RUNNING):
                entry["status"] = SKIPPED
        changes["steps"] = stored
    # Only a run still ours is finished: one closed as abandoned stays closed.
    TestRun.finish(run.pk, token, status=status, **changes)
