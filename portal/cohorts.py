"""Cohort members in and out: a CSV file or a JSON snapshot replacing them, additions and
removals changing them. Each is one change of `portal.cohort_changes` (one transaction,
one new snapshot, the change log); this module reads and checks what comes in.

CSV files go through `portal.cohort_csv` (COPY, checks in SQL) when it takes them, and
are read row by row here otherwise; either way a file with any bad row changes nothing
and reports up to MAX_REPORTED_ERRORS of them with their line numbers. Memory stays flat:
rows are streamed, never held.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from django.core.cache import caches
from django.db import connection, transaction

from portal import cohort_csv
from portal.cohort_changes import Outcome, StageWriter, apply_change, stage_removals
from portal.cohort_csv import ByteStream
from portal.cohort_members import (
    IDENTIFIER_COLUMNS,
    MAX_API_MEMBERS,
    MAX_PROPERTIES,
    MAX_VALUE_LENGTH,
    MemberError,
    MemberValues,
    iter_csv_rows,
    member_values,
    parse_members,
)
from portal.models import AuditEvent, Cohort, import_progress_key

__all__ = [
    "IDENTIFIER_COLUMNS",
    "MAX_API_MEMBERS",
    "MAX_PROPERTIES",
    "MAX_REPORTED_ERRORS",
    "MAX_VALUE_LENGTH",
    "ChangeReport",
    "MemberError",
    "change_members",
    "iter_csv_rows",
    "load_csv",
    "load_members",
    "member_values",
    "patch_members",
    "recent_changes",
    "replace_members",
]

MAX_REPORTED_ERRORS = 50
# The audit actions of a change of members, as the cohort's page lists them.
CHANGE_ACTIONS = ("cohort.members_replaced", "cohort.members_changed", "cohort.import_succeeded")
# Rows staged per write while a file is read in Python.
STAGE_BATCH = 5_000
PROGRESS_TTL = 3600


@dataclass
class ChangeReport:
    """What a change read and did. `rows_loaded` is the cohort's size afterwards; on
    errors nothing changed."""

    rows_read: int = 0
    rows_loaded: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)
    snapshot: int = 0
    entered: int = 0
    left: int = 0
    updated: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.left or self.updated)

    @property
    def total(self) -> int:
        return self.rows_loaded

    def record(self, outcome: Outcome) -> ChangeReport:
        self.rows_loaded = outcome.total
        self.duplicates = outcome.duplicates
        self.snapshot = outcome.snapshot
        self.entered, self.left, self.updated = outcome.entered, outcome.left, outcome.updated
        return self


def load_csv(cohort: Cohort, raw: ByteStream, *, progress_id: int | None = None) -> ChangeReport:
    """Replace the cohort's members with a CSV file (`raw`: its bytes, seekable)."""

    def progress(rows: int) -> None:
        if progress_id is not None:
            caches["progress"].set(import_progress_key(progress_id), rows, PROGRESS_TTL)

    with transaction.atomic():
        fast = cohort_csv.load(cohort, raw, progress=progress)
    if fast is not None:
        return ChangeReport(rows_read=fast.rows).record(fast.outcome)
    raw.seek(0)
    # TextIOWrapper only reads the buffer; its type asks for a whole binary file.
    text = io.TextIOWrapper(cast("BinaryIO", raw), encoding="utf-8-sig", newline="")
    try:
        return load_members(cohort, iter_csv_rows(text), progress_id=progress_id)
    finally:
        text.detach()  # the caller closes the file


def load_members(
    cohort: Cohort, rows: Iterable[tuple[int, dict]], *, progress_id: int | None = None
) -> ChangeReport:
    """Replace the cohort's members with `rows` ((line number, row) pairs), all or nothing.

    Rows are checked while streaming; after the first errors the load keeps reading (to
    report up to MAX_REPORTED_ERRORS of them and count the rows) and changes nothing.
    """
    report = ChangeReport()
    with transaction.atomic(), connection.cursor() as cursor:
        writer = StageWriter(cursor)
        batch: list[MemberValues] = []
        try:
            for line, raw in rows:
                report.rows_read += 1
                try:
                    member = member_values(raw)
                except MemberError as error:
                    if len(report.errors) < MAX_REPORTED_ERRORS:
                        report.errors.append({"row": line, "message": str(error)})
                    continue
                if report.errors:
                    continue
                batch.append(member)
                if len(batch) >= STAGE_BATCH:
                    writer.write(batch)
                    batch = []
                    if progress_id is not None:
                        caches["progress"].set(
                            import_progress_key(progress_id), report.rows_read, PROGRESS_TTL
                        )
        except MemberError as error:
            report.errors.append({"row": None, "message": str(error)})
        except (UnicodeDecodeError, csv.Error) as error:
            report.errors.append({"row": None, "message": f"the file is not a valid CSV: {error}"})
        if report.errors:
            transaction.set_rollback(True)
            return report
        writer.write(batch)
        return report.record(apply_change(cohort, writer.staged(), replace=True))


def replace_members(cohort: Cohort, raws: object) -> ChangeReport:
    """Replace the cohort's members with a JSON list of members (MemberError if any is
    not valid, naming it: `members[3]: ...`)."""
    members = parse_members(raws)
    with transaction.atomic(), connection.cursor() as cursor:
        writer = StageWriter(cursor)
        writer.write(members)
        outcome = apply_change(cohort, writer.staged(), replace=True)
    return ChangeReport(rows_read=len(members)).record(outcome)


def patch_members(
    cohort: Cohort,
    *,
    add: object = None,
    remove: object = None,
    names: tuple[str, str] = ("add", "remove"),
) -> ChangeReport:
    """Add the members of the JSON list `add` and remove those named in `remove` (objects
    with the user_id and/or amplitude_id that make their key), as one change. `names`
    name the two lists in errors (`add[3]: ...`)."""
    additions = parse_members([] if add is None else add, name=names[0])
    removals = parse_members([] if remove is None else remove, name=names[1])
    added = {member[0]: position for position, member in enumerate(additions)}
    for position, member in enumerate(removals):
        if member[0] in added:
            raise MemberError(
                f"{names[1]}[{position}]: the member {member[0]} is also added "
                f"({names[0]}[{added[member[0]]}]); a change either adds or removes a member",
                field=names[1],
            )
    return change_members(cohort, add=additions, remove=[member[0] for member in removals])


def change_members(
    cohort: Cohort, *, add: Iterable[MemberValues], remove: Iterable[str]
) -> ChangeReport:
    """Add checked members and remove members by key, as one change. Adding a member
    already in the cohort (with the same values) and removing one that is not there
    change nothing."""
    report = ChangeReport()
    with transaction.atomic(), connection.cursor() as cursor:
        writer = StageWriter(cursor)
        writer.write(add)
        stage_removals(cursor, remove)
        report.rows_read = writer.rows
        return report.record(apply_change(cohort, writer.staged(), replace=False, removing=True))


def recent_changes(cohort: Cohort, limit: int = 10) -> list[AuditEvent]:
    """The cohort's latest changes of members, newest first, as recorded in the audit log
    (who or what made them, the snapshot, how many entered and left)."""
    return list(
        AuditEvent.objects.filter(
            org_id=cohort.project.org_id,
            target_type=Cohort._meta.label_lower,
            target_id=str(cohort.pk),
            action__in=CHANGE_ACTIONS,
        )
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )
