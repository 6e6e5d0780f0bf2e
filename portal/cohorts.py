"""Cohort members: parsing, validation and bulk loading (CSV files and the REST API).

Files are streamed: rows are read, validated and inserted in chunks, so a million-row CSV
never sits in memory. A load runs in one transaction, so a file with errors changes
nothing; progress goes to the cache, where other connections can see it mid-transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection, reset_queries, transaction
from django.db.models import ForeignObjectRel
from django.utils import timezone

from portal.models import Cohort, CohortMember, import_progress_key
from syncengine.core.nul import NUL, JsonPath, find_nul, shown_key

IDENTIFIER_COLUMNS = ("user_id", "amplitude_id", "device_id", "email")
MAX_VALUE_LENGTH = 200
MAX_PROPERTIES = 50
MAX_REPORTED_ERRORS = 50
INSERT_CHUNK = 5_000
MAX_API_MEMBERS = 10_000


class MemberError(ValueError):
    pass


# What a parsed member is made of, in the order `member_values` returns them.
MEMBER_FIELDS = ("member_key", "user_id", "amplitude_id", "device_id", "email", "properties")
MemberValues = tuple[str, str, int | None, str, str, dict]


def parse_member(raw: dict) -> CohortMember:
    """A `CohortMember` (unsaved, without cohort) from a row or a JSON object."""
    return CohortMember(**dict(zip(MEMBER_FIELDS, member_values(raw), strict=True)))


def member_values(raw: dict) -> MemberValues:
    """A member's fields (MEMBER_FIELDS) from a row or a JSON object.

    Needs `user_id` or `amplitude_id`; `amplitude_id` must be a whole number; other keys
    become user properties. Text with the NUL character is refused (PostgreSQL cannot
    store it), as is an identifier longer than MAX_VALUE_LENGTH once written as text.
    """
    if not isinstance(raw, dict):
        raise MemberError("each member must be an object with user_id or amplitude_id")
    # repr() writes NUL as \x00 in one fast pass; only then is the member walked for it.
    nul = find_nul(raw) if "\\x00" in repr(raw) else None
    if nul is not None:
        raise _nul_refusal(nul)
    values: dict[str, object] = {}
    properties: dict[str, object] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise MemberError("column names must not be empty")
        key = key.strip()
        if isinstance(value, str):
            value = value.strip()
            if len(value) > MAX_VALUE_LENGTH:
                raise MemberError(f"{key} is longer than {MAX_VALUE_LENGTH} characters")
        if key in IDENTIFIER_COLUMNS:
            values[key] = value
        elif key == "properties" and isinstance(value, dict):
            properties.update(value)
        elif value not in ("", None):
            properties[key] = value
    if len(properties) > MAX_PROPERTIES:
        raise MemberError(f"at most {MAX_PROPERTIES} user properties per member")
    user_id = _text(values.get("user_id"), "user_id")
    amplitude_id = values.get("amplitude_id")
    if amplitude_id in ("", None):
        amplitude_id = None
    else:
        try:
            amplitude_id = int(str(amplitude_id))
        except ValueError:
            raise MemberError(f"amplitude_id {amplitude_id!r} is not a whole number") from None
        if not 0 <= amplitude_id < 2**63:
            raise MemberError("amplitude_id is out of range")
    if not user_id and amplitude_id is None:
        raise MemberError("needs a user_id or an amplitude_id")
    return (
        # "u:" and at most MAX_VALUE_LENGTH characters: fits CohortMember.member_key.
        f"a:{amplitude_id}" if amplitude_id is not None else f"u:{user_id}",
        user_id,
        amplitude_id,
        _text(values.get("device_id"), "device_id"),
        _text(values.get("email"), "email"),
        properties,
    )


def _nul_refusal(path: JsonPath) -> MemberError:
    """The error for a member whose `path` (from `find_nul`) holds the NUL character."""
    if any(isinstance(key, str) and NUL in key for key in path):
        named = ".".join(shown_key(key) for key in path)
        return MemberError(
            f"column and property names must not contain the NUL character (\\u0000): {named}"
        )
    # raw is an object, so the path starts with a column name.
    column = f"properties.{path[1]}" if path[0] == "properties" and len(path) > 1 else path[0]
    return MemberError(f"{column} must not contain the NUL character (\\u0000)")


def _text(value: object, name: str) -> str:
    """An identifier as text: numbers are written out, the length is checked either way."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        raise MemberError(f"{name} must be text")
    try:
        text = str(value)
    except ValueError:  # an integer too long to write out (sys.set_int_max_str_digits)
        raise MemberError(f"{name} is longer than {MAX_VALUE_LENGTH} characters") from None
    if len(text) > MAX_VALUE_LENGTH:
        raise MemberError(f"{name} is longer than {MAX_VALUE_LENGTH} characters")
    return text


