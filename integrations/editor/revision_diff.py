"""The revision history's comparison of two revisions, as rows to read.

`manifest_diff` (in the engine) says what changed between two manifests, path by path,
with a line diff for long text. The history page shows each change with its place in words
(`paths.describe_path`), the values before and after as a person reads them, and the line
diff classified for colouring.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from integrations.editor.paths import describe_path
from syncengine.core.manifest_diff import Change


def _diff_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value else "(empty)"
    return json.dumps(value, ensure_ascii=False)


def _diff_lines(lines: Iterable[str]) -> list[tuple[str, str]]:
    classified = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            classified.append(("hunk", line))
        elif line.startswith("+"):
            classified.append(("added", line[1:]))
        elif line.startswith("-"):
            classified.append(("removed", line[1:]))
        else:
            classified.append(("same", line[1:] if line.startswith(" ") else line))
    return classified


def revision_diff(
    changes: Sequence[Change], manifest: Mapping[str, Any], *, logo_changed: bool = False
) -> list[dict[str, Any]]:
    """`manifest_diff` changes as rows to read: where in words, before, after, line diff."""
    rows: list[dict[str, Any]] = []
    if logo_changed:
        rows.append(
            {
                "path": "logo",
                "where": "Logo",
                "kind": "changed",
                "before": "previous logo",
                "after": "new logo",
                "lines": [],
            }
        )
    for change in changes:
        rows.append(
            {
                "path": change.path,
                "where": describe_path(change.path, manifest),
                "kind": change.kind,
                "before": _diff_value(change.before),
                "after": _diff_value(change.after),
                "lines": _diff_lines(change.text_diff),
            }
        )
    return rows
