"""Test users: generated ones, and CSV files of users with an `operation` column.

A CSV of test users has a header row with:

- `operation`: `add` or `remove` on every row (property-based integrations send
  `$in_cohort` true for `add` and false for `remove`);
- one column per mapping variable the item templates use (`user_id_field_amplitude`,
  say), holding the value that variable takes for that user;
- optionally `cohort_name` and `cohort_id`, the create-list parameters. create_list runs
  once per test, so every row that gives them must give the same values.

Validation reports every problem with its line number (up to `MAX_REPORTED_ERRORS`),
and a file with any problem is refused whole. This module does not touch the database;
cohort sampling lives with the test-run executor.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncengine.core.manifest.schema import AUTH, BATCH_ENDPOINTS
from syncengine.core.manifest.variables import collect_declarations, collect_variable_uses
from syncengine.core.types import User
from syncengine.core.users import GeneratedUsers

MIN_TEST_USERS = 1
MAX_TEST_USERS = 100_000
MAX_CSV_ROWS = 10_000
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_CSV_VALUE_LENGTH = 500
MAX_REPORTED_ERRORS = 20
OPERATION_COLUMN = "operation"
ADD = "add"
REMOVE = "remove"
OPERATIONS = (ADD, REMOVE)
# The create-list parameters a CSV may carry; they must not vary between rows.
CONTEXT_COLUMNS = ("cohort_name", "cohort_id")
# Generated and cohort users: every user is added, then one in REMOVE_ONE_IN of them
# (at least one) is removed again, so that a full test exercises both endpoints.
REMOVE_ONE_IN = 5


class CsvError(ValueError):
    """A CSV of test users that cannot be used; `errors` lists each problem by line."""

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        first = errors[0]
        where = f"line {first['line']}: " if first.get("line") else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{where}{first['message']}{more}")


@dataclass
class TestUsers:
    """Who a test sends: users to add (or mark in the cohort) and to remove.

    Keys are what the protocol batches by (sorted); `mapping` replaces the run's mapping
    choices when the users carry the variables' values themselves (CSV users).
    """

    to_add: Mapping[str, User] = field(default_factory=dict)
    to_remove: Mapping[str, User] = field(default_factory=dict)
    mapping: dict[str, str] | None = None
    cohort_name: str | None = None
    cohort_id: str | None = None
    description: str = ""


def per_user_variables(manifest: Mapping[str, Any]) -> list[str]:
    """Mapping variables the item templates use, in declaration order: one CSV column each."""
    # Item templates, and in version 2 lookup keys and requests sent per user.
    used = {
        use.variable
        for use in collect_variable_uses(manifest)
        if use.part != AUTH and use.endpoint in BATCH_ENDPOINTS
    }
    return [
        d.variable
        for d in collect_declarations(manifest)
        if d.source == "mapping_field" and d.variable in used
    ]


def mapping_variables(manifest: Mapping[str, Any]) -> list[str]:
    return [d.variable for d in collect_declarations(manifest) if d.source == "mapping_field"]


def csv_template(manifest: Mapping[str, Any]) -> str:
    """A header row and two example rows for the integration's CSV of test users."""
    columns = [OPERATION_COLUMN, *per_user_variables(manifest)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow([ADD, *("alice@example.com" for _ in columns[1:])])
    writer.writerow([REMOVE, *("bob@example.com" for _ in columns[1:])])
    return out.getvalue()


def parse_users_csv(data: bytes, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Validate a CSV of test users; its rows as `{"line", "operation", "values", ...}`.

    Raises `CsvError` listing every problem with its line number.
    """
    if len(data) > MAX_CSV_BYTES:
        raise CsvError([_problem(None, f"the file is larger than {MAX_CSV_BYTES // 1024} KiB")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvError(
            [_problem(None, f"the file is not UTF-8 text (byte {error.start} cannot be read)")]
        ) from None
    if "\x00" in text:
        raise CsvError([_problem(None, "the file contains NUL characters; is it really a CSV?")])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise CsvError([_problem(1, f"the header row cannot be read: {error}")]) from None
    if not header or not any(name.strip() for name in header):
        raise CsvError([_problem(None, "the file is empty: the first line must be a header row")])
    columns = [name.strip() for name in header]
    _check_header(columns, manifest)
    # An empty value is a test of its own when the field says what a missing one becomes.
    with_policy = {
        field.get("variable")
        for field in manifest.get("mapping_fields") or []
        if isinstance(field, dict) and field.get("if_missing")
    }
    required = [name for name in per_user_variables(manifest) if name not in with_policy]
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    first_context: dict[str, tuple[str, int]] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not values or not any(v.strip() for v in values):
                continue  # blank lines are not users
            if len(rows) >= MAX_CSV_ROWS:
                errors.append(_problem(line, f"a test takes at most {MAX_CSV_ROWS:,} users"))
                break
            row = _parse_row(line, columns, values, required, first_context, errors)
            if row is not None:
                rows.append(row)
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
    except csv.Error as error:
        errors.append(_problem(reader.line_num, f"the line cannot be read as CSV: {error}"))
    if errors:
        raise CsvError(errors[:MAX_REPORTED_ERRORS])
    if not rows:
        raise CsvError([_problem(None, "the file has a header row but no users")])
    return rows


def _check_header(columns: list[str], manifest: Mapping[str, Any]) -> None:
    known = {OPERATION_COLUMN, *CONTEXT_COLUMNS, *mapping_variables(manifest)}
    problems = []
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        problems.append(_problem(1, f"the header names {', '.join(twice)} more than once"))
    missing = [c for c in [OPERATION_COLUMN, *per_user_variables(manifest)] if c not in columns]
    if missing:
        problems.append(
            _problem(1, f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        )
    unknown = [c for c in columns if c not in known]
    if unknown:
        allowed = ", ".join([OPERATION_COLUMN, *per_user_variables(manifest), *CONTEXT_COLUMNS])
        problems.append(
            _problem(
                1,
                f"unknown column{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(c) for c in unknown)}; the columns are: {allowed}",
            )
        )
    if problems:
        raise CsvError(problems)


def _parse_row(
    line: int,
    columns: Sequence[str],
    values: Sequence[str],
    required: Sequence[str],
    first_context: dict[str, tuple[str, int]],
    errors: list[dict[str, Any]],
) -> dict[str, Any] | None:
    if len(values) > len(columns):
        errors.append(_problem(line, "more values than header columns"))
        return None
    cells = {name: (values[i].strip() if i < len(values) else "") for i, name in enumerate(columns)}
    problems_before = len(errors)
    operation = cells[OPERATION_COLUMN].lower()
    if operation not in OPERATIONS:
        shown = repr(cells[OPERATION_COLUMN]) if cells[OPERATION_COLUMN] else "empty"
        errors.append(_problem(line, f"operation is {shown}; use add or remove"))
    for name, value in cells.items():
        if len(value) > MAX_CSV_VALUE_LENGTH:
            errors.append(
                _problem(line, f"{name} is longer than {MAX_CSV_VALUE_LENGTH} characters")
            )
    for name in required:
        if not cells.get(name):
            errors.append(_problem(line, f"{name} is empty"))
    for name in CONTEXT_COLUMNS:
        value = cells.get(name, "")
        if not value:
            continue
        seen = first_context.setdefault(name, (value, line))
        if seen[0] != value:
            errors.append(
                _problem(
                    line,
                    f"{name} is {value!r} but line {seen[1]} says {seen[0]!r}; create_list "
                    f"runs once per test, so every row must give the same {name}",
                )
            )
    if len(errors) > problems_before:
        return None
    return {
        "line": line,
        "operation": operation,
        "values": {
            name: cells[name]
            for name in columns
            if name not in {OPERATION_COLUMN, *CONTEXT_COLUMNS}
        },
        **{name: cells[name] for name in CONTEXT_COLUMNS if cells.get(name)},
    }


def _problem(line: int | None, message: str) -> dict[str, Any]:
    return {"line": line, "message": message}


def csv_users(rows: Sequence[Mapping[str, Any]]) -> TestUsers:
    """Users from validated CSV rows: each variable's value is given directly."""
    to_add: dict[str, User] = {}
    to_remove: dict[str, User] = {}
    users = TestUsers(
        to_add=to_add, to_remove=to_remove, description=f"{len(rows):,} users from a CSV file"
    )
    variables: set[str] = set()
    for row in rows:
        key = f"line-{int(row['line']):06d}"  # file order, since batches are sorted by key
        user = dict(row["values"])
        variables.update(user)
        target = to_add if row["operation"] == ADD else to_remove
        target[key] = user
        users.cohort_name = users.cohort_name or row.get("cohort_name")
        users.cohort_id = users.cohort_id or row.get("cohort_id")
    # A user "property" named after each variable holds that variable's value.
    users.mapping = {name: name for name in variables}
    return users


def used_properties(manifest: Mapping[str, Any], mapping: Mapping[str, str]) -> set[str]:
    """The user properties a test's requests read: those the mapping chooses for the
    mapping variables the batch endpoints use."""
    return {mapping[name] for name in per_user_variables(manifest) if mapping.get(name)}


def generated_users(count: int, properties: Collection[str] | None = None) -> TestUsers:
    """`count` generated users, all added; the last one in `REMOVE_ONE_IN` removed.

    `properties`: only these user properties (see `used_properties`), besides the
    `user_id` that keys them; all of them when None.
    """
    # In key order, each user made when its batch is sent: the last fifth of the keys are
    # the last part of the same users.
    users = GeneratedUsers(count, properties=properties)
    removed = max(1, count // REMOVE_ONE_IN) if count else 0
    return TestUsers(
        to_add=users,
        to_remove=users.part(count - removed, count),
        description=f"{count:,} generated users",
    )


def split_add_remove(users: dict[str, User], *, description: str) -> TestUsers:
    """Add everyone, then remove the last `1/REMOVE_ONE_IN` of them (at least one)."""
    keys = sorted(users)
    removed = keys[-max(1, len(keys) // REMOVE_ONE_IN) :] if keys else []
    in_order = keys == list(users)
    return TestUsers(
        # In key order: the batches, which go by key, need no second sort.
        to_add=users if in_order else {key: users[key] for key in keys},
        to_remove={key: users[key] for key in removed},
        description=description,
    )
