"""Planning a sync run: which users entered and left, in which batches, with which ids.

The plan is written before anything is sent, in one transaction that reads the cohort at
one snapshot (REPEATABLE READ on PostgreSQL: the members, the change log and the
delivered state are read as of one moment, while imports and API calls go on changing the
cohort). It compares the cohort with the sync's **delivered state** (`DeliveredMember`:
what the partner acknowledged, user by user):

- entered = members of the cohort the partner does not have;
- left = users the partner has that are no longer members.

Two ways to get there, both in SQL and streamed, so that no cohort is ever held whole in
Python (one batch at a time is):

- **incremental**: the partner holds exactly snapshot D (`delivered_snapshot`) and the
  cohort's change log still has every snapshot after D: only the members named in changes
  after D are looked at (the last change of a member wins), each checked against the
  delivered state by key;
- **full diff**: otherwise, the whole cohort against the whole delivered state (two
  anti-joins on the tables' unique indexes).

A full resync plans every member as entered (with a new list, nobody as left: the new
list is empty); a run that empties the list plans everyone delivered as left; a retry
plans the users that the failed batches of the run it retries did not deliver.

Each planned batch (`SyncBatch`) freezes its users column by column: their keys, known
partner ids, and the member's columns (user id, Amplitude id, device id, email,
properties; for a user who left, as the partner received them), from which the sending
thread builds each user as templates see it (`SyncBatch.planned_users`). It gets its
Idempotency-Key, `batch_id_for(scope="sync:<sync>:run:<run>", ...)`: the same on every
resend of that batch, different in every other run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.utils import OperationalError

from portal.cohort_changes import WHOLESALE
from portal.models import Cohort, CohortChange, CohortMember
from syncengine.core.compiler import CompiledIntegration
from syncengine.core.delivery import BATCH_ID_HEX_CHARS, batch_id_for
from syncengine.core.manifest.schema import ADD_USERS, REMOVE_USERS, UPDATE_USERS
from syncs.models import (
    PLANNED_COLUMNS,
    BatchStatus,
    CohortSync,
    DeliveredMember,
    RunKind,
    SyncBatch,
    SyncRun,
)

FETCH_ROWS = 5_000
# Planned batches are written (where the database cannot cut them) in groups of about
# this many users.
WRITE_USERS = 50_000
# A planning transaction that collides with a concurrent update of the run row (the
# lease renewal) is tried again this many times.
SERIALIZATION_RETRIES = 5
# Beyond this many changes since the delivered snapshot, the whole cohort is compared:
# each page of an incremental plan reads the changes again.
MAX_INCREMENTAL_CHANGES = 200_000

MEMBERS = CohortMember._meta.db_table
DELIVERED = DeliveredMember._meta.db_table
CHANGES = CohortChange._meta.db_table
BATCHES = SyncBatch._meta.db_table


@dataclass(frozen=True)
class Plan:
    snapshot: int
    entered: int
    left: int
    batches: int
    incremental: bool
    seconds: float


def run_scope(run: SyncRun) -> str:
    """The scope of a run's batch ids (see `batch_id_for`)."""
    return f"sync:{run.sync_id}:run:{run.pk}"


def _postgres() -> bool:
    return connection.vendor == "postgresql"


# --- SQL ---------------------------------------------------------------------------------
# Every table name comes from the models' metadata; every value is a parameter.


class PlannedRow(NamedTuple):
    """One planned user as the planning queries select it (the columns of `SyncBatch`)."""

    member_key: str
    partner_id: str | None
    user_id: str
    amplitude_id: int | None
    device_id: str
    email: str
    properties: dict[str, Any]


def _columns_sql(alias: str, partner_id: str) -> str:
    """The columns of a `PlannedRow`, from the members or the delivered state (which
    have the same user columns)."""
    return (
        f"{alias}.member_key AS member_key, {partner_id} AS partner_id, "
        f"{alias}.user_id AS user_id, {alias}.amplitude_id AS amplitude_id, "
        f"{alias}.device_id AS device_id, {alias}.email AS email, "
        f"{alias}.properties AS properties"
    )


