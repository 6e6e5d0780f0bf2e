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


# Keys that name an id: `id`, `listId`, `list_id`, `audienceID`...
_ID_KEY = re.compile(r"(?:^|[_\-a-z])(?:id|Id|ID)$|^(?:id|ID|Id)$")
MAX_SUGGESTION_NODES = 2_000


def suggest_id_path(document: Any, *, besides: str = "") -> tuple[str, str] | None:
    """Where an answer seems to carry an id: (dotted path, the id), or None.

    For a `list_id_path` that found nothing. Candidates are object keys that name an id
    holding a non-empty text or number; keys that mention a list win, then the shallowest
    one, then the first in the document. `besides` (the path that failed) is never
    suggested. Only the first nodes are looked at, so a huge answer costs little.
    """
    best: tuple[tuple[int, int, int], str, str] | None = None
    queue: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    seen = 0
    while queue and seen < MAX_SUGGESTION_NODES:
        node, walked = queue.pop(0)
        seen += 1
        items = (
            node.items()
            if isinstance(node, dict)
            else ((str(i), v) for i, v in enumerate(node))
            if isinstance(node, list)
            else ()
        )
        for key, value in items:
            path = (*walked, str(key))
            if isinstance(value, dict | list):
                if len(path) < MAX_DEPTH:
                    queue.append((value, path))
                continue
            if not isinstance(key, str) or not _ID_KEY.search(key) or key.isdigit():
                continue
            if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
                continue
            dotted = ".".join(path)
            if dotted == besides or not all(_SEGMENT.fullmatch(part) for part in path):
                continue
            rank = (0 if "list" in key.lower() else 1, len(path), seen)
            if best is None or rank < best[0]:
                best = (rank, dotted, str(value))
    return (best[1], best[2]) if best else None
