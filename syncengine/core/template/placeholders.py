"""Placeholders: `$name` or `${name}` for a variable, `$$` for a literal `$`.

Every kind of template reads placeholders the same way (`scan_placeholder`); a text
template is literal runs and placeholders (`parse_text`). `scan_placeholders` finds them
best-effort, without stopping at errors, for tools that work on half-typed templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from syncengine.core.diagnostic_codes import INVALID_PLACEHOLDER
from syncengine.core.template.errors import LineIndex, TemplateSyntaxError

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
MAX_TEMPLATE_LENGTH = 100_000
# A best-effort scan reports this many stray `$` at most; the rest would be noise.
MAX_SCAN_ERRORS = 20

_NAME = re.compile(NAME_PATTERN)
_BRACED = re.compile(r"\{(" + NAME_PATTERN + r")\}")
_PLAIN_TEXT_RUN = re.compile(r"[^$]+")


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `$name` / `${name}` in a template; `offset` is where its `$` is."""

    name: str
    offset: int
    line: int
    column: int


def scan_placeholder(text: str, offset: int) -> tuple[str | None, int]:
    """Read the placeholder whose `$` is at `offset`.

    Returns (name, end) for a placeholder, (None, end) for `$$`; raises on a stray `$`.
    """
    following = text[offset + 1 : offset + 2]
    if following == "$":
        return None, offset + 2
    if following == "{":
        braced = _BRACED.match(text, offset + 1)
        if braced:
            return braced.group(1), braced.end()
        closing = text.find("}", offset + 2)
        if closing == -1:
            raise TemplateSyntaxError(
                "'${' is not closed by '}'", text, offset, INVALID_PLACEHOLDER
            )
        inner = text[offset + 2 : closing]
        raise TemplateSyntaxError(
            f"{inner!r} is not a variable name (letters, digits and _, not starting with a digit)",
            text,
            offset,
            INVALID_PLACEHOLDER,
        )
    bare = _NAME.match(text, offset + 1)
    if bare:
        return bare.group(0), bare.end()
    raise TemplateSyntaxError(
        "'$' must be followed by a variable name, '{' or another '$' (write $$ for a literal $)",
        text,
        offset,
        INVALID_PLACEHOLDER,
    )


def scan_placeholders(text: str) -> tuple[list[Placeholder], list[TemplateSyntaxError]]:
    """Every placeholder in `text`, and the first stray `$`s, without stopping at errors.

    Used where a best effort is wanted (the variable tracker on a half-typed template).
    In a JSON template a `$` can only be written raw, so scanning the raw text finds the
    same placeholders as the JSON parser does.
    """
    placeholders: list[Placeholder] = []
    errors: list[TemplateSyntaxError] = []
    lines = LineIndex(text)
    offset = text.find("$")
    while offset != -1:
        try:
            name, end = scan_placeholder(text, offset)
        except TemplateSyntaxError as error:
            if len(errors) < MAX_SCAN_ERRORS:
                errors.append(error)
            end = offset + 1
        else:
            if name is not None:
                line, column = lines.position(offset)
                placeholders.append(Placeholder(name, offset, line, column))
        offset = text.find("$", end)
    return placeholders, errors


def parse_text(text: str) -> list[str | Placeholder]:
    """Split a text template into literal runs and placeholders, raising on a stray `$`."""
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise TemplateSyntaxError(
            f"the template is longer than {MAX_TEMPLATE_LENGTH} characters", text, 0
        )
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    lines = LineIndex(text)
    offset = 0
    while offset < len(text):
        run = _PLAIN_TEXT_RUN.match(text, offset)
        if run:
            literal.append(run.group(0))
            offset = run.end()
            continue
        name, end = scan_placeholder(text, offset)
        if name is None:
            literal.append("$")
        else:
            if literal:
                parts.append("".join(literal))
                literal = []
            line, column = lines.position(offset)
            parts.append(Placeholder(name, offset, line, column))
        offset = end
    if literal:
        parts.append("".join(literal))
    return parts
