"""The variable tracker of the editor's right panel, as data.

Three columns, as in the seed document: **Declared** (auth, custom and mapping fields),
**Used** (per endpoint and part: url, headers, payload, item_template, or the auth
settings) and **Pre-defined** (what the platform fills in). Every row has a status —
`ok`, `undeclared`, `unused` or `not_available_here` — and the locations (manifest path,
line, column) it refers to, so the UI can link each problem to the field to fix.

Version 2 shows up here too: the parts of an endpoint's lookup, create and find requests
are parts of their own (`lookup.url`, `lookup.key`, `lookup.create.payload`,
`find.match`), a used row lists the modifiers its placeholders carry (`number`,
`join(,)`), a declared row says what a missing value becomes (`if_missing`), and a field
read by an endpoint's auth override counts as an auth field.

It works on any manifest, including a half-typed one with syntax errors: placeholders are
found by scanning the text, not by parsing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from syncengine.core.diagnostic_codes import UNDECLARED_VARIABLE
from syncengine.core.manifest.schema import AUTH
from syncengine.core.manifest.variables import (
    PREDEFINED_VARIABLES,
    Declaration,
    VariableUse,
    collect_declarations,
    collect_variable_uses,
    variable_use_problem,
)

Status = Literal["ok", "undeclared", "unused", "not_available_here"]
Column = Literal["declared", "used", "predefined"]
OK: Status = "ok"
UNDECLARED: Status = "undeclared"
UNUSED: Status = "unused"
NOT_AVAILABLE_HERE: Status = "not_available_here"


@dataclass(frozen=True, slots=True)
class Location:
    """A place in the manifest: a field path and, inside a template, line and column."""

    path: str
    line: int | None = None
    column: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column}


@dataclass(frozen=True, slots=True)
class TrackerRow:
    """One row of the tracker.

    - declared: `source` is auth (a custom field the auth settings read), custom_field or
      mapping_field; `declared_at` is the field's path; `locations` are its uses.
    - used: `endpoint` and `part` say where (endpoint None and part "auth" for the auth
      settings); `locations` are the uses there.
    - predefined: `locations` are its uses anywhere; `description` and `where` explain it.
    """

    column: Column
    variable: str
    status: Status
    source: str
    message: str
    locations: tuple[Location, ...] = ()
    declared_at: str | None = None
    endpoint: str | None = None
    part: str | None = None
    description: str = ""
    where: str = ""
    secret: bool = False
    modifiers: tuple[str, ...] = ()
    if_missing: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "variable": self.variable,
            "status": self.status,
            "source": self.source,
            "message": self.message,
            "locations": [location.as_dict() for location in self.locations],
            "declared_at": self.declared_at,
            "endpoint": self.endpoint,
            "part": self.part,
            "description": self.description,
            "where": self.where,
            "secret": self.secret,
            "modifiers": list(self.modifiers),
            "if_missing": self.if_missing,
        }


@dataclass(frozen=True, slots=True)
class VariableTracker:
    """The three columns of the tracker."""

    declared: tuple[TrackerRow, ...]
    used: tuple[TrackerRow, ...]
    predefined: tuple[TrackerRow, ...]

    @property
    def problems(self) -> tuple[TrackerRow, ...]:
        """Every row whose status is not ok, in column order."""
        return tuple(row for row in self.rows if row.status != OK)

    @property
    def rows(self) -> tuple[TrackerRow, ...]:
        return self.declared + self.used + self.predefined

    def as_dict(self) -> dict[str, Any]:
        return {
            "declared": [row.as_dict() for row in self.declared],
            "used": [row.as_dict() for row in self.used],
            "predefined": [row.as_dict() for row in self.predefined],
        }


def _location(use: VariableUse) -> Location:
    return Location(use.path, use.line, use.column)


def _status_of(code: str) -> Status:
    return UNDECLARED if code == UNDECLARED_VARIABLE else NOT_AVAILABLE_HERE


def track_variables(doc: Any) -> VariableTracker:
    """Build the tracker for any manifest (never raises)."""
    declarations: dict[str, Declaration] = {}
    all_declarations = collect_declarations(doc)
    for declaration in all_declarations:
        # A field named like a pre-defined variable is an error (check_manifest says so);
        # its uses are judged as uses of the pre-defined variable.
        if declaration.variable not in PREDEFINED_VARIABLES:
            declarations.setdefault(declaration.variable, declaration)
    uses = collect_variable_uses(doc)
    auth_variables = {use.variable for use in uses if use.part == AUTH}
    candidates = [*declarations, *PREDEFINED_VARIABLES]

    problems: list[tuple[VariableUse, tuple[str, str] | None]] = [
        (use, variable_use_problem(use, declarations, candidates)) for use in uses
    ]
    missing = _missing_policies(doc)
    return VariableTracker(
        declared=tuple(_declared_rows(all_declarations, uses, auth_variables, missing)),
        used=tuple(_used_rows(problems)),
        predefined=tuple(_predefined_rows(problems)),
    )


def _missing_policies(doc: Any) -> dict[str, str]:
    """Each field's `if_missing`, by manifest path of the field."""
    policies: dict[str, str] = {}
    if not isinstance(doc, dict):
        return policies
    for key in ("custom_fields", "mapping_fields"):
        fields = doc.get(key)
        for index, field in enumerate(fields if isinstance(fields, list) else []):
            if isinstance(field, dict) and isinstance(field.get("if_missing"), str):
                policies[f"{key}.{index}"] = field["if_missing"]
    return policies


