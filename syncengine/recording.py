"""Recording a test run as the page shows it: every attempt as a `TestExchange` (secrets
masked, bodies cut for display) and the steps' progress on the `TestRun` row.

Every request is written down before it is sent (`SendJournal`: its own connection, one
committed INSERT per request, outcome `in_flight`), and completed with its answer once the
attempt ends (`RunRecorder`, in bulk). A worker killed at any moment therefore leaves a
record holding every request the partner may have received: those it never saw answered
stay `in_flight` until the run is closed, which marks them `no_answer`
(`TestRun.close_in_flight_exchanges`), never as acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateTimeField, JSONField

from syncengine.core.diagnosis import diagnose
from syncengine.core.display import request_for_display, response_for_display
from syncengine.core.errors import AttemptRecord, PartnerError, PartnerResponse
from syncengine.core.http import OutboundClient
from syncengine.core.masking import Secrets, compiled_secrets, mask_text
from syncengine.core.types import PreparedRequest, SkippedUser
from syncengine.models import (
    EXCHANGE_IN_FLIGHT,
    RUNNING,
    TestExchange,
    TestRun,
    TestSettings,
    TestStatus,
)
from syncengine.testplan import StepPlan, TestPlan

logger = logging.getLogger(__name__)

# Bodies kept per exchange for the inspector: enough to read a few hundred items of a
# batch; the full size is recorded next to it.
STORED_BODY_CHARS = 64 * 1024
MAX_STORED_URL_CHARS = 8 * 1024
MAX_SUMMARY_CHARS = 300
PROGRESS_SAVE_SECONDS = 0.25
# Rows per executemany when exchanges are written in bulk (each keeps up to 64 KiB a body).
EXCHANGES_PER_INSERT = 200
# Failures found in a 2xx answer (create_list's body, a lookup's results), not in an
# attempt of their own.
AFTER_RESPONSE_FAILURES = frozenset(
    {"non_json", "list_id_missing", "results_missing", "results_unmatched", "created_without_id"}
)
# How a skip reason reads in a step's note and the summary.
SKIP_REASON_WORDS = {
    "missing_value": "missing value",
    "invalid_value": "value of the wrong type",
    "not_found": "not found by the lookup",
}


def clean_text(
    text: str | None, secrets: Sequence[str] | Secrets = (), limit: int | None = None
) -> str:
    """Text safe to store: secrets masked, NUL characters (which PostgreSQL refuses in text)
    replaced, and cut to `limit` characters."""
    if not text:
        return ""
    text = mask_text(text, secrets).replace("\x00", "\ufffd")
    return text[:limit] if limit is not None else text


def clean_pairs(
    pairs: Sequence[Sequence[str]] | None, secrets: Sequence[str] | Secrets
) -> list[list[str]]:
    """Headers safe to store, each name and value as `clean_text` leaves it. Most hold
    nothing to mask and no NUL: that is found out once for all of them together (see
    `mask_headers`)."""
    if not pairs:
        return []
    compiled = compiled_secrets(secrets)
    text = "\n".join(chain.from_iterable(pairs))
    if "\x00" not in text and not (compiled and compiled.might_occur_in(text)):
        return [[name, value] for name, value in pairs]
    return [[clean_text(name, compiled), clean_text(value, compiled)] for name, value in pairs]


def clean_json(value: Any, secrets: Sequence[str] | Secrets) -> Any:
    if isinstance(value, str):
        return clean_text(value, secrets)
    if isinstance(value, dict):
        return {key: clean_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(item, secrets) for item in value]
    return value


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


def exchange_fields(record: AttemptRecord, secrets: Sequence[str]) -> dict[str, Any]:
    """A `TestExchange`'s columns for one attempt, every secret masked, bodies cut."""
    compiled = compiled_secrets(secrets)  # once, not once for each of some forty strings
    return {
        "step": record.endpoint,
        "batch_id": record.batch_id or "",
        **_request_columns(record.request, compiled),
        **answer_fields(record, compiled),
    }


