"""Changing a cohort's members: one transaction, one new snapshot, an exact change log.

Every change of membership ends here, whatever asked for it: a CSV replacing the members,
an API PUT of a full snapshot or PATCH of additions and removals, the demo's churn. The
members to apply are first *staged* in temporary tables (`StageWriter`, or the CSV fast
path of `portal.cohort_csv`); then `apply_change`, with the cohort row locked
(`SELECT … FOR UPDATE`, so concurrent changes of one cohort queue up), compares them with
the stored members in SQL — one join, never a Python loop over members — and applies the
difference:

- members that left are deleted, those that entered are inserted, and members kept whose
  identifiers or properties changed are updated in place;
- `Cohort.snapshot` goes up by exactly one, and `CohortChange` gets one row for each
  member that entered (`entered=True`) or left, under the new number. An update of a kept
  member belongs to the new snapshot but is neither an entry nor a departure, so it has
  no change row;
- a change that changes nothing makes no new snapshot and writes nothing;
- a change of more than `MAX_LOGGED_CHANGES` members (a new large cohort, a file that
  replaces most of one) writes one *wholesale marker* instead of its change rows: a row
  whose `member_key` is `WHOLESALE`, which no member has.

A sync that delivered snapshot N learns what to send to reach snapshot M from the change
rows of N+1 … M alone, unless a marker lies between them: then it compares whole cohorts,
as it does anyway beyond that many changes (`syncs.planning.change_log_usable`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, reset_queries, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import ForeignObjectRel
from django.utils import timezone

from portal.cohort_members import MEMBER_FIELDS, MemberValues
from portal.models import MEMBER_KEY_COLLATION, Cohort, CohortChange, CohortMember

STAGE = "cohort_stage"
UNSTAGE = "cohort_unstage"
DIFF = "cohort_diff"
# The comparison holds the stored members of the cohort in a hash table; this lets a
# million of them fit in memory. It lasts for the changing transaction only.
MERGE_WORK_MEM = "256MB"
# Members staged per statement where there is no COPY (SQLite under `make run`).
STAGE_CHUNK = 5_000
# A change of more members than this (entered plus left) is logged as one marker row, not
# a row per member: a sync plans across that many changes by comparing whole cohorts
# (syncs.planning.MAX_INCREMENTAL_CHANGES, the same number), so nothing would read them,
# and they were 40 % of the time of a new million-member cohort.
MAX_LOGGED_CHANGES = 200_000
# A cohort of at least this many members that the planner believes at least
# STALE_ESTIMATE_FACTOR times smaller has the members' statistics gathered again before it
# is compared (`_refresh_statistics`).
STALE_ESTIMATE_MEMBERS = 10_000
STALE_ESTIMATE_FACTOR = 10
# The marker's member key. Member keys start "u:" or "a:", so no member has this one.
WHOLESALE = "*"


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def in_key_order(expression: str) -> str:
    """A member key expression that sorts and compares as stored keys do
    (`portal.models.MemberKeyField`): staged keys are sorted before they go into the
    members' primary key, and joined with stored keys."""
    if is_postgresql():
        return f'({expression}) COLLATE "{MEMBER_KEY_COLLATION}"'
    return expression


def _key_type() -> str:
    """The type of a staged member key column."""
    return f'text COLLATE "{MEMBER_KEY_COLLATION}"' if is_postgresql() else "text"


def column(model: type[CohortMember] | type[CohortChange], name: str) -> str:
    """The table column of a field (reverse relations have none)."""
    model_field = model._meta.get_field(name)
    if isinstance(model_field, ForeignObjectRel) or model_field.column is None:
        raise LookupError(f"{model.__name__}.{name} is not a column")
    return model_field.column


def drop_table(cursor: CursorWrapper, name: str) -> None:
    # Names are this module's constants (and portal.cohort_csv's), never input.
    cursor.execute(f"DROP TABLE IF EXISTS {name}")


def create_temporary_table(cursor: CursorWrapper, name: str, columns: str) -> None:
    """A table of this connection only, gone when the transaction ends on PostgreSQL.

    Dropped first: a second change in the same transaction (a test, a caller chaining
    changes) starts from an empty one.
    """
    drop_table(cursor, name)
    on_commit = " ON COMMIT DROP" if is_postgresql() else ""
    cursor.execute(f"CREATE TEMPORARY TABLE {name} ({columns}){on_commit}")


