"""Running a sync run on a worker: claim, plan, make sure of the list, send, settle, end.

    execute_run(run_id)        # the Celery task and `manage.py sync run` both call this

1. **Claim** the run (queued, or running with a lapsed lease: a crashed worker's run is
   resumed) and hold its lease while working (`portal.jobs.LeaseKeeper`).
2. **Plan** it if it has no plan yet (`syncs.planning`): batches with their users and ids,
   written in one transaction before anything is sent.
3. **The list** (list-based destinations): the sync's list, or a new one from
   `ensure_list` (first run, or a full resync with a new list), stored on the sync and the
   run in its own commit before any batch is sent.
4. **Send** the pending batches in order, up to `delivery.max_concurrency` in flight
   (threads that only speak HTTP), through `deliver_batch` with the destination's shared
   rate limiter (`syncs.ratelimit`).
5. **Settle** each batch on the worker's own thread in one transaction: its attempts
   (`SyncExchange`, masked), its status and counts, the run's counters and exactly the
   users the partner acknowledged in the delivered state. A batch that is settled is never
   sent again; one that is not is sent again, with the same Idempotency-Key, by whoever
   resumes the run.
6. **End**: succeeded when every batch was delivered (skipped users counted), otherwise
   partly failed or failed with the first failure's plain-language diagnosis; the sync's
   delivered snapshot, counts and failure streak follow (`syncs.notices` pauses a sync
   that keeps failing or lost its credentials).

A wait longer than `SYNC_MAX_WAIT_SECONDS` (a backoff, a `Retry-After`, the rate limit)
never holds the worker: the run settles what came back, goes back to the queue with a
countdown (`not_before`) and resumes where it was, attempts still counted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded  # celery.exceptions holds the same class
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from integrations.models import IntegrationVersion
from portal.jobs import RUNNING, LeaseKeeper
from portal.models import member_user
from portal.wording import counted
from syncengine.core.compiler import CompiledIntegration, compile_manifest
from syncengine.core.delivery import BatchOutcome, batch_id_for, deliver_batch, ensure_list
from syncengine.core.diagnosis import diagnose
from syncengine.core.errors import AttemptRecord, PartnerError
from syncengine.core.http import OutboundClient
from syncengine.core.manifest.normalize import ManifestError, normalize_manifest
from syncengine.core.manifest.schema import CREATE_LIST, MAX_CONCURRENCY
from syncengine.core.retry import RetryPolicy
from syncengine.core.types import RenderContext
from syncengine.models import SigningSecret
from syncengine.outbound import outbound_client, retry_policy
from syncengine.recording import (
    AFTER_RESPONSE_FAILURES,
    clean_json,
    clean_text,
    exchange_fields,
)
from syncengine.testplan import secret_variables
from syncs import metrics, notices, planning
from syncs.models import (
    MAX_CRASHES,
    PLANNED_COLUMNS,
    BatchStatus,
    CohortSync,
    DeliveredMember,
    RunKind,
    RunStatus,
    SyncBatch,
    SyncExchange,
    SyncRun,
    emptying_failed,
)
from syncs.ratelimit import RateLimited, limiter_for
from syncs.runs import enqueue_run

logger = logging.getLogger("syncs")

# A countdown message may arrive a little early; earlier than this and it is a duplicate.
EARLY_SLACK = timedelta(seconds=1)
POLL_SECONDS = 0.5
DELIVERED = DeliveredMember._meta.db_table
BATCHES = SyncBatch._meta.db_table
DELIVERED_COLUMNS = (
    "sync_id, member_key, partner_id, user_id, amplitude_id, device_id, email, properties"
)
DELIVERED_UPDATE = ", ".join(
    f"{name} = EXCLUDED.{name}"
    for name in ("partner_id", "user_id", "amplitude_id", "device_id", "email", "properties")
)

ProgressCallback = Callable[[SyncRun], None]


class SetupError(Exception):
    """The run cannot start: its configuration or connection is unusable."""


class _LeaseLost(Exception):
    """The run is no longer ours (closed, or taken over after our lease lapsed)."""


# --- what a run needs ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunSetup:
    integration: CompiledIntegration
    context: RenderContext
    signing_secret: str | None
    secrets: tuple[str, ...]
    policy: RetryPolicy
    destination_id: int
    throttle: Callable[[], None] | None

    @property
    def list_based(self) -> bool:
        return self.integration.integration_type == "list"


def compile_version(version: IntegrationVersion) -> CompiledIntegration:
    try:
        return compile_manifest(normalize_manifest(dict(version.config)))
    except ManifestError as error:
        first = error.diagnostics[0]
        raise SetupError(
            f"the destination's configuration (version {version.number}) has "
            f"{len(error.diagnostics)} error(s), first {first.path or '(manifest)'}: "
            f"{first.message}"
        ) from None


def setup_for(run: SyncRun) -> RunSetup:
    """The compiled integration, the connection's values and the run's context."""
    sync = run.sync
    connection_row = sync.connection
    integration = compile_version(run.version)
    signing_secret = None
    if integration.delivery.get("sign_requests"):
        stored = SigningSecret.objects.filter(integration_id=run.version.integration_id).first()
        if stored is None:
            raise SetupError(
                "the destination signs its requests but has no signing secret; its "
                "developers must create one"
            )
        signing_secret = stored.signing_key()
    context = RenderContext(
        values=dict(connection_row.values),
        mapping=dict(connection_row.mapping),
        cohort_id=sync.cohort.public_id,
        cohort_name=sync.cohort.name,
        list_id=run.list_id or None,
    )
    try:
        secrets = integration.secret_values(context)
    except Exception:  # a value the template language refuses: mask the fields as given
        variables = secret_variables(run.version.config)
        secrets = tuple(
            str(value)
            for name, value in connection_row.values.items()
            if name in variables and value
        )
    if signing_secret:
        secrets += (signing_secret,)
    rate = integration.delivery.get("requests_per_second")
    return RunSetup(
        integration=integration,
        context=context,
        signing_secret=signing_secret,
        secrets=secrets,
        policy=retry_policy(False),
        destination_id=connection_row.destination_id,
        throttle=limiter_for(
            f"destination:{connection_row.destination_id}",
            float(rate) if rate else None,
            max_wait=settings.SYNC_MAX_WAIT_SECONDS,
        ),
    )


# --- one batch on a sending thread ------------------------------------------------------


@dataclass
class PlannedBatch:
    pk: int
    sequence: int
    endpoint: str
    in_cohort: bool | None
    batch_id: str
    size: int
    next_attempt: int
    done_keys: list[str]
    # The batch's users, column by column as stored (`syncs.models.PLANNED_COLUMNS`),
    # read by the thread that sends it.
    columns: tuple[list[Any], ...] = ()


@dataclass
class BatchResult:
    batch: PlannedBatch
    outcome: BatchOutcome | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    rate_limited: float | None = None
    crash: BaseException | None = None
    seconds: float = 0.0
    # Set once settled: whether the run goes on sending.
    settled: bool = False
    go_on: bool = True

    @property
    def status(self) -> str:
        if self.rate_limited is not None:
            return "deferred"
        assert self.outcome is not None
        return self.outcome.status


def _deliver(
    setup: RunSetup, client: OutboundClient, batch: PlannedBatch, context: RenderContext
) -> BatchResult:
    """Send one batch (HTTP only: no database on this thread)."""
    result = BatchResult(batch)
    started = time.monotonic()
    done = set(batch.done_keys)
    keys: list[str] = []
    users: list[dict[str, Any]] = []
    known: dict[str, str] = {}
    for key, partner_id, user_id, amplitude_id, device_id, email, properties in zip(
        *batch.columns, strict=True
    ):
        if key in done:
            continue
        keys.append(key)
        users.append(member_user(properties, user_id, amplitude_id, device_id, email))
        if partner_id:
            known[key] = partner_id
    try:
        result.outcome = deliver_batch(
            setup.integration,
            client,
            endpoint=batch.endpoint,
            users=users,
            keys=keys,
            context=context,
            batch_id=batch.batch_id,
            in_cohort=batch.in_cohort,
            policy=setup.policy,
            signing_secret=setup.signing_secret,
            known_partner_ids=known,
            throttle=setup.throttle,
            on_attempt=result.attempts.append,
            max_wait=settings.SYNC_MAX_WAIT_SECONDS,
            start_attempt=min(batch.next_attempt, setup.policy.max_attempts),
        )
    except RateLimited as limited:
        result.rate_limited = limited.after_seconds
    except BaseException as crash:
        result.crash = crash
    result.seconds = time.monotonic() - started
    return result


# --- the run ------------------------------------------------------------------------------


class RunExecutor:
    """Executes one claimed run (see the module docstring)."""

    def __init__(
        self,
        run_id: int,
        token: str,
        lease: LeaseKeeper,
        client: OutboundClient,
        on_progress: ProgressCallback | None = None,
    ):
        self.run_id = run_id
        self.token = token
        self.lease = lease
        self.client = client
        self.on_progress = on_progress
        self.run = SyncRun.objects.select_related(
            "sync__cohort", "sync__connection", "version"
        ).get(pk=run_id)
        self.sequence = (
            SyncExchange.objects.filter(run_id=run_id).aggregate(last=Max("sequence"))["last"] or 0
        )
        self.first_error: dict[str, Any] | None = None
        self.stop_error: PartnerError | None = None
        self.defer_seconds: float | None = None
        # Guards the counters and errors above: batches settle on several threads.
        self._shared = threading.Lock()

    # -- the steps --

    def execute(self) -> None:
        secrets: tuple[str, ...] = ()
        try:
            setup = setup_for(self.run)
            secrets = setup.secrets
            if self.run.sync.connection.needs_reconnect and self.run.kind != RunKind.EMPTY:
                reason = self.run.sync.connection.reconnect_reason or "its Connect form changed"
                raise SetupError(f"the connection must be reconnected first: {reason}")
            if not self.run.planned:
                plan = planning.plan_run(self.run_id, setup.integration)
                if plan is not None:
                    logger.info(
                        "sync_plan run=%s sync=%s snapshot=%s entered=%s left=%s batches=%s "
                        "incremental=%s seconds=%.3f",
                        self.run_id,
                        self.run.sync_id,
                        plan.snapshot,
                        plan.entered,
                        plan.left,
                        plan.batches,
                        plan.incremental,
                        plan.seconds,
                    )
                self.run.refresh_from_db()
                self._progress()
            context = setup.context
            if setup.list_based:
                list_id = self._ensure_list(setup)
                if list_id is None:
                    return  # failed, deferred or lost: already recorded
                context = replace(context, list_id=list_id)
            self._send(setup, context)
            if self.lease.lost:
                return
            if self.defer_seconds is not None and self.stop_error is None:
                self._release(self.defer_seconds)
                return
            self._finish(setup)
        except SetupError as problem:
            self._fail(f"The sync could not run: {problem}.", secrets)
        except SoftTimeLimitExceeded:
            # The run is resumable: hand it to the next task instead of failing it.
            self._release(0.0)
        except _LeaseLost:
            logger.warning("sync run %s: lease lost, this worker stops", self.run_id)
        except Exception as crash:
            logger.error(
                "sync run %s stopped by an internal error:\n%s",
                self.run_id,
                clean_text(traceback.format_exc(), secrets),
            )
            self._fail(
                f"The sync stopped because of an internal error ({type(crash).__name__}). "
                "It has been logged; what the partner acknowledged is kept, and the next "
                "run sends the rest.",
                secrets,
            )

    def _ensure_list(self, setup: RunSetup) -> str | None:
        run, sync = self.run, self.run.sync
        if run.list_id:
            return run.list_id
        if run.kind == RunKind.EMPTY or (sync.list_id and not run.new_list):
            if not sync.list_id:
                # Nothing was ever delivered to a list: there is nothing to empty.
                SyncBatch.objects.filter(run_id=run.pk, status=BatchStatus.PENDING).update(
                    status=BatchStatus.SKIPPED, finished_at=timezone.now()
                )
                return ""
            SyncRun.objects.filter(pk=run.pk).update(list_id=sync.list_id)
            run.list_id = sync.list_id
            return sync.list_id
        attempts: list[AttemptRecord] = []
        outcome = ensure_list(
            setup.integration,
            self.client,
            context=setup.context,
            batch_id=batch_id_for(planning.run_scope(run), CREATE_LIST, ()),
            policy=setup.policy,
            signing_secret=setup.signing_secret,
            throttle=_list_throttle(setup),
            on_attempt=attempts.append,
            max_wait=settings.SYNC_MAX_WAIT_SECONDS,
            start_attempt=min(run.list_attempt, setup.policy.max_attempts),
        )
        error = outcome.error
        with transaction.atomic():
            self._hold()
            self._store_exchanges(attempts, None, setup.secrets, error)
            if outcome.deferred is not None:
                SyncRun.objects.filter(pk=run.pk).update(
                    list_attempt=outcome.deferred.attempts_used + 1
                )
            elif error is None and outcome.list_id:
                list_id = clean_text(outcome.list_id, setup.secrets, 200)
                SyncRun.objects.filter(pk=run.pk).update(list_id=list_id)
                # A new list holds nobody: the delivered state starts again from empty.
                CohortSync.objects.filter(pk=sync.pk).update(
                    list_id=list_id, delivered_snapshot=None
                )
                DeliveredMember.objects.filter(sync_id=sync.pk).delete()
                run.list_id = sync.list_id = list_id
        if outcome.deferred is not None:
            self._release(outcome.deferred.after_seconds)
            return None
        if error is not None:
            self.stop_error = error
            self.first_error = self._diagnosis(error, CREATE_LIST, setup.secrets)
            self._mark_unsent("The list could not be created, so this batch was not sent.")
            self._finish(setup)
            return None
        return run.list_id

    def _batches(self) -> Iterator[PlannedBatch]:
        pending = list(
            SyncBatch.objects.filter(run_id=self.run_id, status=BatchStatus.PENDING)
            .order_by("sequence")
            .values_list("pk", flat=True)
        )
        for pk in pending:
            # Its users are read by the thread that sends it (`_deliver_and_settle`).
            row = (
                SyncBatch.objects.filter(pk=pk, status=BatchStatus.PENDING)
                .defer(*PLANNED_COLUMNS)
                .first()
            )
            if row is None:
                continue
            yield PlannedBatch(
                pk=row.pk,
                sequence=row.sequence,
                endpoint=row.endpoint,
                in_cohort=row.in_cohort,
                batch_id=row.batch_id,
                size=row.size,
                next_attempt=row.next_attempt,
                done_keys=list(row.done_keys or []),
            )

    def _send(self, setup: RunSetup, context: RenderContext) -> None:
        """Send and settle the pending batches, `max_concurrency` at a time. Each sending
        thread settles its own batch on its own database connection as soon as the partner
        answered, so that settling one batch overlaps sending (and settling) the others."""
        concurrency = int(setup.integration.delivery.get("max_concurrency") or MAX_CONCURRENCY)
        concurrency = max(1, min(concurrency, MAX_CONCURRENCY))
        batches = self._batches()
        in_flight: dict[Future[BatchResult], PlannedBatch] = {}
        stopping = False
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sync-send") as pool:
            while True:
                while not stopping and len(in_flight) < concurrency:
                    batch = next(batches, None)
                    if batch is None:
                        break
                    future = pool.submit(self._deliver_and_settle, setup, batch, context)
                    in_flight[future] = batch
                if not in_flight:
                    break
                done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if self.lease.lost:
                    stopping = True
                for future in sorted(done, key=lambda f: in_flight[f].sequence):
                    in_flight.pop(future)
                    result = future.result()
                    if result.crash is not None:
                        stopping = True
                        for other in in_flight:
                            other.cancel()
                        raise result.crash
                    if not result.go_on:
                        stopping = True
                    if result.settled:
                        self._progress()
        if self.stop_error is not None and not self.lease.lost:
            self._mark_unsent(
                "The run stopped after a batch failed for good, so this batch was not sent."
            )

    def _deliver_and_settle(
        self, setup: RunSetup, batch: PlannedBatch, context: RenderContext
    ) -> BatchResult:
        """On a sending thread: read the batch's users, send it, then settle it, on this
        thread's own connection (closed before the thread takes its next batch)."""
        try:
            try:
                batch.columns = SyncBatch.objects.values_list(*PLANNED_COLUMNS).get(pk=batch.pk)
            except BaseException as crash:
                return BatchResult(batch, crash=crash, go_on=False)
            result = _deliver(setup, self.client, batch, context)
            if result.crash is not None or self.lease.lost:
                result.go_on = False
                return result
            try:
                result.go_on = self._settle(setup, result)
                result.settled = True
            except BaseException as crash:
                result.crash = crash
            return result
        finally:
            connection.close()

    # -- settling --

    def _settle(self, setup: RunSetup, result: BatchResult) -> bool:
        """Record one batch's attempts and outcome; False when the run must stop sending
        (a failure for good, or a wait too long for this worker)."""
        batch = result.batch
        status = result.status
        outcome = result.outcome
        delivered = tuple(outcome.delivered) if outcome else ()
        skipped = dict(outcome.skipped) if outcome else {}
        error = outcome.error if outcome else None
        now = timezone.now()
        run_changes: dict[str, Any] = {
            "sent": F("sent") + len(delivered),
            "skipped": F("skipped") + len(skipped),
        }
        batch_changes: dict[str, Any] = {
            "attempts": F("attempts") + len(result.attempts),
            "delivered": F("delivered") + len(delivered),
            "skipped": F("skipped") + len(skipped),
        }
        if status == "deferred":
            if outcome is not None and outcome.deferred is not None:
                wait_seconds = outcome.deferred.after_seconds
                batch_changes["next_attempt"] = outcome.deferred.attempts_used + 1
            else:
                wait_seconds = result.rate_limited or 0.0
            batch_changes["done_keys"] = [*batch.done_keys, *delivered, *skipped]
            with self._shared:
                self.defer_seconds = max(self.defer_seconds or 0.0, wait_seconds)
        else:
            pending = len(outcome.pending) if outcome else 0
            failed = pending if status in ("failed", "partial") else 0
            batch_changes.update(
                status=status, failed=failed, finished_at=now, next_attempt=1, done_keys=[]
            )
            run_changes.update(batches_done=F("batches_done") + 1, failed=F("failed") + failed)
            if error is not None:
                shown = self._diagnosis(error, batch.endpoint, setup.secrets)
                shown["batch"] = batch.sequence
                batch_changes["error"] = shown
                with self._shared:
                    # Batches settle on several threads: the earliest failure is the first.
                    first = self.first_error
                    if first is None or int(first.get("batch") or 0) > batch.sequence:
                        self.first_error = shown
                        self.stop_error = error
        try:
            with transaction.atomic():
                changed = SyncBatch.objects.filter(pk=batch.pk, status=BatchStatus.PENDING).update(
                    **batch_changes
                )
                if not changed:
                    raise _LeaseLost
                self._store_exchanges(result.attempts, batch.pk, setup.secrets, error)
                if delivered:
                    self._apply(batch, delivered, outcome.partner_ids if outcome else {})
                # The run's row last: concurrent settlements wait for its lock only
                # while they commit, not while they write their users.
                self._hold(**run_changes)
        except _LeaseLost:
            return False
        latency = [a.latency_ms for a in result.attempts if a.latency_ms is not None]
        logger.info(
            "sync_batch run=%s sync=%s destination=%s endpoint=%s sequence=%s size=%s "
            "status=%s delivered=%s skipped=%s attempts=%s latency_ms=%.1f seconds=%.3f",
            self.run_id,
            self.run.sync_id,
            setup.destination_id,
            batch.endpoint,
            batch.sequence,
            batch.size,
            status,
            len(delivered),
            len(skipped),
            len(result.attempts),
            sum(latency),
            result.seconds,
        )
        metrics.record_batch(
            destination=setup.destination_id,
            endpoint=batch.endpoint,
            status=status,
            users=len(delivered),
            latencies_ms=latency,
            error_kind=error.kind if error is not None else None,
        )
        return status not in ("deferred", "failed", "partial")

    def _hold(self, **changes: Any) -> None:
        """Inside a transaction: check the run is still ours (and apply `changes`)."""
        held = SyncRun.objects.filter(pk=self.run_id, status=RUNNING, lease_token=self.token)
        if changes:
            if not held.update(**changes):
                raise _LeaseLost
        elif not held.select_for_update().exists():
            raise _LeaseLost

    def _store_exchanges(
        self,
        attempts: list[AttemptRecord],
        batch_pk: int | None,
        secrets: tuple[str, ...],
        error: PartnerError | None,
    ) -> None:
        rows = []
        with self._shared:
            first = self.sequence + 1
            self.sequence += len(attempts)
        for sequence, record in enumerate(attempts, start=first):
            fields = exchange_fields(record, secrets)
            # The batch's Idempotency-Key is on its SyncBatch (and in the request headers).
            fields.pop("batch_id", None)
            rows.append(
                SyncExchange(run_id=self.run_id, batch_id=batch_pk, sequence=sequence, **fields)
            )
        if rows and error is not None and error.kind in AFTER_RESPONSE_FAILURES:
            # The last request got a 2xx; what failed was reading its answer.
            verdict = error.diagnosis or diagnose(error)
            rows[-1].error_kind = error.kind[:30]
            rows[-1].diagnosis = clean_json(verdict.for_display(secrets), secrets)
        if rows:
            SyncExchange.objects.bulk_create(rows)

    def _apply(
        self, batch: PlannedBatch, delivered: tuple[str, ...], partner_ids: dict[str, str] | Any
    ) -> None:
        """Move the delivered state by exactly the users the partner acknowledged."""
        entering = (
            batch.in_cohort if batch.in_cohort is not None else batch.endpoint != ("remove_users")
        )
        sync_id = self.run.sync_id
        if not entering:
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(
                        f"DELETE FROM {DELIVERED} WHERE sync_id = %s "  # noqa: S608
                        "AND member_key = ANY(%s::text[])",
                        [sync_id, list(delivered)],
                    )
                else:
                    cursor.executemany(
                        f"DELETE FROM {DELIVERED} WHERE sync_id = %s AND member_key = %s",  # noqa: S608
                        [(sync_id, key) for key in delivered],
                    )
            return
        ids = {key: str(value) for key, value in dict(partner_ids).items() if value}
        if connection.vendor == "postgresql":
            self._insert_delivered(batch, delivered, ids)
        else:
            self._upsert_delivered(batch, delivered, ids)

    def _upsert_delivered(
        self, batch: PlannedBatch, delivered: tuple[str, ...], ids: dict[str, str]
    ) -> None:
        """Where the database cannot read the batch's columns itself: the acknowledged
        users' rows, from the batch's columns in Python."""
        wanted = set(delivered)
        rows = [
            (
                self.run.sync_id,
                key,
                ids.get(key) or partner_id or "",
                user_id,
                amplitude_id,
                device_id,
                email,
                json.dumps(properties),
            )
            for key, partner_id, user_id, amplitude_id, device_id, email, properties in zip(
                *batch.columns, strict=True
            )
            if key in wanted
        ]
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {DELIVERED} ({DELIVERED_COLUMNS}) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (sync_id, member_key) DO UPDATE SET {DELIVERED_UPDATE}",
                rows,
            )

    def _insert_delivered(
        self, batch: PlannedBatch, delivered: tuple[str, ...], ids: dict[str, str]
    ) -> None:
        """Insert the acknowledged users of an entering batch into the delivered state,
        straight from the batch's planned users inside the database.

        A run planned against the delivered state (all but a full resync) only plans
        users the partner does not have, and only this run moves the delivered state
        meanwhile: a plain INSERT, without the cost of an upsert. Should a row be there
        after all, the savepoint falls back to the upsert."""
        everyone = len(delivered) == len(batch.columns[0])
        # The batch's columns side by side, user by user (ROWS FROM zips them), copied as
        # they are: no user is built or parsed here.
        select = (
            f"INSERT INTO {DELIVERED} ({DELIVERED_COLUMNS}) "  # noqa: S608
            "SELECT %(sync)s, u.member_key, COALESCE(ids.partner_id, u.partner_id, ''), "
            "u.user_id, u.amplitude_id::bigint, u.device_id, u.email, u.properties "
            f"FROM {BATCHES} b CROSS JOIN LATERAL ROWS FROM ("
            "jsonb_array_elements_text(b.member_keys), jsonb_array_elements_text(b.partner_ids), "
            "jsonb_array_elements_text(b.user_ids), jsonb_array_elements_text(b.amplitude_ids), "
            "jsonb_array_elements_text(b.device_ids), jsonb_array_elements_text(b.emails), "
            "jsonb_array_elements(b.properties)"
            ") AS u(member_key, partner_id, user_id, amplitude_id, device_id, email, properties) "
            "LEFT JOIN unnest(%(id_keys)s::text[], %(ids)s::text[]) AS ids(member_key, "
            "partner_id) ON ids.member_key = u.member_key "
            "WHERE b.id = %(batch)s AND (%(everyone)s OR u.member_key = ANY(%(keys)s::text[]))"
        )
        upsert = f"{select} ON CONFLICT (sync_id, member_key) DO UPDATE SET {DELIVERED_UPDATE}"
        params: dict[str, Any] = {
            "sync": self.run.sync_id,
            "batch": batch.pk,
            "everyone": everyone,
            "keys": [] if everyone else list(delivered),
            "id_keys": list(ids),
            "ids": list(ids.values()),
        }
        with connection.cursor() as cursor:
            if self.run.kind != RunKind.FULL_RESYNC:
                try:
                    with transaction.atomic():
                        cursor.execute(select, params)
                    return
                except IntegrityError:
                    pass
            cursor.execute(upsert, params)

    def _mark_unsent(self, message: str) -> None:
        """Batches a stopped run never sent count as failed (Retry failed sends them)."""
        with transaction.atomic():
            unsent = SyncBatch.objects.filter(run_id=self.run_id, status=BatchStatus.PENDING)
            users = sum(unsent.values_list("size", flat=True))
            count = unsent.update(
                status=BatchStatus.FAILED,
                failed=F("size"),
                finished_at=timezone.now(),
                error={"kind": "not_sent", "title": "Not sent", "message": message},
            )
            if count:
                self._hold(failed=F("failed") + users, batches_done=F("batches_done") + count)

    def _diagnosis(
        self, error: PartnerError, endpoint: str, secrets: tuple[str, ...]
    ) -> dict[str, Any]:
        verdict = error.diagnosis or diagnose(error)
        shown = clean_json(verdict.for_display(secrets), secrets)
        shown["step"] = endpoint
        return dict(shown)

    # -- ending --

    def _release(self, after_seconds: float) -> None:
        """Give the run back to the queue, to resume after `after_seconds`."""
        not_before = timezone.now() + timedelta(seconds=max(0.0, after_seconds))
        with transaction.atomic():
            released = SyncRun.objects.filter(
                pk=self.run_id, status=RUNNING, lease_token=self.token
            ).update(
                status=RunStatus.QUEUED,
                lease_expires_at=None,
                lease_token="",
                not_before=not_before,
                queued_at=timezone.now(),
            )
            if released:
                enqueue_run(self.run_id, not_before)
        logger.info(
            "sync run %s waits %.1f s before it goes on (the partner or the rate limit asked)",
            self.run_id,
            after_seconds,
        )

    def _fail(self, summary: str, secrets: tuple[str, ...]) -> None:
        with transaction.atomic():
            finished = SyncRun.finish(
                self.run_id,
                self.token,
                status=RunStatus.FAILED,
                summary=clean_text(summary, secrets, 2000),
            )
            if finished:
                self._after_end(RunStatus.FAILED)
        if finished:
            metrics.record_run(RunStatus.FAILED)

    def _finish(self, setup: RunSetup) -> None:
        run = SyncRun.objects.get(pk=self.run_id)
        failed_batches = run.batches.filter(
            status__in=(BatchStatus.FAILED, BatchStatus.PARTIAL)
        ).count()
        if failed_batches or self.stop_error is not None:
            status = RunStatus.PARTIAL if run.sent else RunStatus.FAILED
        else:
            status = RunStatus.SUCCEEDED
        if self.first_error is None and status != RunStatus.SUCCEEDED:
            self.first_error = next(
                (b.error for b in run.batches.exclude(error=None).order_by("sequence")), None
            )
        summary = summarize(run, status, self.first_error)
        with transaction.atomic():
            finished = SyncRun.finish(
                self.run_id,
                self.token,
                status=status,
                summary=clean_text(summary, setup.secrets, 2000),
                diagnosis=self.first_error,
            )
            if finished:
                self._after_end(status)
        if finished:
            metrics.record_run(status)

    def _after_end(self, status: str) -> None:
        """Inside the finishing transaction: the sync's delivered state and streak."""
        run = SyncRun.objects.get(pk=self.run_id)
        sync = CohortSync.objects.select_for_update().get(pk=run.sync_id)
        sync.last_run_at = run.finished_at
        sync.delivered_count = DeliveredMember.objects.filter(sync_id=sync.pk).count()
        exact = (
            status == RunStatus.SUCCEEDED
            and run.kind in (RunKind.SCHEDULED, RunKind.MANUAL, RunKind.FULL_RESYNC)
            and run.skipped == 0
        )
        sync.delivered_snapshot = run.snapshot if exact else None
        if status == RunStatus.SUCCEEDED:
            sync.failed_runs_in_row = 0
        else:
            sync.failed_runs_in_row += 1
        sync.save(
            update_fields=[
                "last_run_at",
                "delivered_count",
                "delivered_snapshot",
                "failed_runs_in_row",
            ]
        )
        if run.kind == RunKind.EMPTY and sync.delete_when_emptied:
            if status == RunStatus.SUCCEEDED and sync.delivered_count == 0:
                from syncs.actions import delete_emptied_sync

                delete_emptied_sync(sync, run)  # the run goes with it
                return
            emptying_failed(sync.pk)
        notices.after_run(run, sync)

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(SyncRun.objects.get(pk=self.run_id))