def answer_fields(record: AttemptRecord, secrets: Sequence[str] | Secrets) -> dict[str, Any]:
    """The columns of `exchange_fields` that the attempt's end fills: its outcome, the
    answer, the timing and the diagnosis (`ANSWER_COLUMNS`; those left out keep their
    defaults). The request's columns are those the journal wrote before sending it."""
    compiled = compiled_secrets(secrets)
    shown_with = record.request.secrets
    fields: dict[str, Any] = {
        "attempt": record.attempt,
        "max_attempts": record.max_attempts,
        "outcome": record.outcome,
        "summary": clean_text(mask_text(record.describe(), shown_with), compiled, 300),
        "latency_ms": record.latency_ms,
        "wait_seconds": record.wait_seconds,
        "started_at": datetime.fromtimestamp(record.started_at, tz=UTC),
    }
    if record.response is not None:
        response = response_for_display(record.response, shown_with)
        body = clean_text(response["body"], compiled)
        fields.update(
            response_status=response["status"],
            response_reason=clean_text(response["reason"], compiled, 200),
            response_headers=clean_pairs(response["headers"], compiled),
            response_body=body[:STORED_BODY_CHARS],
            response_body_truncated=response["truncated"] or len(body) > STORED_BODY_CHARS,
            remote_address=clean_text(response["remote_address"], compiled, 64),
        )
    if record.error is not None:
        fields["error_kind"] = record.error.kind[:30]
    if record.diagnosis is not None:
        fields["diagnosis"] = clean_json(record.diagnosis.for_display(shown_with), compiled)
    return fields


# What `answer_fields` may fill: an exchange's row written before its request went out
# is completed by setting these, and only these.
ANSWER_COLUMNS = (
    "attempt",
    "max_attempts",
    "outcome",
    "summary",
    "latency_ms",
    "wait_seconds",
    "started_at",
    "response_status",
    "response_reason",
    "response_headers",
    "response_body",
    "response_body_truncated",
    "remote_address",
    "error_kind",
    "diagnosis",
)


def in_flight_fields(
    request: PreparedRequest, secrets: Sequence[str], *, attempt: int, max_attempts: int
) -> dict[str, Any]:
    """A `TestExchange`'s columns for a request about to be sent: no answer yet."""
    return {
        "step": request.endpoint,
        "batch_id": request.batch_id or "",
        "attempt": attempt,
        "max_attempts": max_attempts,
        "outcome": EXCHANGE_IN_FLIGHT,
        "summary": "sent, no answer yet",
        **_request_columns(request, compiled_secrets(secrets)),
        "started_at": datetime.now(tz=UTC),
    }


def _request_columns(request: PreparedRequest, compiled: Secrets) -> dict[str, Any]:
    shown = request_for_display(request)
    request_body = clean_text(shown["body"], compiled)
    return {
        "item_count": request.item_count,
        "request_method": clean_text(shown["method"], compiled, 10),
        "request_url": clean_text(shown["url"], compiled, MAX_STORED_URL_CHARS),
        "request_headers": clean_pairs(shown["headers"], compiled),
        "request_body": request_body[:STORED_BODY_CHARS],
        "request_body_bytes": len(request.body or b""),
        "request_body_truncated": shown["body_truncated"] or len(request_body) > STORED_BODY_CHARS,
    }


def insert_exchanges(
    rows: Sequence[Mapping[str, Any]], *, using: BaseDatabaseWrapper | None = None
) -> None:
    """INSERT the exchanges with one statement run for every row, pipelined by psycopg; a
    row whose (run, sequence) is already there is replaced by this one.

    A row is a `TestExchange`'s values by attribute name (`run_id`, `sequence` and the
    columns of `exchange_fields` or `in_flight_fields`); a column left out takes its
    field's default. Django's `bulk_create` would send each column of a bulk insert as one
    array, and psycopg escapes the elements of a text array in Python: for exchanges that
    keep 64 KiB bodies that cost three times as much as this, in a worker that is sending
    requests meanwhile. No model instance is made: a test of 1,201 requests writes 1,201
    rows and completes as many, and making each one's instance and preparing its thirty
    values field by field cost more than sending the row (`_Statement`).
    """
    # The wrapper itself, not the `connection` proxy: each value is prepared for it.
    database = using or connections[DEFAULT_DB_ALIAS]
    write_exchange_values(database, [exchange_values(row, database) for row in rows])


