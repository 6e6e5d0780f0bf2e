"""What a cohort member is made of: one member read from a CSV row or a JSON object.

`member_values` is the one definition of a valid member (identifiers, properties, limits,
the NUL character); the REST API, CSV files read in Python and the demo data all go
through it. `portal.cohort_csv` checks CSV files in SQL instead when it can, and leaves
every file it cannot vouch for to `iter_csv_rows` and `member_values`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from syncengine.core.nul import NUL, JsonPath, find_nul, shown_key

IDENTIFIER_COLUMNS = ("user_id", "amplitude_id", "device_id", "email")
MAX_VALUE_LENGTH = 200
MAX_PROPERTIES = 50
MAX_API_MEMBERS = 10_000


class MemberError(ValueError):
    """A member (or a file of members) that cannot be stored; `field` names the input
    it came in, when the caller named one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


# What a parsed member is made of, in the order `member_values` returns them.
MEMBER_FIELDS = ("member_key", "user_id", "amplitude_id", "device_id", "email", "properties")
MemberValues = tuple[str, str, int | None, str, str, dict]


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


def parse_members(raws: object, *, name: str = "members") -> list[MemberValues]:
    """The members of a JSON list (`name` prefixes the errors: `members[3]: ...`).

    All or nothing: every member is checked, and the first ten problems are raised
    together.
    """
    if not isinstance(raws, list):
        raise MemberError(f"{name} must be a list", field=name)
    if len(raws) > MAX_API_MEMBERS:
        raise MemberError(
            f"{name}: at most {MAX_API_MEMBERS:,} members per request; upload a CSV for more",
            field=name,
        )
    members, errors = [], []
    for position, raw in enumerate(raws):
        try:
            members.append(member_values(raw))
        except MemberError as error:
            errors.append(f"{name}[{position}]: {error}")
    if errors:
        raise MemberError("; ".join(errors[:10]), field=name)
    return members


def check_header(names: list[str]) -> list[str]:
    """The column names of a CSV header row, stripped; refused unless they name user_id or
    amplitude_id, each column once."""
    header = [name.strip() for name in names]
    if not header:
        raise MemberError("the file is empty: the first line must be a header row")
    if "user_id" not in header and "amplitude_id" not in header:
        raise MemberError(
            f"the header row must have a user_id or an amplitude_id column (found: "
            f"{', '.join(header[:10])})"
        )
    if len(set(header)) != len(header):
        raise MemberError("the header row names a column twice")
    return header


def iter_csv_rows(stream: io.TextIOBase) -> Iterator[tuple[int, dict]]:
    """(line number, row) pairs; the header must name user_id or amplitude_id."""
    reader = csv.DictReader(stream)
    reader.fieldnames = check_header(list(reader.fieldnames or []))
    for row in reader:
        if None in row:
            raise MemberError(f"line {reader.line_num}: more values than header columns")
        yield reader.line_num, row