@dataclass(frozen=True)
class Staged:
    """Staged members as SQL, for `apply_change` to read as member columns.

    `table` is a FROM item aliased `r`; `columns` gives, for each of MEMBER_FIELDS, an SQL
    expression over `r`; `present` is true on a row of `r` (false on a stored member that
    a full join pairs with nothing); `same_properties` is the condition that the stored
    member `m` has the properties of `r`. `params` holds the named parameters of these
    fragments. `rows` is how many members `table` holds; when `unique` is false their keys
    may repeat, and `deduplicated` is the same FROM item keeping each key's first row.
    """

    table: str
    columns: dict[str, str]
    present: str
    same_properties: str
    rows: int
    unique: bool
    deduplicated: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def without_duplicates(self) -> Staged:
        if self.unique or self.deduplicated is None:
            return self
        return Staged(
            table=self.deduplicated,
            columns=self.columns,
            present=self.present,
            same_properties=self.same_properties,
            rows=self.rows,
            unique=True,
            params=self.params,
        )


class StageWriter:
    """Members parsed in Python (the API, the demo, CSV files read row by row), staged
    for `apply_change`: through COPY on PostgreSQL, in batches of INSERTs elsewhere.

    Rows keep their position, so that when a key repeats its first row wins.
    """

    def __init__(self, cursor: CursorWrapper):
        self.cursor = cursor
        self.rows = 0
        create_temporary_table(
            cursor,
            STAGE,
            f"position bigint, member_key {_key_type()}, user_id text, amplitude_id bigint, "
            f"device_id text, email text, properties {_json_type()}",
        )

    def write(self, members: Iterable[MemberValues]) -> None:
        columns = ", ".join(("position", *MEMBER_FIELDS))
        if is_postgresql():
            with self.cursor.cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
                for *values, properties in members:
                    self.rows += 1
                    copy.write_row((self.rows, *values, json.dumps(properties)))
        else:
            batch = []
            for *values, properties in members:
                self.rows += 1
                batch.append((self.rows, *values, json.dumps(properties)))
            placeholders = ", ".join(["%s"] * (len(MEMBER_FIELDS) + 1))
            self.cursor.executemany(
                f"INSERT INTO {STAGE} ({columns}) VALUES ({placeholders})",  # noqa: S608
                batch,
            )
        # Under DEBUG Django keeps every query's SQL; a long load would hold them all.
        reset_queries()

    def staged(self) -> Staged:
        """The members written so far, each key once (its first row)."""
        first_rows = (
            f"(SELECT * FROM {STAGE} WHERE position IN "  # noqa: S608
            f"(SELECT min(position) FROM {STAGE} GROUP BY member_key)) AS r"
        )
        return Staged(
            table=first_rows,
            columns={name: f"r.{name}" for name in MEMBER_FIELDS},
            present="r.position IS NOT NULL",
            same_properties=f"m.properties {_same()} r.properties",
            rows=self.rows,
            unique=True,
        )


def stage_removals(cursor: CursorWrapper, keys: Iterable[str]) -> None:
    """The member keys a change removes."""
    create_temporary_table(cursor, UNSTAGE, f"member_key {_key_type()}")
    cursor.executemany(
        f"INSERT INTO {UNSTAGE} (member_key) VALUES (%s)",  # noqa: S608
        [(key,) for key in keys],
    )


def _json_type() -> str:
    return "jsonb" if is_postgresql() else "text"


def _same() -> str:
    """SQL's null-safe equality (`IS NOT DISTINCT FROM`; SQLite spells it `IS`)."""
    return "IS NOT DISTINCT FROM" if is_postgresql() else "IS"


def _differs() -> str:
    return "IS DISTINCT FROM" if is_postgresql() else "IS NOT"


@dataclass
class Outcome:
    """What a change did. `total` is the cohort's size afterwards; `duplicates` counts the
    staged rows that repeated a member key (a full replacement only)."""

    snapshot: int
    total: int
    entered: int = 0
    left: int = 0
    updated: int = 0
    duplicates: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.left or self.updated)


