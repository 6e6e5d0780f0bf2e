"""A CSV file of cohort members loaded straight into PostgreSQL.

The file's bytes go to `COPY` as they are, into a table of text columns; checking them
and turning them into members happens in SQL, and so does the merge
(`portal.cohort_changes`). No row passes through Python and memory stays flat whatever
the file's size; the time goes to writing the members and the change log (their indexes
and WAL), see docs/performance.md.

`COPY` and Python's csv module read well-formed files alike, and `member_values` is the
definition of a valid member. So this fast path takes only the files it can vouch for —
no double quote, no NUL, one record per line, every row passing the checks of
`_checks` — and turns down every other (`load` returns None, having changed nothing),
which `portal.cohorts` then reads row by row in Python and reports on line by line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import DatabaseError, connection, transaction
from django.db.backends.utils import CursorWrapper

from portal.cohort_changes import (
    Outcome,
    Staged,
    apply_change,
    create_temporary_table,
    drop_table,
    in_key_order,
    is_postgresql,
)
from portal.cohort_members import (
    IDENTIFIER_COLUMNS,
    MAX_PROPERTIES,
    MAX_VALUE_LENGTH,
    MemberError,
    check_header,
)
from portal.models import Cohort

RAW = "cohort_raw"
READ_CHUNK = 1 << 20
# A header row longer than this is read by the Python path, which reports on it.
MAX_HEADER_BYTES = 64 * 1024
BOM = b"\xef\xbb\xbf"
# What Python's str.strip() removes (every character whose isspace() is true). A file
# with any of them, or with any non-ASCII text, has its values trimmed in SQL as well.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Inside a value, in an ASCII file; CR and LF end records there.
_ASCII_SPACE_BYTES = (b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")


class ByteStream(Protocol):
    """A file of bytes that can be read again from its start (an upload, a spooled body)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...


class _NotForTheFastPath(Exception):
    """The file needs the Python reader (quotes, NUL, records over several lines...)."""


@dataclass
class FastLoad:
    rows: int
    outcome: Outcome


def load(
    cohort: Cohort, raw: ByteStream, *, progress: Callable[[int], None] | None = None
) -> FastLoad | None:
    """Replace the cohort's members with the CSV file `raw` (bytes, at its start), in the
    caller's transaction. None when this path does not take the file: then nothing
    changed and `raw` must be read again from its start."""
    if not is_postgresql():
        return None
    header = _read_header(raw)
    if header is None:
        return None
    with connection.cursor() as cursor:
        try:
            # A savepoint: a file turned down halfway leaves no staged rows behind.
            with transaction.atomic():
                rows, trim = _copy(cursor, raw, len(header), progress)
                staged = _staged(header, rows, trim=trim)
                _check(cursor, staged, header, trim=trim)
        except (_NotForTheFastPath, DatabaseError):
            return None
        outcome = apply_change(cohort, staged, replace=True)
        drop_table(cursor, RAW)
    return FastLoad(rows=rows, outcome=outcome)


def _read_header(raw: ByteStream) -> list[str] | None:
    line = raw.readline(MAX_HEADER_BYTES)
    if not line.endswith(b"\n") and len(line) == MAX_HEADER_BYTES:
        return None
    line = line.removeprefix(BOM)
    if b'"' in line or b"\x00" in line:
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removesuffix("\n").removesuffix("\r")
    if "\r" in text:
        return None
    try:
        header = check_header(text.split(","))
    except MemberError:
        return None  # reported by the Python path, in its words
    if not all(header):
        return None
    return header


def _copy(
    cursor: CursorWrapper, raw: ByteStream, width: int, progress: Callable[[int], None] | None
) -> tuple[int, bool]:
    """COPY the rest of the file into the raw table: (rows, whether values need trimming).

    Empty fields are read as empty text (FORCE_NOT_NULL), as Python reads them.
    """
    columns = [f"c{index}" for index in range(width)]
    create_temporary_table(cursor, RAW, ", ".join(f"{name} text" for name in columns))
    lines = 0
    last = b"\n"
    trim = False
    copying = f"COPY {RAW} FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({', '.join(columns)}))"
    with connection.wrap_database_errors, cursor.cursor.copy(copying) as copy:
        while chunk := raw.read(READ_CHUNK):
            # Each test is one pass of memchr over the chunk, so they cost next to nothing.
            if b"\x00" in chunk or b'"' in chunk:
                raise _NotForTheFastPath
            if not trim:
                trim = not chunk.isascii() or any(b in chunk for b in _ASCII_SPACE_BYTES)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            copy.write(chunk)
            if progress is not None:
                progress(lines)
    if last != b"\n":
        lines += 1
    if progress is not None:
        progress(lines)
    # One row per line, or the file holds what the two readers may read differently
    # (a line of `\.`, which ends COPY's input).
    if cursor.cursor.rowcount != lines:
        raise _NotForTheFastPath
    return lines, trim