def complete_exchanges(
    rows: Sequence[Mapping[str, Any]], *, using: BaseDatabaseWrapper | None = None
) -> None:
    """UPDATE rows the journal wrote before their requests went out with how each
    attempt ended: `run_id`, `sequence` and `answer_fields`' columns (the others of
    `ANSWER_COLUMNS` set to their defaults). The request's columns stay as written."""
    database = using or connections[DEFAULT_DB_ALIAS]
    statement = _statements(database).complete
    _write(database, statement.sql, [statement.values_of(row, database) for row in rows])


def exchange_values(row: Mapping[str, Any], database: BaseDatabaseWrapper) -> list[Any]:
    """`row`'s parameters for `insert_exchanges`' statement."""
    return _statements(database).insert.values_of(row, database)


def write_exchange_values(
    database: BaseDatabaseWrapper, params: Sequence[list[Any]], *, cursor: Any = None
) -> None:
    """`insert_exchanges` of rows whose parameters `exchange_values` made; through
    `cursor` when given (a driver's cursor on `database`, kept by its caller)."""
    _write(database, _statements(database).insert.sql, params, cursor=cursor)


def _write(
    database: BaseDatabaseWrapper, sql: str, params: Sequence[list[Any]], *, cursor: Any = None
) -> None:
    for start in range(0, len(params), EXCHANGES_PER_INSERT):
        chunk = params[start : start + EXCHANGES_PER_INSERT]
        with (
            (
                contextlib.nullcontext(cursor) if cursor is not None else _binding_cursor(database)
            ) as writing,
            database.wrap_database_errors,
        ):
            if len(chunk) == 1:
                # The journal writes most requests alone: psycopg's pipeline, which
                # executemany enters, costs more than the row for one statement.
                writing.execute(sql, chunk[0])
            else:
                writing.executemany(sql, chunk)


def _binding_cursor(database: BaseDatabaseWrapper) -> Any:
    """A cursor that sends the values apart from the statement (PostgreSQL's own
    parameters) rather than quoting each into the text in Python, as Django's cursors do:
    an exchange has some thirty values, two of them bodies of up to 64 KiB. Wrapped as
    Django wraps its own, so that it logs its queries and translates errors the same way."""
    if database.vendor != "postgresql":
        return database.cursor()
    database.ensure_connection()
    # django-stubs types the argument as Django's wrapper; it is the database's own cursor.
    raw: Any = psycopg.Cursor(database.connection)
    return database.make_debug_cursor(raw) if database.queries_logged else database.make_cursor(raw)


class _Statement:
    """A statement over some of `TestExchange`'s columns, and how a row's values become
    its parameters, in the order of `attnames`.

    The values come from `exchange_fields`, `answer_fields` and `in_flight_fields`
    already as the columns want them (text, numbers, booleans, an aware datetime,
    JSON-able lists and dicts), so only JSON (wrapped for the driver) and datetimes
    (PostgreSQL takes them as they are, SQLite as text) go through their field's
    `get_db_prep_save`, as `save()` would send them; every other value goes as it is.
    """

    def __init__(self, sql: str, attnames: Sequence[str]):
        self.sql = sql
        by_name = {field.attname: field for field in TestExchange._meta.concrete_fields}
        self._plan = [
            (
                name,
                by_name[name].get_default,
                by_name[name] if isinstance(by_name[name], JSONField | DateTimeField) else None,
            )
            for name in attnames
        ]

    def values_of(self, row: Mapping[str, Any], database: BaseDatabaseWrapper) -> list[Any]:
        values = []
        for name, default, converted_by in self._plan:
            value = row[name] if name in row else default()
            if converted_by is not None and value is not None:
                value = converted_by.get_db_prep_save(value, database)
            values.append(value)
        return values