def _not_delivered(alias: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM {DELIVERED} d WHERE d.sync_id = %(sync)s "  # noqa: S608
        f"AND d.member_key = {alias}.member_key)"
    )


def _not_member(alias: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM {MEMBERS} m WHERE m.cohort_id = %(cohort)s "  # noqa: S608
        f"AND m.member_key = {alias}.member_key)"
    )


def _last_changes(paged: bool) -> str:
    """Each member named in the changes after the delivered snapshot, with its last one."""
    after = " AND member_key > %(after)s" if paged else ""
    return (
        "SELECT member_key, entered FROM (SELECT member_key, entered, ROW_NUMBER() OVER ("  # noqa: S608
        "PARTITION BY member_key ORDER BY snapshot DESC, id DESC) AS latest "
        f"FROM {CHANGES} WHERE cohort_id = %(cohort)s AND snapshot > %(since)s "
        f"AND snapshot <= %(snapshot)s{after}) AS changed WHERE latest = 1"
    )


def _page(alias: str, paged: bool) -> tuple[str, str]:
    """The condition and limit of one page (keyset pagination on the member key)."""
    if not paged:
        return "", ""
    return f" AND {alias}.member_key > %(after)s", " LIMIT %(limit)s"


def entered_sql(*, incremental: bool, resend_all: bool, keep_ids: bool, paged: bool = False) -> str:
    """Members to send as entering. `resend_all` ignores the delivered state (a full
    resync); `keep_ids` reuses partner ids the delivered state knows; `paged` selects
    one page of `%(limit)s` users after the key `%(after)s`."""
    # A correlated lookup by primary key, whatever the planner knows of the tables.
    partner_id = (
        f"(SELECT NULLIF(d.partner_id, '') FROM {DELIVERED} d "  # noqa: S608
        "WHERE d.sync_id = %(sync)s AND d.member_key = m.member_key)"
        if keep_ids
        else "NULL"
    )
    columns = _columns_sql("m", partner_id)
    if incremental:
        source = (
            f"FROM ({_last_changes(paged)}) AS c JOIN {MEMBERS} m "
            "ON m.cohort_id = %(cohort)s AND m.member_key = c.member_key WHERE c.entered"
        )
    else:
        source = f"FROM {MEMBERS} m WHERE m.cohort_id = %(cohort)s"
    condition = "" if resend_all else f" AND {_not_delivered('m')}"
    after, limit = _page("m", paged)
    return f"SELECT {columns} {source}{condition}{after} ORDER BY m.member_key{limit}"


def left_sql(*, incremental: bool, everyone: bool, paged: bool = False) -> str:
    """Delivered users to send as leaving: those no longer members (or, to empty the
    list, everyone delivered)."""
    columns = _columns_sql("d", "NULLIF(d.partner_id, '')")
    if incremental:
        source = (
            f"FROM ({_last_changes(paged)}) AS c JOIN {DELIVERED} d "
            "ON d.sync_id = %(sync)s AND d.member_key = c.member_key WHERE NOT c.entered"
        )
    else:
        source = f"FROM {DELIVERED} d WHERE d.sync_id = %(sync)s"
    condition = "" if everyone else f" AND {_not_member('d')}"
    after, limit = _page("d", paged)
    return f"SELECT {columns} {source}{condition}{after} ORDER BY d.member_key{limit}"