def _column(name: str) -> str:
    """The table column of CohortMember's field `name` (reverse relations have none)."""
    model_field = CohortMember._meta.get_field(name)
    if isinstance(model_field, ForeignObjectRel) or model_field.column is None:
        raise LookupError(f"CohortMember.{name} is not a column")
    return model_field.column


@dataclass
class LoadReport:
    rows_read: int = 0
    rows_loaded: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def iter_csv_rows(stream: io.TextIOBase) -> Iterator[tuple[int, dict]]:
    """(line number, row) pairs; the header must name user_id or amplitude_id."""
    reader = csv.DictReader(stream)
    header = [name.strip() for name in (reader.fieldnames or [])]
    if not header:
        raise MemberError("the file is empty: the first line must be a header row")
    if "user_id" not in header and "amplitude_id" not in header:
        raise MemberError(
            f"the header row must have a user_id or an amplitude_id column (found: "
            f"{', '.join(header[:10])})"
        )
    if len(set(header)) != len(header):
        raise MemberError("the header row names a column twice")
    reader.fieldnames = header
    for row in reader:
        if None in row:
            raise MemberError(f"line {reader.line_num}: more values than header columns")
        yield reader.line_num, row


def load_members(
    cohort: Cohort, rows: Iterable[tuple[int, dict]], *, progress_id: int | None = None
) -> LoadReport:
    """Replace the cohort's members with `rows`, all or nothing.

    Rows are validated while streaming; on the first errors the load keeps reading (to
    report up to MAX_REPORTED_ERRORS of them) and then rolls everything back.
    """
    report = LoadReport()
    with transaction.atomic():
        CohortMember.objects.filter(cohort=cohort).delete()
        sink = _member_sink(cohort)
        chunk: list[MemberValues] = []
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
                chunk.append(member)
                if len(chunk) >= INSERT_CHUNK:
                    sink.write(chunk)
                    chunk = []
                    if progress_id is not None:
                        cache.set(import_progress_key(progress_id), report.rows_read, 3600)
        except MemberError as error:
            report.errors.append({"row": None, "message": str(error)})
        except (UnicodeDecodeError, csv.Error) as error:
            report.errors.append({"row": None, "message": f"the file is not a valid CSV: {error}"})
        if report.errors:
            transaction.set_rollback(True)
            return report
        sink.write(chunk)
        sink.finish()
        stored = CohortMember.objects.filter(cohort=cohort).count()
        report.rows_loaded = stored
        report.duplicates = report.rows_read - stored
        cohort.member_count = stored
        cohort.updated_at = timezone.now()
        cohort.save(update_fields=["member_count", "updated_at"])
    return report


class _BulkCreateSink:
    """Members stored with `bulk_create`, chunk by chunk (any database)."""

    def __init__(self, cohort: Cohort):
        self.cohort = cohort

    def write(self, members: list[MemberValues]) -> None:
        _insert(
            [
                CohortMember(cohort=self.cohort, **dict(zip(MEMBER_FIELDS, member, strict=True)))
                for member in members
            ]
        )

    def finish(self) -> None:
        pass


