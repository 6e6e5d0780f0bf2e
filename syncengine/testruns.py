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
  database, never passed in task arguments), `SendJournal` writes every request down
  before it is sent, and `RunRecorder` completes it with its answer as a `TestExchange`
  while the page polls. A worker killed at any moment leaves a record holding every
  request the partner may have received (see docs/decisions.md, "Test runs").
- `manage.py integration test` builds the plan from a manifest file and its options and
  prints each exchange instead (`syncengine.cli`); no broker and no rows involved.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

from billiard.exceptions import SoftTimeLimitExceeded  # celery.exceptions holds the same class
from django.db import transaction

from portal.jobs import LeaseKeeper
from portal.wording import counted
from syncengine.core.diagnosis import diagnose
from syncengine.core.errors import AttemptRecord, PartnerError
from syncengine.core.http import OutboundClient
from syncengine.core.manifest.schema import (
    ADD_USERS,
    CREATE_LIST,
    REMOVE_USERS,
)
from syncengine.core.masking import mask_text
from syncengine.core.protocol import SyncResult, run_sync
from syncengine.core.types import RenderContext, SkippedUser
from syncengine.models import (
    FAILED,
    PASSED,
    PENDING,
    RUNNING,
    SKIPPED,
    SigningSecret,
    TestExchange,
    TestRun,
    TestSettings,
    TestStatus,
    UsersSource,
)
from syncengine.outbound import outbound_client
from syncengine.recording import (
    MAX_SUMMARY_CHARS,
    RunClosed,
    RunRecorder,
    SendJournal,
    asynchronous_commits,
    clean_json,
    clean_text,
    describe_skips,
    skip_counts,
)
from syncengine.testplan import (
    DEFAULT_COHORT_NAME,
    StepPlan,
    TestPlan,
    TestSetupError,
    build_plan,
    secret_variables,
)
from syncengine.testusers import (
    TestUsers,
    csv_users,
    generated_users,
    split_add_remove,
    used_properties,
)

logger = logging.getLogger(__name__)


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


def plan_for_run(run: TestRun) -> TestPlan:
    """The plan of a stored run: its manifest, its inputs and the integration's secret."""
    users = users_for_run(run)
    signing_secret = None
    if run.manifest.get("delivery", {}).get("sign_requests"):
        stored = SigningSecret.objects.filter(integration_id=run.integration_id).first()
        signing_secret = stored.signing_key() if stored is not None else None
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
        return generated_users(
            int(spec.get("count", 0)), properties=used_properties(run.manifest, run.mapping)
        )
    if source == UsersSource.CSV:
        return csv_users(spec.get("rows", []))
    if source == UsersSource.COHORT:
        from portal.models import Cohort

        cohort_pk = spec.get("cohort")
        cohort = (
            Cohort.objects.filter(pk=cohort_pk, project__org_id=run.integration.org_id).first()
            if cohort_pk is not None
            else None
        )
        if cohort is None:
            raise TestSetupError("the cohort chosen for the test users no longer exists")
        members = cohort.members.order_by("member_key")[: int(spec.get("count", 0))]
        users: dict[str, Mapping[str, Any]] = {
            member.member_key: member.as_user() for member in members
        }
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
    with LeaseKeeper(TestRun, run_id, token) as lease:
        return _execute_claimed(run_id, token, client=client, sleep=sleep, lease=lease)


def _execute_claimed(
    run_id: int,
    token: str,
    *,
    client: OutboundClient | None,
    sleep: Callable[[float], None] | None,
    lease: LeaseKeeper | None = None,
) -> TestRun:
    run = TestRun.objects.select_related("integration").get(pk=run_id)
    closed = (lambda: lease.lost) if lease is not None else None
    # Until the plan knows every derived secret, the secret fields' values are masked.
    secret = secret_variables(run.manifest)
    secrets: Sequence[str] = tuple(
        str(value) for name, value in run.values.items() if name in secret and value
    )
    recorder: RunRecorder | None = None
    try:
        plan = plan_for_run(run)
        secrets = plan.secrets
        if client is not None:
            outcome, recorder = _run_recorded(run, plan, client, sleep, closed)
        else:
            with outbound_client() as own_client:
                outcome, recorder = _run_recorded(run, plan, own_client, sleep, closed)
    except TestSetupError as problem:
        _keep_exchanges(recorder, run_id)
        _finish(run, token, TestStatus.ERROR, f"The test could not run: {problem}.", secrets)
        return TestRun.objects.get(pk=run_id)
    except RunClosed:
        # Closed under this worker (its lease lapsed): the close stands, and the requests
        # this worker sent since read "no answer" like those in flight at the close.
        logger.warning("test run %s was closed while this worker ran it; it stopped", run_id)
        TestRun.close_in_flight_exchanges(run_id)
        return TestRun.objects.get(pk=run_id)
    except SoftTimeLimitExceeded:
        _keep_exchanges(recorder, run_id)
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
        _keep_exchanges(recorder, run_id)
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


def _run_recorded(
    run: TestRun,
    plan: TestPlan,
    client: OutboundClient,
    sleep: Callable[[float], None] | None,
    closed: Callable[[], bool] | None = None,
) -> tuple[TestOutcome, RunRecorder]:
    """Run the plan, every request written down before it goes out (`SendJournal`) and
    completed with its answer (`RunRecorder`)."""
    with asynchronous_commits():
        journal = SendJournal(
            run,
            client,
            secrets=plan.secrets,
            max_attempts=plan.policy.max_attempts,
            first_sequence=run.exchanges.count(),
            closed=closed,
        )
        recorder = RunRecorder(run, plan, journal)
        try:
            # The journal stands in for the client: it has the one method the protocol calls.
            outcome = run_test(plan, recorder, client=cast(OutboundClient, journal), sleep=sleep)
            recorder.flush()
        except RunClosed:
            raise  # the close has the record: nothing more is written to it
        except BaseException:
            _keep_exchanges(recorder, run.pk)  # what it did before it stopped
            raise
        finally:
            journal.close()
    return outcome, recorder


def _keep_exchanges(recorder: RunRecorder | None, run_id: int) -> None:
    """A run that stopped early still shows the exchanges it made before it stopped."""
    if recorder is None:
        return
    try:
        recorder.flush()
    except Exception:  # the database itself may be what failed; the run is closed anyway
        logger.exception("test run %s: its last exchanges could not be stored", run_id)


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
        "diagnosis": clean_json(diagnosis, secrets) if diagnosis else None,
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
    # Only a run still ours is finished: one closed as abandoned stays closed. A request
    # whose answer never came back (the send itself crashed) reads "no answer", in the
    # same transaction: the run is never seen ended with a request still in flight.
    # Nothing is sent any more either way: a run closed under this worker (its lease
    # lapsed) keeps its close, and the requests sent since read "no answer" too.
    with transaction.atomic():
        TestRun.finish(run.pk, token, status=status, **changes)
        TestRun.close_in_flight_exchanges(run.pk)