def change_log_usable(cohort_id: int, since: int, snapshot: int) -> bool:
    """Whether the change log holds every snapshot in (since, snapshot], none of them
    logged wholesale (`portal.cohort_changes.WHOLESALE`), and few enough changes that
    reading them beats comparing the whole cohort."""
    if since > snapshot:
        return False
    if since == snapshot:
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(DISTINCT snapshot), COUNT(*), "  # noqa: S608
            f"COUNT(CASE WHEN member_key = %s THEN 1 END) FROM {CHANGES} "
            "WHERE cohort_id = %s AND snapshot > %s AND snapshot <= %s",
            [WHOLESALE, cohort_id, since, snapshot],
        )
        snapshots, changes, wholesale = cursor.fetchone()
    return bool(
        snapshots == snapshot - since and changes <= MAX_INCREMENTAL_CHANGES and not wholesale
    )


def stream_rows(sql: str, params: dict[str, Any]) -> Iterator[PlannedRow]:
    """The planned users a query selects, from a server-side cursor, a chunk at a time
    (properties arrive as JSON text where the database has no JSON type)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            for row in rows:
                properties = row[6]
                if isinstance(properties, str | bytes):
                    properties = json.loads(properties)
                yield PlannedRow._make((*row[:6], properties or {}))


# --- writing batches ---------------------------------------------------------------------


def _direction(in_cohort: bool | None) -> str:
    return "" if in_cohort is None else ("in" if in_cohort else "out")


class BatchWriter:
    """Cuts streamed users into batches of the endpoint's size and stores them in order."""

    def __init__(self, run: SyncRun):
        self.run = run
        self.scope = run_scope(run)
        self.sequence = 0
        self._pending: list[SyncBatch] = []
        self._users = 0

    def write_query(
        self,
        build: Callable[[bool], str],
        params: dict[str, Any],
        *,
        endpoint: str,
        size: int,
        in_cohort: bool | None,
    ) -> int:
        """Store the users a planning query selects as batches; returns how many users.
        `build(paged)` makes the query (see `entered_sql`).

        On PostgreSQL the batches are cut, joined and given their ids inside the
        database, so the users never travel to Python: each batch is one INSERT … SELECT
        of the next page of users in key order (keyset pagination on the tables' unique
        indexes; one page sorted at a time, in memory), each column aggregated into an
        array as it is (no JSON object is built per user). Elsewhere the rows are
        streamed through `write`."""
        if not _postgres():
            return self.write(
                stream_rows(build(False), params),
                endpoint=endpoint,
                size=size,
                in_cohort=in_cohort,
            )
        self.flush()
        header = "\x1f".join((self.scope, endpoint, _direction(in_cohort))) + "\x1f"
        # Every aggregate reads the page in key order (the sorted subquery; a statement
        # that writes is never run in parallel), so the columns line up user by user and
        # the id hashes the keys in order, as `batch_id_for` does. An ORDER BY in each
        # aggregate would sort the page once per column.
        insert = (
            f"WITH page AS MATERIALIZED ({build(True)}), "  # noqa: S608
            f"inserted AS (INSERT INTO {BATCHES} (run_id, sequence, endpoint, in_cohort, "
            "batch_id, size, member_keys, partner_ids, user_ids, amplitude_ids, device_ids, "
            "emails, properties, status, attempts, delivered, skipped, failed, "
            "next_attempt, done_keys) "
            "SELECT %(run)s, %(sequence)s, %(endpoint)s, %(in_cohort)s, "
            "left(encode(sha256(convert_to(%(header)s || string_agg(member_key || chr(30), "
            "''), 'UTF8')), 'hex'), %(id_chars)s), COUNT(*), "
            "to_jsonb(array_agg(member_key)), to_jsonb(array_agg(partner_id)), "
            "to_jsonb(array_agg(user_id)), to_jsonb(array_agg(amplitude_id)), "
            "to_jsonb(array_agg(device_id)), to_jsonb(array_agg(email)), "
            "jsonb_agg(properties), "
            "'pending', 0, 0, 0, 0, 1, '[]'::jsonb "
            "FROM (SELECT * FROM page ORDER BY member_key) AS ordered HAVING COUNT(*) > 0 "
            "RETURNING size) "
            "SELECT (SELECT MAX(member_key) FROM page), (SELECT size FROM inserted)"
        )
        total, after = 0, ""
        with connection.cursor() as cursor:
            while True:
                cursor.execute(
                    insert,
                    {
                        **params,
                        "after": after,
                        "limit": size,
                        "run": self.run.pk,
                        "sequence": self.sequence + 1,
                        "endpoint": endpoint,
                        "in_cohort": in_cohort,
                        "header": header,
                        "id_chars": BATCH_ID_HEX_CHARS,
                    },
                )
                last_key, count = cursor.fetchone()
                if not count:
                    return total
                self.sequence += 1
                total += int(count)
                after = last_key
                if count < size:
                    return total

    def write(
        self,
        rows: Iterator[PlannedRow],
        *,
        endpoint: str,
        size: int,
        in_cohort: bool | None,
    ) -> int:
        """Store the rows' users as batches; returns how many users."""
        direction = _direction(in_cohort)
        batch: list[PlannedRow] = []
        count = 0
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                self._add(endpoint, in_cohort, direction, batch)
                count += len(batch)
                batch = []
        if batch:
            self._add(endpoint, in_cohort, direction, batch)
            count += len(batch)
        return count

    def _add(
        self, endpoint: str, in_cohort: bool | None, direction: str, rows: list[PlannedRow]
    ) -> None:
        self.sequence += 1
        keys, partner_ids, user_ids, amplitude_ids, device_ids, emails, properties = (
            list(column) for column in zip(*rows, strict=True)
        )
        self._pending.append(
            SyncBatch(
                run=self.run,
                sequence=self.sequence,
                endpoint=endpoint,
                in_cohort=in_cohort,
                batch_id=batch_id_for(self.scope, endpoint, keys, direction=direction),
                size=len(rows),
                member_keys=keys,
                partner_ids=partner_ids,
                user_ids=user_ids,
                amplitude_ids=amplitude_ids,
                device_ids=device_ids,
                emails=emails,
                properties=properties,
            )
        )
        self._users += len(rows)
        if self._users >= WRITE_USERS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            SyncBatch.objects.bulk_create(self._pending)
        self._pending, self._users = [], 0


