"""A readable difference between two manifests, as a list of changed JSON paths.

Used for a draft's revision history and for the reviewer's "diff against the last approved
version". Lists of fields are compared by position; template texts that changed carry a
line diff so a payload edit reads like a code review.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["added", "removed", "changed"]
# The logo is compared by content elsewhere; its base64 text is noise in a diff.
IGNORED_PATHS = frozenset({"logo_png_base64"})


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    kind: Kind
    before: Any = None
    after: Any = None
    text_diff: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
            "text_diff": list(self.text_diff),
        }


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values by dotted path; empty objects and lists are leaves themselves."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value:
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return {prefix: value} if prefix else {}
    leaves: dict[str, Any] = {}
    for key, item in items:
        leaves.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


def manifest_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Change]:
    """Changes from `before` to `after`, in `after`'s path order (removals last)."""
    old = {k: v for k, v in flatten(before or {}).items() if k not in IGNORED_PATHS}
    new = {k: v for k, v in flatten(after).items() if k not in IGNORED_PATHS}
    changes: list[Change] = []
    for path, value in new.items():
        if path not in old:
            changes.append(Change(path, "added", after=value))
        elif old[path] != value:
            changes.append(
                Change(
                    path,
                    "changed",
                    before=old[path],
                    after=value,
                    text_diff=_text_diff(old[path], value),
                )
            )
    changes.extend(
        Change(path, "removed", before=value) for path, value in old.items() if path not in new
    )
    return changes


def _text_diff(before: Any, after: Any) -> tuple[str, ...]:
    if not (isinstance(before, str) and isinstance(after, str)):
        return ()
    if "\n" not in before and "\n" not in after and len(before) + len(after) < 160:
        return ()
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=2
    )
    return tuple(lines)