def _staged(header: list[str], rows: int, *, trim: bool) -> Staged:
    """The raw table read as members, by the rules of `member_values`."""
    params: dict[str, Any] = {"whitespace": WHITESPACE}

    def value(name: str) -> str:
        return _trimmed(header.index(name), trim) if name in header else "''"

    user, amplitude = value("user_id"), value("amplitude_id")
    properties = [name for name in header if name not in IDENTIFIER_COLUMNS]
    if properties:
        pairs = []
        same = ["(m.properties - %(property_names)s::text[]) = '{}'::jsonb"]
        for index, name in enumerate(properties):
            params[f"property_{index}"] = name
            pairs.append(f"%(property_{index})s::text, nullif({value(name)}, '')")
            same.append(_same_property(f"%(property_{index})s::text", value(name)))
        params["property_names"] = properties
        built = f"jsonb_strip_nulls(jsonb_build_object(VARIADIC ARRAY[{', '.join(pairs)}]))"
        same_properties = " AND ".join(same)
    else:
        built = "'{}'::jsonb"
        same_properties = "m.properties = '{}'::jsonb"
    if "amplitude_id" in header:
        key = in_key_order(
            f"CASE WHEN {amplitude} = '' THEN 'u:' || {user} ELSE 'a:' || ({amplitude})::bigint END"
        )
        amplitude_id = f"CASE WHEN {amplitude} = '' THEN NULL ELSE ({amplitude})::bigint END"
    else:
        # Without the column, no CASE: PostgreSQL would fold the cast of '' and fail.
        key, amplitude_id = in_key_order(f"'u:' || {user}"), "NULL::bigint"
    return Staged(
        table=f"{RAW} AS r",
        columns={
            "member_key": key,
            "user_id": user,
            "amplitude_id": amplitude_id,
            "device_id": value("device_id"),
            "email": value("email"),
            "properties": built,
        },
        present="r.c0 IS NOT NULL",
        same_properties=same_properties,
        rows=rows,
        unique=False,
        deduplicated=(
            f"(SELECT DISTINCT ON ({key}) r.* FROM {RAW} AS r "  # noqa: S608
            f"ORDER BY {key}, r.ctid) AS r"
        ),
        params=params,
    )


def _same_property(name: str, value: str) -> str:
    """The stored member `m` has the property `name` as the file gives it: absent for an
    empty `value`, else that text as a JSON string (false, never null, when it has not).

    Read as text (`->>`) and typed, rather than compared as built JSON (`to_jsonb`): over
    a million members this comparison costs half as much, and it is the same test (a
    number or a null stored under `name` is not the file's string).
    """
    return (
        f"coalesce(CASE WHEN {value} = '' THEN NOT (m.properties ? {name}) "
        f"ELSE (m.properties ->> {name}) = {value} "
        f"AND jsonb_typeof(m.properties -> {name}) = 'string' END, false)"
    )


def _check(cursor: CursorWrapper, staged: Staged, header: list[str], *, trim: bool) -> None:
    """Turn the file down unless every row is a member `member_values` would accept.

    An amplitude_id that is not a number fails the cast, which turns it down too.
    """
    user, amplitude = staged.columns["user_id"], staged.columns["amplitude_id"]
    refusals = [f"({user} = '' AND {amplitude} IS NULL)", f"{amplitude} < 0"]
    for index in range(len(header)):
        # octet_length is read from the value's header: the character count is only
        # needed for the rare value long enough in bytes.
        refusals.append(
            f"(octet_length(r.c{index}) > {MAX_VALUE_LENGTH} "
            f"AND length({_trimmed(index, trim)}) > {MAX_VALUE_LENGTH})"
        )
    properties = [index for index, name in enumerate(header) if name not in IDENTIFIER_COLUMNS]
    if len(properties) > MAX_PROPERTIES:
        filled = " + ".join(
            f"(CASE WHEN {_trimmed(index, trim)} = '' THEN 0 ELSE 1 END)" for index in properties
        )
        refusals.append(f"({filled}) > {MAX_PROPERTIES}")
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {staged.table} WHERE {' OR '.join(refusals)})",  # noqa: S608
        staged.params,
    )
    (refused,) = cursor.fetchone()
    if refused:
        raise _NotForTheFastPath


def _trimmed(index: int, trim: bool) -> str:
    """Column `index` of the raw table, trimmed as str.strip() would when it has to be."""
    return f"btrim(r.c{index}, %(whitespace)s)" if trim else f"r.c{index}"