# --- the plan ----------------------------------------------------------------------------


def endpoints_for(integration: CompiledIntegration) -> tuple[str, str]:
    """The endpoints that send entering and leaving users."""
    if integration.integration_type == "property":
        return UPDATE_USERS, UPDATE_USERS
    return ADD_USERS, REMOVE_USERS


def plan_run(run_id: int, integration: CompiledIntegration) -> Plan | None:
    """Write the plan of a run that has none yet (see the module docstring); None when
    it was planned already."""
    for attempt in range(SERIALIZATION_RETRIES):
        try:
            return _plan_once(run_id, integration)
        except OperationalError as error:
            sqlstate = getattr(getattr(error, "__cause__", None), "sqlstate", None)
            if sqlstate != "40001" or attempt == SERIALIZATION_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None  # not reached


def _plan_once(run_id: int, integration: CompiledIntegration) -> Plan | None:
    started = time.monotonic()
    with transaction.atomic():
        if _postgres():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                # The plan reads every row of its cursors: no plan tuned for the first few.
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
                # Compiling these one-off queries costs more than it saves.
                cursor.execute("SET LOCAL jit = off")
        run = SyncRun.objects.select_for_update(of=("self",)).get(pk=run_id)
        if run.planned:
            return None
        sync = CohortSync.objects.get(pk=run.sync_id)
        snapshot = Cohort.objects.values_list("snapshot", flat=True).get(pk=sync.cohort_id)
        writer = BatchWriter(run)
        enter, leave = endpoints_for(integration)
        property_based = integration.integration_type == "property"
        sizes = (integration.batch_size(enter), integration.batch_size(leave))
        flags = (True, False) if property_based else (None, None)
        params: dict[str, Any] = {
            "sync": sync.pk,
            "cohort": sync.cohort_id,
            "snapshot": snapshot,
            "since": sync.delivered_snapshot or 0,
        }
        incremental = False
        entered = left = 0
        if run.kind == RunKind.RETRY:
            entered, left = _plan_retry(run, writer, (enter, leave), sizes, flags)
        elif run.kind == RunKind.EMPTY:
            left = writer.write_query(
                lambda paged: left_sql(incremental=False, everyone=True, paged=paged),
                params,
                endpoint=leave,
                size=sizes[1],
                in_cohort=flags[1],
            )
        else:
            resync = run.kind == RunKind.FULL_RESYNC
            incremental = (
                not resync
                and sync.delivered_snapshot is not None
                and change_log_usable(sync.cohort_id, sync.delivered_snapshot, snapshot)
            )
            entered = writer.write_query(
                lambda paged: entered_sql(
                    incremental=incremental,
                    resend_all=resync,
                    keep_ids=resync and not run.new_list,
                    paged=paged,
                ),
                params,
                endpoint=enter,
                size=sizes[0],
                in_cohort=flags[0],
            )
            if not run.new_list:
                left = writer.write_query(
                    lambda paged: left_sql(incremental=incremental, everyone=False, paged=paged),
                    params,
                    endpoint=leave,
                    size=sizes[1],
                    in_cohort=flags[1],
                )
        writer.flush()
        SyncRun.objects.filter(pk=run.pk).update(
            planned=True,
            snapshot=snapshot,
            entered=entered,
            left=left,
            batches_total=writer.sequence,
        )
    return Plan(
        snapshot=snapshot,
        entered=entered,
        left=left,
        batches=writer.sequence,
        incremental=incremental,
        seconds=time.monotonic() - started,
    )