def _list_throttle(setup: RunSetup) -> Callable[[], None] | None:
    """ensure_list runs on the worker's thread: a rate-limit wait is slept through."""
    if setup.throttle is None:
        return None
    throttle = setup.throttle

    def patient() -> None:
        while True:
            try:
                throttle()
                return
            except RateLimited as limited:
                time.sleep(min(limited.after_seconds, settings.SYNC_MAX_WAIT_SECONDS))

    return patient


def summarize(run: SyncRun, status: str, diagnosis: dict[str, Any] | None) -> str:
    """The run in a sentence or two, as the run list and the CLI show it."""
    parts = []
    if run.list_id and run.kind != RunKind.EMPTY:
        parts.append(f"list {run.list_id}")
    moved = f"{counted(run.entered, 'user')} entered, {run.left:,} left"
    if run.kind == RunKind.EMPTY:
        moved = f"{counted(run.left, 'user')} to remove"
    elif run.kind == RunKind.FULL_RESYNC:
        moved = f"{counted(run.entered, 'member')} sent again, {run.left:,} left"
    parts.append(moved)
    parts.append(
        f"{run.sent:,} delivered in {counted(run.batches_total, 'batch')}".replace(
            "batchs", "batches"
        )
    )
    if run.skipped:
        parts.append(f"{run.skipped:,} skipped")
    if run.failed:
        parts.append(f"{run.failed:,} not delivered")
    counts = "; ".join(parts)
    if status == RunStatus.SUCCEEDED:
        if not run.entered and not run.left:
            return f"Succeeded: nothing changed since the last sync ({counts})."
        return f"Succeeded: {counts}."
    head = "Partly failed" if status == RunStatus.PARTIAL else "Failed"
    if diagnosis:
        where = diagnosis.get("step") or "a request"
        batch = f" (batch {diagnosis['batch']})" if diagnosis.get("batch") else ""
        return (
            f"{head} at {where}{batch}: {diagnosis.get('title', '')}. "
            f"{diagnosis.get('message', '')} ({counts}.)"
        )
    return f"{head}: {counts}."


