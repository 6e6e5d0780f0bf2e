"""The NUL character (U+0000), which PostgreSQL can store neither in text nor in jsonb.

Every way in (forms, the API, manifest imports, user CSVs) refuses NUL with its location
before anything reaches the database; `find_nul` finds it in any decoded JSON value.
Paths are `JsonPath`s (object keys and list indices), shown with NUL written as the
escape a JSON author would type.
"""

from __future__ import annotations

from typing import Any

from syncengine.core.diagnostic_codes import NUL_CHARACTER
from syncengine.core.types import Diagnostic

NUL = "\x00"
NUL_MESSAGE = "text must not contain the NUL character (\\u0000)"

JsonPath = tuple[str | int, ...]


def find_nul(value: Any) -> JsonPath | None:
    """The path (object keys and list indices) to the first string or object key, in
    document order, that contains the NUL character U+0000; None when there is none.

    PostgreSQL can store U+0000 neither in text nor in jsonb, so such input has to be
    refused with its location before it reaches the database. The walk is iterative, so
    any nesting the JSON decoder accepted is fine here.
    """
    # Each entry: (path, value, whether the last key of the path itself contains NUL).
    pending: list[tuple[JsonPath, Any, bool]] = [((), value, False)]
    while pending:
        path, item, bad_key = pending.pop()
        if bad_key or (isinstance(item, str) and NUL in item):
            return path
        if isinstance(item, dict):
            children = [
                ((*path, key), child, isinstance(key, str) and NUL in key)
                for key, child in item.items()
            ]
        elif isinstance(item, list | tuple):
            children = [((*path, index), child, False) for index, child in enumerate(item)]
        else:
            continue
        pending.extend(reversed(children))
    return None


def shown_key(key: str | int) -> str:
    """A path step as text, with NUL written as the escape a JSON author would type."""
    return str(key).replace(NUL, "\\u0000")


def dotted_path(path: JsonPath) -> str:
    """A `find_nul` path in the dotted form of `Diagnostic.path` (`custom_fields.0.variable`)."""
    return ".".join(shown_key(key) for key in path)


def nul_diagnostic(doc: Any) -> Diagnostic | None:
    """The error for the first text in `doc` containing NUL, or None."""
    path = find_nul(doc)
    if path is None:
        return None
    return Diagnostic("error", NUL_CHARACTER, NUL_MESSAGE, dotted_path(path))