def apply_change(
    cohort: Cohort, staged: Staged, *, replace: bool, removing: bool = False
) -> Outcome:
    """Make the staged members the cohort's members (`replace`), or add them and remove
    the keys staged by `stage_removals` (`removing`); see the module docstring.

    Must run inside the transaction that staged them. `cohort` is updated in place
    (snapshot, member_count, updated_at).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a cohort change must run inside a transaction")
    if not replace and not staged.unique:
        raise ValueError("added members must be staged without repeated keys")
    locked = Cohort.objects.select_for_update().get(pk=cohort.pk)
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")
        stored = CohortMember.objects.filter(cohort_id=locked.pk).count()
        if replace and stored == 0:
            outcome = _fill(cursor, locked, staged)
        else:
            _refresh_statistics(cursor, locked, stored)
            outcome = _merge(cursor, locked, staged, stored, replace=replace, removing=removing)
    if outcome.changed:
        locked.snapshot = outcome.snapshot
        locked.member_count = outcome.total
        locked.updated_at = timezone.now()
        locked.save(update_fields=["snapshot", "member_count", "updated_at"])
    elif locked.member_count != outcome.total:
        # Nothing changed, but the stored count had drifted: correct it, same snapshot.
        locked.member_count = outcome.total
        locked.save(update_fields=["member_count"])
    cohort.snapshot = locked.snapshot
    cohort.member_count = locked.member_count
    cohort.updated_at = locked.updated_at
    return outcome


def _refresh_statistics(cursor: CursorWrapper, cohort: Cohort, stored: int) -> None:
    """ANALYZE the members table when the planner would take this cohort for a small one.

    Autovacuum gathers a table's statistics again only once a tenth of it has changed, so
    a cohort filled after the last ANALYZE (a first import, a cohort that grew) can be
    unknown to them: estimated at one row, a comparison with its million members was
    planned as a loop over them, the diff read again for each (a re-import of 1 % churn
    ran for over half an hour instead of seconds). Checked here, before the statements
    that join the cohort's members, and fixed in this transaction (the statistics are
    committed with it)."""
    if not is_postgresql() or stored < STALE_ESTIMATE_MEMBERS:
        return
    if planned_members(cursor, cohort.pk) * STALE_ESTIMATE_FACTOR < stored:
        cursor.execute(f"ANALYZE {_tables()['members']}")


def planned_members(cursor: CursorWrapper, cohort_id: int) -> int:
    """How many members PostgreSQL's planner expects the cohort to have."""
    names = _tables()
    cursor.execute(
        f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {names['members']} "  # noqa: S608
        f"WHERE {names['member_cohort']} = %s",
        [cohort_id],
    )
    plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _tables() -> dict[str, str]:
    return {
        "members": CohortMember._meta.db_table,
        "changes": CohortChange._meta.db_table,
        "member_cohort": column(CohortMember, "cohort"),
        "change_cohort": column(CohortChange, "cohort"),
    }


def _fill(cursor: CursorWrapper, cohort: Cohort, staged: Staged) -> Outcome:
    """An empty cohort gets its first members: inserted straight from the stage, in key
    order (kinder to the unique index), every one of them entering."""
    if not staged.rows:
        return Outcome(snapshot=cohort.snapshot, total=0)
    snapshot = cohort.snapshot + 1
    try:
        # A savepoint: a key repeated in the stage fails the insert, which is then redone
        # keeping each key's first row.
        with transaction.atomic():
            inserted = _insert_staged(cursor, cohort, staged)
    except IntegrityError:
        if staged.unique:
            raise
        staged = staged.without_duplicates()
        inserted = _insert_staged(cursor, cohort, staged)
    if inserted > MAX_LOGGED_CHANGES:
        _log_wholesale(cohort, snapshot)
    else:
        names = _tables()
        cursor.execute(
            f"INSERT INTO {names['changes']} ({names['change_cohort']}, snapshot, "  # noqa: S608
            f"member_key, entered) SELECT %(cohort)s, %(snapshot)s, member_key, %(entered)s "
            f"FROM {names['members']} WHERE {names['member_cohort']} = %(cohort)s",
            {"cohort": cohort.pk, "snapshot": snapshot, "entered": True},
        )
    return Outcome(
        snapshot=snapshot, total=inserted, entered=inserted, duplicates=staged.rows - inserted
    )