def _declared_rows(
    declarations: list[Declaration],
    uses: list[VariableUse],
    auth_variables: set[str],
    missing: dict[str, str],
) -> list[TrackerRow]:
    rows = []
    for declaration in declarations:
        locations = tuple(_location(use) for use in uses if use.variable == declaration.variable)
        source: Literal["auth", "custom_field", "mapping_field"] = declaration.source
        if source == "custom_field" and declaration.variable in auth_variables:
            source = "auth"
        rows.append(
            TrackerRow(
                column="declared",
                variable=declaration.variable,
                status=OK if locations else UNUSED,
                source=source,
                message="" if locations else "declared but not used in any template",
                locations=locations,
                declared_at=declaration.path,
                secret=declaration.secret or source == "auth",
                if_missing=missing.get(declaration.path),
            )
        )
    return rows


def _used_rows(
    problems: list[tuple[VariableUse, tuple[str, str] | None]],
) -> list[TrackerRow]:
    groups: dict[tuple[str, str | None, str], list[tuple[VariableUse, tuple[str, str] | None]]]
    groups = {}
    for use, problem in problems:
        groups.setdefault((use.variable, use.endpoint, use.part_path), []).append((use, problem))
    rows = []
    for (variable, endpoint, part), members in groups.items():
        problem = next((p for _, p in members if p is not None), None)
        modifiers = tuple(dict.fromkeys(use.modifier for use, _ in members if use.modifier))
        rows.append(
            TrackerRow(
                column="used",
                variable=variable,
                status=OK if problem is None else _status_of(problem[0]),
                source="auth" if endpoint is None else f"{endpoint}.{part}",
                message="" if problem is None else problem[1],
                locations=tuple(_location(use) for use, _ in members),
                endpoint=endpoint,
                part=part,
                modifiers=modifiers,
            )
        )
    return rows


def _predefined_rows(
    problems: list[tuple[VariableUse, tuple[str, str] | None]],
) -> list[TrackerRow]:
    rows = []
    for variable in PREDEFINED_VARIABLES.values():
        members = [(use, p) for use, p in problems if use.variable == variable.name]
        misplaced = [(use, p) for use, p in members if p is not None]
        rows.append(
            TrackerRow(
                column="predefined",
                variable=variable.name,
                status=NOT_AVAILABLE_HERE if misplaced else OK,
                source="platform",
                message=misplaced[0][1][1] if misplaced and misplaced[0][1] else "",
                locations=tuple(_location(use) for use, _ in members),
                description=variable.description,
                where=variable.where,
            )
        )
    return rows