@dataclass(frozen=True)
class _Statements:
    insert: _Statement
    complete: _Statement


_STATEMENTS: dict[str, _Statements] = {}


def _statements(database: BaseDatabaseWrapper) -> _Statements:
    """`insert_exchanges`' and `complete_exchanges`' statements, made once per database
    vendor (a test of 1,201 requests runs them 2,402 times)."""
    known = _STATEMENTS.get(database.vendor)
    if known is not None:
        return known
    quote = database.ops.quote_name
    table = quote(TestExchange._meta.db_table)
    column_of = {
        field.attname: field.column
        for field in TestExchange._meta.concrete_fields
        if field.column and not field.primary_key
    }
    attnames = list(column_of)
    columns = list(column_of.values())
    updated = [column for column in columns if column not in ("run_id", "sequence")]
    answered = [column_of[name] for name in ANSWER_COLUMNS]
    # Only the model's own table and column names, quoted, go into the texts; every value
    # is a parameter.
    insert = (
        f"INSERT INTO {table} "  # noqa: S608
        f"({', '.join(quote(column) for column in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({quote('run_id')}, {quote('sequence')}) DO UPDATE SET "
        + ", ".join(f"{quote(column)} = EXCLUDED.{quote(column)}" for column in updated)
    )
    complete = (
        f"UPDATE {table} SET "  # noqa: S608
        + ", ".join(f"{quote(column)} = %s" for column in answered)
        + f" WHERE {quote('run_id')} = %s AND {quote('sequence')} = %s"
    )
    known = _STATEMENTS[database.vendor] = _Statements(
        insert=_Statement(insert, attnames),
        complete=_Statement(complete, [*ANSWER_COLUMNS, "run_id", "sequence"]),
    )
    return known


class RunClosed(Exception):
    """The run was closed under a worker still sending (its lease lapsed and the sweep
    closed it): nothing more is sent."""


@dataclass
class _Pending:
    """A row's parameters waiting for their commit; `done` once committed (or `error`
    once it failed)."""

    values: list[Any]
    done: bool = False
    error: BaseException | None = None


@contextlib.contextmanager
def asynchronous_commits() -> Iterator[None]:
    """Commits of this thread's connection that do not wait for their WAL to reach the
    disk, for the duration of a test run's recording.

    A commit is visible to every other connection at once either way; what this gives up
    is only the last few commits if PostgreSQL's own machine crashes, which the journal
    (below) gives up too. What the record guards against is the worker dying, and a
    waiting commit per saved step cost a test run up to a tenth of a second each on a
    busy machine. Inside an open transaction (a test calling the executor directly), or on
    a database other than PostgreSQL, nothing changes."""
    if connection.in_atomic_block or connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        # A connection that broke meanwhile is closed and replaced anyway.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