def _insert_staged(cursor: CursorWrapper, cohort: Cohort, staged: Staged) -> int:
    names = _tables()
    values = ", ".join(
        in_key_order(staged.columns[name]) if name == "member_key" else staged.columns[name]
        for name in MEMBER_FIELDS
    )
    cursor.execute(
        f"INSERT INTO {names['members']} ({names['member_cohort']}, "  # noqa: S608
        f"{', '.join(MEMBER_FIELDS)}) SELECT %(cohort)s, {values} FROM {staged.table} "
        f"ORDER BY 2",
        {**staged.params, "cohort": cohort.pk},
    )
    return int(cursor.rowcount)


def _merge(
    cursor: CursorWrapper,
    cohort: Cohort,
    staged: Staged,
    stored: int,
    *,
    replace: bool,
    removing: bool,
) -> Outcome:
    counts = _diff(cursor, cohort, staged, replace=replace, removing=removing)
    entered_rows, entered, left, updated = counts
    duplicates = 0
    if replace:
        # Every stored member that did not leave was matched by at least one staged row,
        # and every staged row matched one or entered; any staged row beyond that repeats
        # a key. Then the first row of each key must win: compare again without repeats.
        duplicates = (staged.rows - entered_rows) - (stored - left) + (entered_rows - entered)
        if duplicates and not staged.unique:
            staged = staged.without_duplicates()
            entered_rows, entered, left, updated = _diff(
                cursor, cohort, staged, replace=True, removing=False
            )
    outcome = Outcome(
        snapshot=cohort.snapshot,
        total=stored - left + entered,
        entered=entered,
        left=left,
        updated=updated,
        duplicates=duplicates,
    )
    if outcome.changed:
        outcome.snapshot = cohort.snapshot + 1
        _apply_diff(cursor, cohort, outcome.snapshot, logged=outcome.entered + outcome.left)
    drop_table(cursor, DIFF)
    return outcome


def _diff(
    cursor: CursorWrapper, cohort: Cohort, staged: Staged, *, replace: bool, removing: bool
) -> tuple[int, int, int, int]:
    """Fill the diff table: one row per member that enters, leaves or is updated, with
    its new values. Returns (entering rows, distinct entering keys, leaving, updated)."""
    names = _tables()
    columns = staged.columns
    stored_columns = ", ".join(MEMBER_FIELDS)
    stored = (
        f"(SELECT {stored_columns} FROM {names['members']} "  # noqa: S608
        f"WHERE {names['member_cohort']} = %(cohort)s) AS m"
    )
    # Equal keys mean equal amplitude_ids ("a:<amplitude_id>", or none on either side).
    compared = ("user_id", "device_id", "email")
    changed = " OR ".join(
        [
            *(f"({columns[name]}) {_differs()} m.{name}" for name in compared),
            f"NOT ({staged.same_properties})",
        ]
    )
    new_values = ", ".join(f"{columns[name]} AS {name}" for name in MEMBER_FIELDS[1:])
    params = {**staged.params, "cohort": cohort.pk}
    drop_table(cursor, DIFF)
    on_commit = " ON COMMIT DROP" if is_postgresql() else ""
    if replace and is_postgresql():
        # One pass over both sides: a full join pairs every staged row with its stored
        # member, and leaves the unpaired on either side. Merged in key order rather than
        # hashed: keys sort byte by byte (MemberKeyField), and sorting both sides costs
        # less than a hash table of every stored member; and not compiled (JIT), which
        # cost more than it saved (docs/performance.md).
        with _planner_settings(cursor, enable_hashjoin="off", jit="off"):
            cursor.execute(
                f"CREATE TEMPORARY TABLE {DIFF}{on_commit} AS "  # noqa: S608
                f"SELECT CASE WHEN m.member_key IS NULL THEN 'entered' "
                f"WHEN NOT ({staged.present}) THEN 'left' ELSE 'updated' END AS kind, "
                f"coalesce(m.member_key, {columns['member_key']}) AS member_key, {new_values} "
                f"FROM {staged.table} FULL JOIN {stored} "
                f"ON m.member_key = {columns['member_key']} "
                f"WHERE m.member_key IS NULL OR NOT ({staged.present}) OR {changed}",
                params,
            )
    else:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {DIFF}{on_commit} AS "  # noqa: S608
            f"SELECT CASE WHEN m.member_key IS NULL THEN 'entered' ELSE 'updated' END "
            f"AS kind, {in_key_order(columns['member_key'])} AS member_key, {new_values} "
            f"FROM {staged.table} LEFT JOIN {stored} "
            f"ON m.member_key = {columns['member_key']} "
            f"WHERE m.member_key IS NULL OR {changed}",
            params,
        )
        if replace:
            leaving = (
                f"NOT EXISTS (SELECT 1 FROM {staged.table} "  # noqa: S608
                f"WHERE {columns['member_key']} = m.member_key)"
            )
        elif removing:
            leaving = f"m.member_key IN (SELECT member_key FROM {UNSTAGE})"  # noqa: S608
        else:
            leaving = ""
        if leaving:
            cursor.execute(
                f"INSERT INTO {DIFF} (kind, member_key) "  # noqa: S608
                f"SELECT 'left', m.member_key FROM {stored} WHERE {leaving}",
                params,
            )
    cursor.execute(
        "SELECT "  # noqa: S608
        "coalesce(sum(CASE WHEN kind = 'entered' THEN 1 ELSE 0 END), 0), "
        "count(DISTINCT CASE WHEN kind = 'entered' THEN member_key END), "
        "coalesce(sum(CASE WHEN kind = 'left' THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN kind = 'updated' THEN 1 ELSE 0 END), 0) "
        f"FROM {DIFF}"
    )
    entered_rows, entered, left, updated = cursor.fetchone()
    return int(entered_rows), int(entered), int(left), int(updated)