# --- the entry point --------------------------------------------------------------------


def execute_run(
    run_id: int,
    *,
    client: OutboundClient | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncRun | None:
    """Claim the run and work on it until it ends, defers or is lost; the run as left,
    or None when it was not ours to run (taken, finished, or its countdown not over) or
    is gone (it emptied the list of a sync being deleted, and the sync was deleted)."""
    before = SyncRun.objects.filter(pk=run_id).values("status", "not_before", "crashes").first()
    if before is None or before["status"] not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return None
    if before["not_before"] and before["not_before"] > timezone.now() + EARLY_SLACK:
        return None  # an early duplicate: the countdown's own message will come
    token = SyncRun.claim(run_id, from_statuses=(RunStatus.QUEUED, RunStatus.RUNNING))
    if token is None:
        return None
    if before["status"] == RunStatus.RUNNING:
        # Its worker died and its lease lapsed before the sweep saw it: a crash too.
        crashes = before["crashes"] + 1
        SyncRun.objects.filter(pk=run_id, lease_token=token).update(crashes=crashes)
        if crashes >= MAX_CRASHES:
            SyncRun(
                pk=run_id, status=RUNNING, crashes=crashes - 1, lease_token=token
            ).on_lease_lapsed(worker_lost=True)
            return SyncRun.objects.get(pk=run_id)
    with LeaseKeeper(SyncRun, run_id, token) as lease:
        if client is not None:
            RunExecutor(run_id, token, lease, client, on_progress).execute()
        else:
            with outbound_client() as own_client:
                RunExecutor(run_id, token, lease, own_client, on_progress).execute()
    # None too when the run emptied a list before its sync was deleted (the run went
    # with the sync).
    return SyncRun.objects.filter(pk=run_id).first()