class SendJournal:
    """The client a test run sends through: it writes each request down, committed, as it
    goes out (every header the real client adds included, just before the client sends
    its first byte), and tells the recorder which row an attempt completes.

    It may be called from any of the protocol's sending threads at once: writes go through
    a connection of its own (autocommit, without waiting for the disk: only the worker's
    death is guarded against), one at a time. `close()` closes it.

    Called inside an open transaction (a test calling the executor directly), it writes
    nothing ahead: no other connection could see the run, and whatever stops the caller
    rolls everything back anyway; the recorder adds each row as the attempt ends.
    """

    def __init__(
        self,
        run: TestRun,
        client: OutboundClient,
        *,
        secrets: Sequence[str],
        max_attempts: int,
        first_sequence: int = 0,
        closed: Callable[[], bool] | None = None,
    ):
        self.run_id = run.pk
        self.closed = closed
        self.client = client
        self.secrets = secrets
        self.max_attempts = max_attempts
        self.sequence = first_sequence
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, str], int] = {}
        # id() of the response or error an attempt ended with → its row's sequence, and
        # whether that row was written.
        self._rows: dict[int, tuple[int, bool]] = {}
        self._write_lock = threading.Lock()
        self._waiting: list[_Pending] = []
        self._database: BaseDatabaseWrapper | None = None
        self._cursor: Any = None
        if not connection.in_atomic_block:
            self._database = connections.create_connection(DEFAULT_DB_ALIAS)
            self._database.inc_thread_sharing()
            if self._database.vendor == "postgresql":
                with self._database.cursor() as cursor:
                    # What this guards against is the worker dying, not PostgreSQL: a
                    # commit is visible to everyone at once, without waiting for its WAL
                    # on disk.
                    cursor.execute("SET synchronous_commit TO off")
                # One driver's cursor for every write, errors translated as Django's
                # cursors translate them: a new cursor and its wrapper per request cost
                # about a third of writing a lone row. Nothing reads this private
                # connection's query log.
                self._cursor = psycopg.Cursor(self._database.connection)

    def send(
        self, request: PreparedRequest, *, signing_secret: str | None = None
    ) -> PartnerResponse:
        if self.closed is not None and self.closed():
            raise RunClosed(f"test run {self.run_id} was closed under this worker")
        database = self._database
        if database is None:
            return self.client.send(request, signing_secret=signing_secret)
        same = (request.endpoint, request.batch_id or f"{request.method} {request.url}")
        with self._lock:
            sequence = self._take_sequence()
            attempt = self._attempts[same] = self._attempts.get(same, 0) + 1
        written = False

        def write_down(sent: PreparedRequest) -> None:
            nonlocal written
            fields = in_flight_fields(
                sent, self.secrets, attempt=attempt, max_attempts=self.max_attempts
            )
            # Made by the sending thread, outside the one connection's turn.
            row = {"run_id": self.run_id, "sequence": sequence, **fields}
            self._write(exchange_values(row, database))
            written = True

        try:
            response = self.client.send(
                request, signing_secret=signing_secret, before_sending=write_down
            )
        except PartnerError as error:
            with self._lock:
                self._rows[id(error)] = sequence, written
            raise
        with self._lock:
            self._rows[id(response)] = sequence, written
        return response

    def _take_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def next_sequence(self) -> int:
        """A sequence for an attempt that sent nothing (a request that could not be built)."""
        with self._lock:
            return self._take_sequence()

    def sequence_of(self, record: AttemptRecord) -> tuple[int, bool] | None:
        """The sequence this attempt took, and whether its row was written before the
        request went out (False: it failed before, and sent nothing); None for an
        attempt that did not go through the journal."""
        with self._lock:
            for ended_with in (record.error, record.response):
                if ended_with is not None and id(ended_with) in self._rows:
                    return self._rows.pop(id(ended_with))
        return None

    def _write(self, values: list[Any]) -> None:
        """Commit a row (its parameters) before returning. Threads that arrive while
        another writes are written together by the next one to get the connection (a
        group commit)."""
        assert self._database is not None
        entry = _Pending(values)
        with self._lock:
            self._waiting.append(entry)
        with self._write_lock:
            if not entry.done:
                with self._lock:
                    batch, self._waiting = self._waiting, []
                try:
                    write_exchange_values(
                        self._database,
                        [pending.values for pending in batch],
                        cursor=self._cursor,
                    )
                except BaseException as error:
                    for pending in batch:
                        pending.error = error
                    raise
                finally:
                    for pending in batch:
                        pending.done = True
        if entry.error is not None:
            raise entry.error

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database.dec_thread_sharing()


