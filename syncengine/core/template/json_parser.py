"""The parser of JSON with placeholders (payloads and item templates).

A real JSON parser that also accepts a bare placeholder where a value is expected. It
gives a syntax tree: constants (`JsonLiteral`), typed variables (`JsonVariable`: a bare
placeholder or a string that is exactly one), interpolated strings (`JsonText`), arrays
and objects. Errors carry the offset of the offending character and say what was expected
there. `json_codegen` turns the tree into code.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from syncengine.core.template.errors import LineIndex, TemplateSyntaxError
from syncengine.core.template.placeholders import (
    MAX_TEMPLATE_LENGTH,
    Modifier,
    Placeholder,
    read_placeholder,
)

# Deep enough for any real JSON:API body; shallow enough that the generated code stays far
# below the Python parser's nesting limit.
MAX_TEMPLATE_DEPTH = 32
# Python refuses int() on longer digit strings; no partner API needs such numbers.
MAX_INTEGER_DIGITS = 4_000
JSON_WHITESPACE = " \t\n\r"
REPLACEMENT_CHARACTER = "\ufffd"

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Runs of string characters that need no special handling.
_PLAIN_STRING_RUN = re.compile(r'[^"\\$\x00-\x1f]+')
_JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


@dataclass(frozen=True, slots=True)
class JsonLiteral:
    """A constant JSON value (string, number, true, false, null)."""

    value: Any


@dataclass(frozen=True, slots=True)
class JsonVariable:
    """A bare placeholder, or a string that is exactly one placeholder: a typed value."""

    placeholder: Placeholder


@dataclass(frozen=True, slots=True)
class JsonText:
    """A string with placeholders inside longer text: interpolated as text."""

    parts: tuple[str | Placeholder, ...]


@dataclass(frozen=True, slots=True)
class JsonArray:
    """An array whose items are nodes."""

    items: tuple[JsonNode, ...]


@dataclass(frozen=True, slots=True)
class JsonObject:
    """An object: keys are constants or interpolated text, values are nodes."""

    members: tuple[tuple[JsonLiteral | JsonText, JsonNode], ...]


JsonNode = JsonLiteral | JsonVariable | JsonText | JsonArray | JsonObject


class _JsonTemplateParser:
    """Recursive-descent parser for JSON extended with placeholders.

    Errors stop the parse and carry the offset of the offending character; messages say
    what was expected there, like a good compiler would.
    """

    def __init__(self, text: str):
        self.text = text
        self.length = len(text)
        self.offset = 0
        self.placeholders: list[Placeholder] = []
        self.lines = LineIndex(text)

    def error(self, message: str, offset: int | None = None) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, self.text, self.offset if offset is None else offset)

    def parse(self) -> JsonNode:
        if self.length > MAX_TEMPLATE_LENGTH:
            raise self.error(f"the template is longer than {MAX_TEMPLATE_LENGTH} characters", 0)
        self.skip_whitespace()
        if self.offset == self.length:
            raise self.error("the template is empty: expected a JSON value")
        node = self.value(0)
        self.skip_whitespace()
        if self.offset < self.length:
            raise self.error(f"unexpected {self.describe_here()} after the end of the JSON value")
        return node

    def skip_whitespace(self) -> None:
        text, offset, length = self.text, self.offset, self.length
        while offset < length and text[offset] in JSON_WHITESPACE:
            offset += 1
        self.offset = offset

    def describe_here(self) -> str:
        if self.offset >= self.length:
            return "end of the template"
        return repr(self.text[self.offset])

    def value(self, depth: int) -> JsonNode:
        if depth > MAX_TEMPLATE_DEPTH:
            raise self.error(f"the JSON is nested more than {MAX_TEMPLATE_DEPTH} levels deep")
        if self.offset >= self.length:
            raise self.error("expected a JSON value, found the end of the template")
        character = self.text[self.offset]
        if character == "{":
            return self.object(depth)
        if character == "[":
            return self.array(depth)
        if character == '"':
            return self.string(is_key=False)
        if character == "-" or character.isdigit():
            return self.number()
        if character == "$":
            return self.bare_placeholder()
        if character == "'":
            raise self.error('JSON strings use double quotes ("), not single quotes')
        word = _WORD.match(self.text, self.offset)
        if word:
            return self.word(word.group(0))
        raise self.error(
            f"expected a JSON value (object, array, string, number, true, false, null or a "
            f"$placeholder), found {self.describe_here()}"
        )

    def word(self, word: str) -> JsonLiteral:
        literals = {"true": True, "false": False, "null": None}
        if word in literals:
            self.offset += len(word)
            return JsonLiteral(literals[word])
        hint = {"True": "true", "False": "false", "None": "null", "NULL": "null"}.get(word)
        if hint:
            raise self.error(f"{word!r} is not JSON; write {hint}")
        raise self.error(
            f"unexpected word {word!r}: a variable is written ${word}, text goes in double quotes"
        )

    def bare_placeholder(self) -> JsonNode:
        start = self.offset
        name, modifier, end = read_placeholder(self.text, start)
        if name is None:
            raise self.error("'$$' is a literal '$' and only makes sense inside a string")
        self.offset = end
        return JsonVariable(self.placeholder(name, start, modifier))

    def placeholder(self, name: str, offset: int, modifier: Modifier | None = None) -> Placeholder:
        line, column = self.lines.position(offset)
        placeholder = Placeholder(name, offset, line, column, modifier)
        self.placeholders.append(placeholder)
        return placeholder

    def number(self) -> JsonLiteral:
        start = self.offset
        match = _NUMBER.match(self.text, start)
        if not match:
            raise self.error("invalid number: expected a digit")
        end = match.end()
        if end < self.length and self.text[end].isdigit() and match.group(0) in {"0", "-0"}:
            raise self.error("numbers cannot have leading zeros", start)
        if end < self.length and (self.text[end] in ".eE" or self.text[end].isalpha()):
            raise self.error(f"invalid number {self.text[start : end + 1]!r}", start)
        text = match.group(0)
        if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise self.error(f"the number has more than {MAX_INTEGER_DIGITS} digits", start)
        self.offset = end
        if text.lstrip("-").isdigit():
            return JsonLiteral(int(text))
        number = float(text)
        if not math.isfinite(number):
            raise self.error(f"the number {text} is too large", start)
        return JsonLiteral(number)

    def string(self, *, is_key: bool) -> JsonLiteral | JsonVariable | JsonText:
        text, length = self.text, self.length
        start = self.offset
        offset = start + 1
        parts: list[str | Placeholder] = []
        literal: list[str] = []
        while True:
            if offset >= length:
                raise self.error("this string is not closed by '\"'", start)
            run = _PLAIN_STRING_RUN.match(text, offset)
            if run:
                literal.append(run.group(0))
                offset = run.end()
                continue
            character = text[offset]
            if character == '"':
                offset += 1
                break
            if character == "\\":
                decoded, offset = self.escape(offset)
                literal.append(decoded)
            elif character == "$":
                name, modifier, end = read_placeholder(text, offset)
                if name is None:
                    literal.append("$")
                else:
                    if literal:
                        parts.append("".join(literal))
                        literal = []
                    parts.append(self.placeholder(name, offset, modifier))
                offset = end
            elif character == "\n":
                raise self.error("strings cannot span lines; write \\n for a line break", offset)
            else:
                raise self.error(
                    f"control character U+{ord(character):04X} in a string; escape it "
                    f"as \\u{ord(character):04x}",
                    offset,
                )
        self.offset = offset
        if literal:
            parts.append("".join(literal))
        if not parts:
            return JsonLiteral("")
        if len(parts) == 1 and isinstance(parts[0], str):
            return JsonLiteral(parts[0])
        if len(parts) == 1 and not is_key:
            placeholder = parts[0]
            assert isinstance(placeholder, Placeholder)
            return JsonVariable(placeholder)
        return JsonText(tuple(parts))

    def escape(self, offset: int) -> tuple[str, int]:
        """Decode the escape at `offset`; lone surrogates become U+FFFD."""
        text = self.text
        marker = text[offset + 1 : offset + 2]
        if marker in _JSON_ESCAPES:
            return _JSON_ESCAPES[marker], offset + 2
        if marker != "u":
            shown = marker or "end of the template"
            raise self.error(
                f"invalid escape '\\{shown}': JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t "
                "and \\uXXXX",
                offset,
            )
        code = self.hex4(offset)
        if 0xD800 <= code <= 0xDBFF and text[offset + 6 : offset + 8] == "\\u":
            low = self.hex4(offset + 6)
            if 0xDC00 <= low <= 0xDFFF:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), offset + 12
        if 0xD800 <= code <= 0xDFFF:
            return REPLACEMENT_CHARACTER, offset + 6
        return chr(code), offset + 6

    def hex4(self, offset: int) -> int:
        digits = self.text[offset + 2 : offset + 6]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise self.error("'\\u' must be followed by four hexadecimal digits", offset)
        return int(digits, 16)

    def array(self, depth: int) -> JsonArray:
        self.offset += 1
        items: list[JsonNode] = []
        self.skip_whitespace()
        if self.offset < self.length and self.text[self.offset] == "]":
            self.offset += 1
            return JsonArray(())
        while True:
            self.skip_whitespace()
            if self.offset < self.length and self.text[self.offset] == "]" and items:
                raise self.error("expected a value after ',' (JSON allows no trailing comma)")
            items.append(self.value(depth + 1))
            self.skip_whitespace()
            if self.offset >= self.length:
                raise self.error("expected ',' or ']' after array element, found the end")
            character = self.text[self.offset]
            self.offset += 1
            if character == "]":
                return JsonArray(tuple(items))
            if character != ",":
                self.offset -= 1
                raise self.error(
                    f"expected ',' or ']' after array element, found {self.describe_here()}"
                )

    def object(self, depth: int) -> JsonObject:
        self.offset += 1
        members: list[tuple[JsonLiteral | JsonText, JsonNode]] = []
        static_keys: set[str] = set()
        self.skip_whitespace()
        if self.offset < self.length and self.text[self.offset] == "}":
            self.offset += 1
            return JsonObject(())
        while True:
            self.skip_whitespace()
            if self.offset >= self.length:
                raise self.error("expected a string key, found the end of the template")
            character = self.text[self.offset]
            if character == "}" and members:
                raise self.error("expected a key after ',' (JSON allows no trailing comma)")
            if character == "$":
                raise self.error('an object key must be a string: write "$name" in quotes')
            if character != '"':
                raise self.error(
                    f"expected a string key in double quotes, found {self.describe_here()}"
                )
            key_offset = self.offset
            key = self.string(is_key=True)
            assert not isinstance(key, JsonVariable)
            if isinstance(key, JsonLiteral):
                if key.value in static_keys:
                    raise self.error(f"duplicate key {key.value!r}", key_offset)
                static_keys.add(key.value)
            self.skip_whitespace()
            if self.offset >= self.length or self.text[self.offset] != ":":
                raise self.error(f"expected ':' after object key, found {self.describe_here()}")
            self.offset += 1
            self.skip_whitespace()
            members.append((key, self.value(depth + 1)))
            self.skip_whitespace()
            if self.offset >= self.length:
                raise self.error("expected ',' or '}' after object member, found the end")
            character = self.text[self.offset]
            self.offset += 1
            if character == "}":
                return JsonObject(tuple(members))
            if character != ",":
                self.offset -= 1
                raise self.error(
                    f"expected ',' or '}}' after object member, found {self.describe_here()}"
                )


@dataclass(frozen=True, slots=True)
class ParsedJsonTemplate:
    """A parsed JSON template: its syntax tree and its placeholders in source order."""

    source: str
    root: JsonNode
    placeholders: tuple[Placeholder, ...]


# A live preview checks and compiles every template of the configuration after each pause
# in typing, and most of them did not change: each text is parsed once. The parsed tree is
# immutable (frozen dataclasses and tuples all the way down), so it can be shared.
@functools.lru_cache(maxsize=256)
def parse_json_template(text: str) -> ParsedJsonTemplate:
    """Parse JSON with placeholders; raises `TemplateSyntaxError` with line and column."""
    parser = _JsonTemplateParser(text)
    root = parser.parse()
    return ParsedJsonTemplate(text, root, tuple(parser.placeholders))
