"""Placeholders: `$name` or `${name}` for a variable, `$$` for a literal `$`.

The braced form may carry a modifier after a colon (manifest version 2), which says how
the value is written where the placeholder stands:

- `${name:string}`, `${name:number}`, `${name:boolean}`: the value as that JSON type
  (`"$in_cohort"` is `true`, `"${in_cohort:string}"` is `"true"`);
- `${name:json}`: the value as JSON text (strings quoted) where text is expected;
- `${name:base64}`: the value's text, base64-encoded;
- `${name:join(SEP)}`: a list's items as text joined by SEP (`${items:join(,)}`); in a
  URL each item is percent-encoded on its own, so an item can never add one.

Every kind of template reads placeholders the same way (`read_placeholder`); a text
template is literal runs and placeholders (`parse_text`). `scan_placeholders` finds them
best-effort, without stopping at errors, for tools that work on half-typed templates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from syncengine.core.diagnostic_codes import INVALID_PLACEHOLDER
from syncengine.core.template.errors import LineIndex, TemplateSyntaxError

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
MAX_TEMPLATE_LENGTH = 100_000
TYPE_MODIFIERS = ("string", "number", "boolean")
MODIFIERS = (*TYPE_MODIFIERS, "json", "base64", "join")
MAX_SEPARATOR_LENGTH = 10
# A separator is written as it is, so it may not contain what ends the placeholder, starts
# another one, or needs escaping inside a JSON string.
_SEPARATOR_FORBIDDEN = frozenset(')}$"\\')
# A best-effort scan reports this many stray `$` at most; the rest would be noise.
MAX_SCAN_ERRORS = 20

_NAME = re.compile(NAME_PATTERN)
_BRACED = re.compile(r"\{(" + NAME_PATTERN + r")(?::([a-z0-9]+)(?:\(([^)]*)\))?)?\}")
_PLAIN_TEXT_RUN = re.compile(r"[^$]+")


@dataclass(frozen=True, slots=True)
class Modifier:
    """What follows the colon of `${name:modifier}`; `separator` is join's SEP."""

    kind: str
    separator: str = ""

    def __str__(self) -> str:
        return f"join({self.separator})" if self.kind == "join" else self.kind


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `$name` / `${name}` / `${name:modifier}` in a template.

    `offset` is where its `$` is.
    """

    name: str
    offset: int
    line: int
    column: int
    modifier: Modifier | None = None

    @property
    def spelled(self) -> str:
        """The placeholder as a person would write it."""
        if self.modifier is None:
            return f"${self.name}"
        return f"${{{self.name}:{self.modifier}}}"


def read_placeholder(text: str, offset: int) -> tuple[str | None, Modifier | None, int]:
    """Read the placeholder whose `$` is at `offset`.

    Returns (name, modifier, end) for a placeholder, (None, None, end) for `$$`; raises
    `TemplateSyntaxError` on a stray `$` or an unknown modifier.
    """
    following = text[offset + 1 : offset + 2]
    if following == "$":
        return None, None, offset + 2
    if following == "{":
        braced = _BRACED.match(text, offset + 1)
        if braced:
            name, kind, argument = braced.group(1), braced.group(2), braced.group(3)
            if kind is None:
                return name, None, braced.end()
            return name, _modifier(text, offset, kind, argument), braced.end()
        closing = text.find("}", offset + 2)
        if closing == -1:
            raise TemplateSyntaxError(
                "'${' is not closed by '}'", text, offset, INVALID_PLACEHOLDER
            )
        inner = text[offset + 2 : closing]
        name, colon, kind = inner.partition(":")
        if colon and _NAME.fullmatch(name):
            raise TemplateSyntaxError(
                f"unknown modifier {kind!r}: write string, number, boolean, json, base64 or "
                "join(SEPARATOR) after the colon",
                text,
                offset,
                INVALID_PLACEHOLDER,
            )
        raise TemplateSyntaxError(
            f"{inner!r} is not a variable name (letters, digits and _, not starting with a digit)",
            text,
            offset,
            INVALID_PLACEHOLDER,
        )
    bare = _NAME.match(text, offset + 1)
    if bare:
        return bare.group(0), None, bare.end()
    raise TemplateSyntaxError(
        "'$' must be followed by a variable name, '{' or another '$' (write $$ for a literal $)",
        text,
        offset,
        INVALID_PLACEHOLDER,
    )


def _modifier(text: str, offset: int, kind: str, argument: str | None) -> Modifier:
    if kind not in MODIFIERS:
        raise TemplateSyntaxError(
            f"unknown modifier {kind!r}: write string, number, boolean, json, base64 or "
            "join(SEPARATOR) after the colon",
            text,
            offset,
            INVALID_PLACEHOLDER,
        )
    if kind != "join":
        if argument is not None:
            raise TemplateSyntaxError(
                f"the {kind} modifier takes no argument", text, offset, INVALID_PLACEHOLDER
            )
        return Modifier(kind)
    if not argument:
        raise TemplateSyntaxError(
            "join needs a separator between the parentheses, e.g. ${items:join(,)}",
            text,
            offset,
            INVALID_PLACEHOLDER,
        )
    if len(argument) > MAX_SEPARATOR_LENGTH or any(
        character in _SEPARATOR_FORBIDDEN or not " " <= character <= "~" for character in argument
    ):
        raise TemplateSyntaxError(
            f"the separator {argument!r} must be 1 to {MAX_SEPARATOR_LENGTH} printable ASCII "
            'characters, without ) } $ \\ or "',
            text,
            offset,
            INVALID_PLACEHOLDER,
        )
    return Modifier(kind, argument)


def scan_placeholder(text: str, offset: int) -> tuple[str | None, int]:
    """`read_placeholder` without the modifier: (name, end), or (None, end) for `$$`."""
    name, _, end = read_placeholder(text, offset)
    return name, end


def scan_placeholders(text: str) -> tuple[list[Placeholder], list[TemplateSyntaxError]]:
    """Every placeholder in `text`, and the first stray `$`s, without stopping at errors.

    Used where a best effort is wanted (the variable tracker on a half-typed template).
    In a JSON template a `$` can only be written raw, so scanning the raw text finds the
    same placeholders as the JSON parser does.
    """
    scan = _kept_scan if len(text) <= MAX_TEMPLATE_LENGTH else _scan
    placeholders, errors = scan(text)
    return list(placeholders), list(errors)


def _scan(text: str) -> tuple[tuple[Placeholder, ...], tuple[TemplateSyntaxError, ...]]:
    placeholders: list[Placeholder] = []
    errors: list[TemplateSyntaxError] = []
    lines = LineIndex(text)
    offset = text.find("$")
    while offset != -1:
        try:
            name, modifier, end = read_placeholder(text, offset)
        except TemplateSyntaxError as error:
            if len(errors) < MAX_SCAN_ERRORS:
                errors.append(error)
            end = offset + 1
        else:
            if name is not None:
                line, column = lines.position(offset)
                placeholders.append(Placeholder(name, offset, line, column, modifier))
        offset = text.find("$", end)
    return tuple(placeholders), tuple(errors)


# A live preview scans every template of the configuration (the checks, the tracker, the
# version the form needs), and most of them did not change since the last pause in typing.
_kept_scan = functools.lru_cache(maxsize=256)(_scan)


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
        name, modifier, end = read_placeholder(text, offset)
        if name is None:
            literal.append("$")
        else:
            if literal:
                parts.append("".join(literal))
                literal = []
            line, column = lines.position(offset)
            parts.append(Placeholder(name, offset, line, column, modifier))
        offset = end
    if literal:
        parts.append("".join(literal))
    return parts