class RunRecorder:
    """Stores a run's progress as it happens: its steps and one `TestExchange` per attempt.

    Exchanges are kept in memory and written in bulk, with the step counters, in one
    transaction at most every `PROGRESS_SAVE_SECONDS`, and at once at every step start
    and end and after any attempt that failed or will be retried (the page shows a retry
    while it waits). The page polls once a second; a commit per exchange would cost more than the
    exchange's own HTTP call (a test of 1,201 requests spent most of its time committing).
    `flush()` writes what is still in memory.

    With a `journal` (the worker's case), each attempt completes the row its request was
    written to before it was sent, with the columns of its answer only; an attempt that
    failed before sending anything, or made without a journal (tests of the recorder),
    adds a whole row.
    """

    def __init__(self, run: TestRun, plan: TestPlan, journal: SendJournal | None = None):
        self.run = run
        self.secrets = plan.secrets
        self.steps = [step.as_dict() for step in plan.steps]
        self.journal = journal
        # Exchanges recorded with their outcome, and the last one's sequence.
        # The journal counted them already, just before.
        self.sequence = journal.sequence if journal is not None else run.exchanges.count()
        self.last_sequence = self.sequence
        # Whole rows to add, and answers completing rows the journal wrote.
        self._unsaved: list[dict[str, Any]] = []
        self._answers: list[dict[str, Any]] = []
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
        running = TestRun.objects.filter(pk=self.run.pk, status=TestStatus.RUNNING)
        if not self._unsaved and not self._answers:
            # One statement is its own transaction: no BEGIN and COMMIT to wait for.
            running.update(steps=self.steps, exchange_count=self.sequence)
            return
        with transaction.atomic():
            # The run's row first: once it is locked here a close waits for this write, and
            # a run already closed (its lease lapsed under this worker) keeps the record
            # the close gave it.
            if running.update(steps=self.steps, exchange_count=self.sequence):
                if self._unsaved:
                    insert_exchanges(self._unsaved)
                if self._answers:
                    complete_exchanges(self._answers)
            self._unsaved = []
            self._answers = []

    def flush(self) -> None:
        """Write the exchanges and step counters still in memory."""
        self._save_steps()

    def step_started(self, step: StepPlan) -> None:
        self._step(step)["status"] = RUNNING
        self._save_steps()

    def _sequence_for(self, record: AttemptRecord) -> tuple[int, bool]:
        """The attempt's sequence, and whether the journal wrote its row already."""
        if self.journal is None:
            return self.sequence, False
        taken = self.journal.sequence_of(record)
        return taken if taken is not None else (self.journal.next_sequence(), False)

    def attempt(self, step: StepPlan, record: AttemptRecord) -> None:
        self.sequence += 1
        self.last_sequence, written = self._sequence_for(record)
        row = {"run_id": self.run.pk, "sequence": self.last_sequence}
        if written:
            self._answers.append({**row, **answer_fields(record, self.secrets)})
        else:
            self._unsaved.append({**row, **exchange_fields(record, self.secrets)})
        entry = self._step(step)
        entry["requests"] += 1
        entry["note"] = clean_text(record.describe(), self.secrets, 200)
        # A retry shows while it waits, and a failure at once. An acknowledged request is
        # written with the users it delivered (`batch_delivered`, which follows), never
        # before them: a worker killed in between leaves counts equal to the exchanges.
        if record.outcome in ("retrying", "failed"):
            self._save_steps()

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
        """Kept at once, on the run and in the test settings it came from: a worker that
        dies later leaves the id of the list the partner made for later add/remove tests."""
        self.run.list_id = clean_text(list_id, self.secrets, 200)
        with transaction.atomic():  # both or neither, wherever the worker stops
            TestRun.objects.filter(pk=self.run.pk).update(list_id=self.run.list_id)
            if self.run.from_test_settings:
                TestSettings.objects.filter(integration_id=self.run.integration_id).update(
                    list_id=self.run.list_id
                )

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
            exchange = TestExchange.objects.filter(
                run=self.run, sequence=self.last_sequence
            ).first()
            if exchange is not None:
                # The step failed on this answer: the exchange is a failure too, however
                # its status code reads.
                exchange.outcome = "failed"
                exchange.summary = clean_text(
                    f"{exchange.summary}, but {verdict.title.lower()}", self.secrets, 300
                )
                exchange.error_kind = error.kind[:30]
                exchange.diagnosis = clean_json(verdict.for_display(self.secrets), self.secrets)
                exchange.save(update_fields=["outcome", "summary", "error_kind", "diagnosis"])