@contextmanager
def _planner_settings(cursor: CursorWrapper, **settings: str) -> Iterator[None]:
    """PostgreSQL settings for the statements inside, then back to what they were.

    If a statement fails, the transaction (or savepoint) that rolls back restores them."""
    before = {}
    for name, value in settings.items():
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
        before[name] = cursor.fetchone()[0]
    yield
    for name, value in before.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def _apply_diff(cursor: CursorWrapper, cohort: Cohort, snapshot: int, *, logged: int) -> None:
    """Apply the diff table; `logged` is how many change rows it makes (entries and
    departures)."""
    names = _tables()
    members, member_cohort = names["members"], names["member_cohort"]
    params = {"cohort": cohort.pk, "snapshot": snapshot, "entered": True}
    cursor.execute(
        f"DELETE FROM {members} WHERE {member_cohort} = %(cohort)s AND member_key IN "  # noqa: S608
        f"(SELECT member_key FROM {DIFF} WHERE kind = 'left')",
        params,
    )
    updates = ", ".join(f"{name} = d.{name}" for name in MEMBER_FIELDS[1:])
    cursor.execute(
        f"UPDATE {members} SET {updates} FROM {DIFF} AS d "  # noqa: S608
        f"WHERE {members}.{member_cohort} = %(cohort)s "
        f"AND {members}.member_key = d.member_key AND d.kind = 'updated'",
        params,
    )
    cursor.execute(
        f"INSERT INTO {members} ({member_cohort}, {', '.join(MEMBER_FIELDS)}) "  # noqa: S608
        f"SELECT %(cohort)s, {', '.join(MEMBER_FIELDS)} FROM {DIFF} "
        f"WHERE kind = 'entered' ORDER BY member_key",
        params,
    )
    if logged > MAX_LOGGED_CHANGES:
        _log_wholesale(cohort, snapshot)
        return
    cursor.execute(
        f"INSERT INTO {names['changes']} ({names['change_cohort']}, snapshot, member_key, "  # noqa: S608
        f"entered) SELECT %(cohort)s, %(snapshot)s, member_key, kind = 'entered' "
        f"FROM {DIFF} WHERE kind <> 'updated' ORDER BY member_key",
        params,
    )


def _log_wholesale(cohort: Cohort, snapshot: int) -> None:
    """Snapshot `snapshot` changed too many members to log them: one marker says so."""
    CohortChange.objects.create(
        cohort_id=cohort.pk, snapshot=snapshot, member_key=WHOLESALE, entered=True
    )