def _plan_retry(
    run: SyncRun,
    writer: BatchWriter,
    endpoints: tuple[str, str],
    sizes: tuple[int, int],
    flags: tuple[bool | None, bool | None],
) -> tuple[int, int]:
    """The users of the retried run's unfinished batches that are still not where the
    batch meant them to be (entered but not delivered, left but still delivered)."""
    failed = (
        SyncBatch.objects.filter(run_id=run.retry_of_id)
        .exclude(status__in=(BatchStatus.DELIVERED, BatchStatus.SKIPPED))
        .order_by("sequence")
    )
    entering = [batch.pk for batch in failed if _is_entering(batch, endpoints[0])]
    leaving = [batch.pk for batch in failed if batch.pk not in entering]
    entered = writer.write(
        _retry_rows(run.sync_id, entering, entering=True),
        endpoint=endpoints[0],
        size=sizes[0],
        in_cohort=flags[0],
    )
    left = writer.write(
        _retry_rows(run.sync_id, leaving, entering=False),
        endpoint=endpoints[1],
        size=sizes[1],
        in_cohort=flags[1],
    )
    return entered, left


def _is_entering(batch: SyncBatch, enter_endpoint: str) -> bool:
    if batch.in_cohort is not None:
        return bool(batch.in_cohort)
    return batch.endpoint == enter_endpoint


def _retry_rows(sync_id: int, batch_ids: list[int], *, entering: bool) -> Iterator[PlannedRow]:
    """The users of the batches, one batch in memory at a time, filtered by the
    delivered state."""
    for batch_pk in batch_ids:
        columns = SyncBatch.objects.values_list(*PLANNED_COLUMNS).get(pk=batch_pk)
        rows = [PlannedRow(*row) for row in zip(*columns, strict=True)]
        delivered = set(
            DeliveredMember.objects.filter(
                sync_id=sync_id, member_key__in=[row.member_key for row in rows]
            ).values_list("member_key", flat=True)
        )
        for row in rows:
            if (row.member_key in delivered) != entering:
                yield row
