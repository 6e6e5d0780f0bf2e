"""Dotted paths into JSON documents: `data.id`, `lists.0.id`.

Used for `list_id_path` (where create_list's response carries the new list's id) and
for `sub_code_path` in error classifications. A segment made only of digits indexes an
array; any other segment names an object key.
"""

from __future__ import annotations

import re
from typing import Any

_SEGMENT = re.compile(r"[A-Za-z0-9_\-$@]+")
MAX_DEPTH = 32
# No partner answers with lists this long; a larger index is a typo, and bounding it keeps
# anything that builds an example document from a path small.
MAX_INDEX = 9_999


class PathSyntaxError(ValueError):
    """The path text is not a dotted path."""


class PathNotFound(LookupError):
    """The document has nothing at the path; `where` says how far the lookup got."""

    def __init__(self, path: str, where: str, reason: str):
        super().__init__(f"nothing at {path!r}: {reason} (at {where or 'the top level'})")
        self.path = path
        self.where = where
        self.reason = reason


def parse_path(path: str) -> tuple[str | int, ...]:
    """Split a dotted path into keys and integer indexes, refusing anything else."""
    if not isinstance(path, str) or not path:
        raise PathSyntaxError("a path must be a non-empty text like data.id or lists.0.id")
    parts = path.split(".")
    if len(parts) > MAX_DEPTH:
        raise PathSyntaxError(f"a path may have at most {MAX_DEPTH} segments")
    segments: list[str | int] = []
    for position, part in enumerate(parts, start=1):
        if not part:
            raise PathSyntaxError(f"segment {position} is empty (two dots, or a dot at an end)")
        if not _SEGMENT.fullmatch(part):
            raise PathSyntaxError(
                f"segment {position} ({part!r}) may only use letters, digits, _ - $ @"
            )
        if part.isdigit() and int(part) > MAX_INDEX:
            raise PathSyntaxError(
                f"segment {position} ({part}) is past the largest index, {MAX_INDEX}"
            )
        segments.append(int(part) if part.isdigit() else part)
    return tuple(segments)


def lookup(document: Any, path: str) -> Any:
    """Return the value at `path` in a decoded JSON document or raise `PathNotFound`."""
    current = document
    walked: list[str] = []
    for segment in parse_path(path):
        where = ".".join(walked)
        if isinstance(segment, int) and isinstance(current, dict) and str(segment) in current:
            current = current[str(segment)]
        elif isinstance(segment, int):
            if not isinstance(current, list):
                raise PathNotFound(path, where, f"expected an array for index {segment}")
            if segment >= len(current):
                raise PathNotFound(
                    path, where, f"index {segment} is past the end ({len(current)} items)"
                )
            current = current[segment]
        else:
            if not isinstance(current, dict):
                raise PathNotFound(path, where, f"expected an object with key {segment!r}")
            if segment not in current:
                raise PathNotFound(path, where, f"no key {segment!r}")
            current = current[segment]
        walked.append(str(segment))
    return current
