"""The variable tracker, as the Testing Integration panel shows it.

The engine's tracker (`validation_report`) lists variables in three columns: declared,
used, pre-defined, each with the manifest paths involved. The panel needs each location
tied to its editor input (`annotate_tracker`) and, for its table, one row per variable
that gathers where it is declared and used and what is wrong with it (`tracker_rows`).
Version 2 shows in the rows too: a use lists the modifiers its placeholders carry
(`${in_cohort:string}`, `${items:join(,)}`) and a declaration what a missing value
becomes (`if_missing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.editor.labels import ENDPOINT_SHORT_LABELS, PART_LABELS, part_label
from integrations.editor.paths import annotate, describe_path
from portal.params import parse_id

SOURCE_LABELS = {"auth": "Auth field", "custom_field": "Custom field", "mapping_field": "Mapping"}
PROBLEM_STATUSES = frozenset({"undeclared", "not_available_here"})


def annotate_tracker(
    tracker: Mapping[str, Any], manifest: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """The tracker's columns with every location annotated (see `paths.annotate`), the
    input declaring each variable, and where each use is, in words."""
    columns = {}
    for column in ("declared", "used", "predefined"):
        rows = []
        for row in tracker.get(column, []):
            locations = [annotate(location, manifest) for location in row["locations"]]
            declared_at = row.get("declared_at")
            rows.append(
                {
                    **row,
                    "locations": locations,
                    "declared_target": f"{declared_at}.variable" if declared_at else None,
                    "where": (
                        describe_path(f"endpoints.{row['endpoint']}.{row['part']}", manifest)
                        if row.get("endpoint")
                        else PART_LABELS.get(row.get("part") or "", "")
                    ),
                }
            )
        columns[column] = rows
    return columns


def _use_label(endpoint: str | None, part: str | None) -> str:
    if endpoint is None:
        return "Auth"
    return f"{ENDPOINT_SHORT_LABELS.get(endpoint, endpoint)} {part_label(part or '')}"


def tracker_rows(tracker: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The three tracker columns as one row per variable: where it is declared, where it
    is used, whether it is pre-defined, and what is wrong with it (annotated tracker in)."""
    rows: dict[str, dict[str, Any]] = {}

    def row_for(variable: str) -> dict[str, Any]:
        return rows.setdefault(
            variable,
            {
                "variable": variable,
                "declared": None,
                "uses": [],
                "predefined": None,
                "messages": [],
                "status": "ok",
            },
        )

    def note(row: dict[str, Any], message: str, status: str) -> None:
        if message and message not in row["messages"]:
            row["messages"].append(message)
        if status == "error" or (status == "warning" and row["status"] == "ok"):
            row["status"] = status

    for item in tracker.get("declared", []):
        row = row_for(item["variable"])
        if row["declared"] is None:
            index = parse_id((item.get("declared_at") or "").rsplit(".", 1)[-1])
            number = f" {index + 1}" if index is not None else ""
            row["declared"] = {
                "label": SOURCE_LABELS.get(item["source"], item["source"]) + number,
                "target": item.get("declared_target") or "",
                "if_missing": item.get("if_missing"),
            }
        if item["status"] == "unused":
            note(row, f"${item['variable']} is declared but not used in any template.", "warning")
    for item in tracker.get("used", []):
        row = row_for(item["variable"])
        first = item["locations"][0] if item["locations"] else {}
        problem = item["status"] in PROBLEM_STATUSES
        row["uses"].append(
            {
                "label": _use_label(item.get("endpoint"), item.get("part")),
                "target": first.get("target", ""),
                "line": first.get("line"),
                "column": first.get("column"),
                "count": len(item["locations"]),
                "problem": problem,
                "modifiers": list(item.get("modifiers") or ()),
            }
        )
        if problem:
            note(row, item["message"], "error")
    for item in tracker.get("predefined", []):
        if not item["locations"] and item["status"] == "ok":
            continue
        row = row_for(item["variable"])
        row["predefined"] = {"description": item["description"], "where": item["where"]}
        if item["status"] in PROBLEM_STATUSES:
            note(row, item["message"], "error")
    order = {"error": 0, "warning": 1, "ok": 2}
    return sorted(rows.values(), key=lambda row: order[row["status"]])