class _CopySink:
    """Members streamed into a temporary table with PostgreSQL's COPY, then inserted in
    one statement: several times faster than INSERTs for a large file.

    Rows keep their position, so when a file names the same member twice the first row
    wins, as with `bulk_create(ignore_conflicts=True)`.
    """

    def __init__(self, cohort: Cohort):
        self.cohort = cohort
        self.position = 0
        self.cursor = connection.cursor()
        self.cursor.execute(
            "DROP TABLE IF EXISTS cohort_load; "
            "CREATE TEMPORARY TABLE cohort_load (position bigint, member_key text, "
            "user_id text, amplitude_id bigint, device_id text, email text, properties jsonb)"
            " ON COMMIT DROP"
        )

    def write(self, members: list[MemberValues]) -> None:
        if not members:
            return
        columns = ", ".join(("position", *MEMBER_FIELDS))
        with self.cursor.cursor.copy(f"COPY cohort_load ({columns}) FROM STDIN") as copy:
            for *fields, properties in members:
                self.position += 1
                copy.write_row((self.position, *fields, json.dumps(properties)))

    def finish(self) -> None:
        meta = CohortMember._meta
        target = [_column(name) for name in ("cohort", *MEMBER_FIELDS)]
        # Every name comes from the model's metadata and this class; the cohort is a parameter.
        insert = (
            f"INSERT INTO {meta.db_table} ({', '.join(target)}) "  # noqa: S608
            f"SELECT %s, {', '.join(MEMBER_FIELDS)} FROM cohort_load ORDER BY position "
            "ON CONFLICT DO NOTHING"
        )
        self.cursor.execute(insert, [self.cohort.pk])
        self.cursor.execute("DROP TABLE cohort_load")
        self.cursor.close()
        reset_queries()


def _member_sink(cohort: Cohort) -> _BulkCreateSink | _CopySink:
    return _CopySink(cohort) if connection.vendor == "postgresql" else _BulkCreateSink(cohort)


def _insert(members: list[CohortMember]) -> None:
    # A repeated member key (the same user twice in one file) is merged, not an error.
    if members:
        CohortMember.objects.bulk_create(members, ignore_conflicts=True)
        # Under DEBUG Django keeps every query's SQL; a million-row load would otherwise hold
        # all of its INSERT statements in memory.
        reset_queries()


def add_members(cohort: Cohort, raws: list) -> int:
    members = _parse_all(raws)
    for member in members:
        member.cohort = cohort
    _insert(members)
    return _recount(cohort)


def remove_members(cohort: Cohort, raws: list) -> int:
    keys = [member.member_key for member in _parse_all(raws)]
    CohortMember.objects.filter(cohort=cohort, member_key__in=keys).delete()
    return _recount(cohort)


def replace_members(cohort: Cohort, raws: list) -> LoadReport:
    _parse_all(raws)
    return load_members(cohort, enumerate(raws, start=1))


def _parse_all(raws: list) -> list[CohortMember]:
    if not isinstance(raws, list):
        raise MemberError("members must be a list")
    if len(raws) > MAX_API_MEMBERS:
        raise MemberError(f"at most {MAX_API_MEMBERS} members per request; upload a CSV for more")
    members, errors = [], []
    for position, raw in enumerate(raws):
        try:
            members.append(parse_member(raw))
        except MemberError as error:
            errors.append(f"members[{position}]: {error}")
    if errors:
        raise MemberError("; ".join(errors[:10]))
    return members


def _recount(cohort: Cohort) -> int:
    cohort.member_count = CohortMember.objects.filter(cohort=cohort).count()
    cohort.updated_at = timezone.now()
    cohort.save(update_fields=["member_count", "updated_at"])
    return cohort.member_count
