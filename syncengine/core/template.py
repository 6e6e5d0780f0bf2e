"""The template language of DESIGN §5: placeholders in URLs, header values and JSON.

`$name` or `${name}` is a placeholder, `$$` a literal `$`. Three kinds of template:

- **Text** (header values): values are inserted as text.
- **URL**: values are percent-encoded for the part of the URL they land in, so a value
  never adds a path segment, a query parameter or a fragment.
- **JSON with placeholders** (payloads and item templates): parsed by a real JSON parser
  that also accepts a bare placeholder where a value is expected. A bare placeholder or a
  string that is exactly one placeholder becomes the variable's typed JSON value; a
  placeholder inside a longer string is interpolated as text. Rendering builds Python
  objects and serialises them with one `orjson.dumps`, so a value can never add keys or
  break the structure, and since substituted values are never scanned again, a value
  containing `$other` stays exactly that text.

Templates are parsed once and compiled: JSON templates are turned into generated Python
functions that build the objects directly (constants are passed by reference, never pasted
into the source), which keeps a 10,000-item batch close to hand-written code.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
MAX_TEMPLATE_LENGTH = 100_000
# Deep enough for any real JSON:API body; shallow enough that the generated code stays far
# below the Python parser's nesting limit.
MAX_TEMPLATE_DEPTH = 32
# orjson refuses values nested deeper than 254 levels; the fallback encoder stops here.
MAX_VALUE_DEPTH = 250
# A best-effort scan reports this many stray `$` at most; the rest would be noise.
MAX_SCAN_ERRORS = 20
# Python refuses int() on longer digit strings; no partner API needs such numbers.
MAX_INTEGER_DIGITS = 4_000
JSON_WHITESPACE = " \t\n\r"
HEADER_VALUE_FORBIDDEN = "\r\n"

_NAME = re.compile(NAME_PATTERN)
_BRACED = re.compile(r"\{(" + NAME_PATTERN + r")\}")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Runs of string characters that need no special handling.
_PLAIN_STRING_RUN = re.compile(r'[^"\\$\x00-\x1f]+')
_PLAIN_TEXT_RUN = re.compile(r"[^$]+")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOSTNAME_FRAGMENT = re.compile(r"[A-Za-z0-9.\-]*")
_HOSTNAME = re.compile(
    r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?",
)
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
REPLACEMENT_CHARACTER = "\ufffd"

# Diagnostic codes of syntax errors (see manifest.py for the others).
INVALID_PLACEHOLDER = "invalid_placeholder"
INVALID_JSON = "invalid_json"
INVALID_URL = "invalid_url"
INVALID_HEADER_VALUE = "invalid_header_value"


# --------------------------------------------------------------------------------------
# Errors and positions


def text_position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset` in `text`, counting code points."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


class LineIndex:
    """1-based (line, column) of offsets in one text, in O(log n) per lookup.

    A template can hold thousands of placeholders; counting newlines from the start for
    each of them would make validation quadratic in the template's size.
    """

    def __init__(self, text: str):
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1


class TemplateSyntaxError(ValueError):
    """A template that cannot be parsed; `line` and `column` are 1-based.

    `code` is the diagnostic code: invalid_placeholder, invalid_json, invalid_url or
    invalid_header_value.
    """

    def __init__(self, message: str, text: str, offset: int, code: str = "invalid_json"):
        self.message = message
        self.offset = offset
        self.code = code
        self._text = text
        super().__init__(message)

    @property
    def line(self) -> int:
        return text_position(self._text, self.offset)[0]

    @property
    def column(self) -> int:
        return text_position(self._text, self.offset)[1]

    def __str__(self) -> str:
        # Computed on demand: a best-effort scan may create many errors nobody reads.
        line, column = text_position(self._text, self.offset)
        return f"{self.message} (line {line}, column {column})"


class RenderError(Exception):
    """A template that parsed but cannot be rendered with the values at hand.

    `path` is the manifest path of the template (`endpoints.add_users.url`), filled in by
    the compiler, so the message can point at the field to fix.
    """

    def __init__(self, message: str, path: str = ""):
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

    def at(self, path: str) -> RenderError:
        """The same error located at `path`, unless it already has a location."""
        return self if self.path else RenderError(self.message, path)


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One `$name` / `${name}` in a template; `offset` is where its `$` is."""

    name: str
    offset: int
    line: int
    column: int


# --------------------------------------------------------------------------------------
# Values as text and as JSON


def fix_surrogates(text: str) -> str:
    """Replace lone surrogates (which no UTF-8 encoder accepts) with U+FFFD.

    A properly paired surrogate pair becomes the character it encodes.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def value_as_text(value: Any) -> str:
    """How a value reads when interpolated into text.

    Strings as they are; numbers, booleans and null as their JSON text (`true`, `null`);
    arrays and objects as compact JSON.
    """
    if value.__class__ is str:
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return str(value)
    return dumps_json(value).decode()


def dumps_json(value: Any) -> bytes:
    """Serialise a rendered value to compact UTF-8 JSON.

    The fast path is one `orjson.dumps`. orjson refuses lone surrogates, integers beyond 64
    bits and very deep nesting; only then is the value cleaned (surrogates replaced,
    non-finite floats made null) and written by the standard library encoder.
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass
    cleaned = _clean_for_json(value, 0)
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode()


def _clean_for_json(value: Any, depth: int) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise RenderError(f"a value is nested more than {MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, str):
        return fix_surrogates(str(value))
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_clean_for_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        # Keys that only differ by lone surrogates become equal once made valid text; the
        # later one wins, as in a JSON document that repeats a key, so the output stays
        # valid whatever the value holds.
        return {
            fix_surrogates(value_as_text(key)): _clean_for_json(item, depth + 1)
            for key, item in value.items()
        }
    raise RenderError(f"a value of type {type(value).__name__} cannot be sent as JSON")


# --------------------------------------------------------------------------------------
# Placeholder scanning, shared by every kind of template


def _scan_placeholder(text: str, offset: int) -> tuple[str | None, int]:
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
            name, end = _scan_placeholder(text, offset)
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


def _parse_text(text: str) -> list[str | Placeholder]:
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
        name, end = _scan_placeholder(text, offset)
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


def _value_of(values: Mapping[str, Any], name: str) -> Any:
    try:
        return values[name]
    except KeyError:
        raise RenderError(f"${name} has no value here") from None


def _render_parts(parts: Sequence[str | Placeholder], values: Mapping[str, Any]) -> str:
    return "".join(
        part if isinstance(part, str) else value_as_text(_value_of(values, part.name))
        for part in parts
    )


# --------------------------------------------------------------------------------------
# Header values


def is_http_token(name: str) -> bool:
    """Whether `name` is a valid HTTP header name (an RFC 9110 token)."""
    return bool(_HTTP_TOKEN.fullmatch(name))


def check_header_value_text(value: str) -> str | None:
    """Why `value` cannot be sent as a header value, or None when it can.

    CR and LF would let a value start a new header; other control characters and
    non-ASCII characters cannot be sent by the HTTP client (it encodes header values as
    ASCII), so they are refused here with a clear message instead of failing later.
    """
    for character in value:
        if character in HEADER_VALUE_FORBIDDEN:
            return "contains a line break (CR or LF), which header values may not contain"
        if character != "\t" and (character < " " or character == "\x7f"):
            return f"contains the control character U+{ord(character):04X}"
        if character > "\x7e":
            return (
                f"contains {character!r}, but header values must be ASCII "
                "(letters, digits, punctuation and spaces)"
            )
    return None


class HeaderTemplate:
    """A header value template: values are inserted as text; CR/LF is refused."""

    def __init__(self, text: str):
        for offset, character in enumerate(text):
            if character in HEADER_VALUE_FORBIDDEN:
                raise TemplateSyntaxError(
                    "a header value cannot contain a line break",
                    text,
                    offset,
                    INVALID_HEADER_VALUE,
                )
        self.source = text
        self.parts = _parse_text(text)
        self.placeholders = tuple(p for p in self.parts if isinstance(p, Placeholder))

    def render(self, values: Mapping[str, Any]) -> str:
        """The header value with `values` inserted; raises `RenderError` if unsendable."""
        rendered = fix_surrogates(_render_parts(self.parts, values))
        problem = check_header_value_text(rendered)
        if problem:
            raise RenderError(f"the header value {problem}")
        return rendered


# --------------------------------------------------------------------------------------
# URLs

URL_SCHEMES = ("https://", "http://")
HOST, PATH, QUERY, FRAGMENT = "host", "path", "query", "fragment"
# Characters left as they are when a value lands in each part. A path value keeps none
# (so `/` becomes %2F and cannot add a segment); query and fragment values keep the few
# characters that are harmless there, but never `&`, `=`, `#` or `+`.
_SAFE_IN_PART = {PATH: "", QUERY: "/:@?", FRAGMENT: "/:@?"}
# Every set of characters left unencoded in some part of a URL: masking looks for a secret
# under each of these encodings.
URL_SAFE_CHARACTERS = tuple(sorted(set(_SAFE_IN_PART.values())))


class UrlTemplate:
    """A URL template that knows which part of the URL each placeholder lands in.

    Only the template's own characters decide where the host, path, query and fragment
    start (a placeholder's name cannot contain `/`, `?` or `#`), which is what makes it
    safe to encode each value for the part it lands in.
    """

    def __init__(self, text: str):
        self.source = text
        for offset, character in enumerate(text):
            if character.isspace() or character < " " or character == "\x7f":
                raise TemplateSyntaxError(
                    "a URL cannot contain spaces or control characters "
                    "(values are percent-encoded for you)",
                    text,
                    offset,
                    INVALID_URL,
                )
        self.parts = _parse_text(text)
        self.placeholders = tuple(p for p in self.parts if isinstance(p, Placeholder))
        if not text:
            raise TemplateSyntaxError("the URL is empty", text, 0, INVALID_URL)
        if text.startswith("$") and not text.startswith("$$"):
            raise TemplateSyntaxError(
                "a placeholder cannot set the URL scheme; start the URL with https://",
                text,
                0,
                INVALID_URL,
            )
        scheme = next((s for s in URL_SCHEMES if text.lower().startswith(s)), None)
        if scheme is None:
            raise TemplateSyntaxError(
                "the URL must start with https:// or http://", text, 0, INVALID_URL
            )
        host_start = len(scheme)
        host_end = _first_of(text, "/?#", host_start, len(text))
        fragment_start = _first_of(text, "#", host_end, len(text))
        query_start = _first_of(text, "?", host_end, fragment_start)
        if host_end == host_start:
            raise TemplateSyntaxError("the URL has no host", text, host_start, INVALID_URL)
        at_sign = text.find("@", host_start, host_end)
        if at_sign != -1:
            raise TemplateSyntaxError(
                "user:password@ in the URL is not supported; configure auth instead",
                text,
                at_sign,
                INVALID_URL,
            )
        boundaries = ((host_end, HOST), (query_start, PATH), (fragment_start, QUERY))
        self.placeholder_parts = {
            placeholder.offset: next(
                (part for boundary, part in boundaries if placeholder.offset < boundary),
                FRAGMENT,
            )
            for placeholder in self.placeholders
        }
        self.host_has_placeholder = HOST in self.placeholder_parts.values()

    def render(self, values: Mapping[str, Any]) -> str:
        """The absolute URL with every value encoded for its part; raises `RenderError`."""
        rendered: list[str] = []
        for piece in self.parts:
            if isinstance(piece, str):
                rendered.append(piece)
                continue
            value = fix_surrogates(value_as_text(_value_of(values, piece.name)))
            part = self.placeholder_parts[piece.offset]
            if part == HOST:
                if not _HOSTNAME_FRAGMENT.fullmatch(value):
                    raise RenderError(
                        f"the value of ${piece.name} cannot be used in the host name: only "
                        "letters, digits, '-' and '.' are allowed there"
                    )
                rendered.append(value)
            else:
                rendered.append(quote(value, safe=_SAFE_IN_PART[part]))
        url = "".join(rendered)
        _check_rendered_url(url, strict_host=self.host_has_placeholder)
        return url


def _first_of(text: str, characters: str, start: int, end: int) -> int:
    """Offset of the first of `characters` in text[start:end], or `end` if none."""
    found = [text.find(character, start, end) for character in characters]
    return min((offset for offset in found if offset != -1), default=end)


def _check_rendered_url(url: str, *, strict_host: bool) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RenderError(f"the URL {url!r} is not valid: {error}") from None
    if parts.scheme not in {"http", "https"}:
        raise RenderError(f"the URL {url!r} must be an absolute http(s) URL")
    host = parts.hostname or ""
    if not host:
        raise RenderError(f"the URL {url!r} has no host")
    if strict_host and not _HOSTNAME.fullmatch(host):
        raise RenderError(f"the URL {url!r} has an invalid host name {host!r}")
    if port is not None and port == 0:
        raise RenderError(f"the URL {url!r} has an invalid port")


# --------------------------------------------------------------------------------------
# JSON with placeholders: syntax tree


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
    items: tuple[JsonNode, ...]


@dataclass(frozen=True, slots=True)
class JsonObject:
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
        name, end = _scan_placeholder(self.text, start)
        if name is None:
            raise self.error("'$$' is a literal '$' and only makes sense inside a string")
        self.offset = end
        return JsonVariable(self.placeholder(name, start))

    def placeholder(self, name: str, offset: int) -> Placeholder:
        line, column = self.lines.position(offset)
        placeholder = Placeholder(name, offset, line, column)
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
                name, end = _scan_placeholder(text, offset)
                if name is None:
                    literal.append("$")
                else:
                    if literal:
                        parts.append("".join(literal))
                        literal = []
                    parts.append(self.placeholder(name, offset))
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


def parse_json_template(text: str) -> ParsedJsonTemplate:
    """Parse JSON with placeholders; raises `TemplateSyntaxError` with line and column."""
    parser = _JsonTemplateParser(text)
    root = parser.parse()
    return ParsedJsonTemplate(text, root, tuple(parser.placeholders))


# --------------------------------------------------------------------------------------
# JSON with placeholders: code generation


def _is_static(node: JsonNode) -> bool:
    if isinstance(node, JsonLiteral):
        return True
    if isinstance(node, JsonArray):
        return all(_is_static(item) for item in node.items)
    if isinstance(node, JsonObject):
        return all(
            isinstance(key, JsonLiteral) and _is_static(value) for key, value in node.members
        )
    return False


def _static_value(node: JsonNode) -> Any:
    if isinstance(node, JsonLiteral):
        return node.value
    if isinstance(node, JsonArray):
        return [_static_value(item) for item in node.items]
    assert isinstance(node, JsonObject)
    return {key.value: _static_value(value) for key, value in node.members}  # type: ignore[union-attr]


def _distinct_keys(obj: dict[str, Any], expected: int) -> dict[str, Any]:
    """Refuse an object whose interpolated keys collided: that would drop a member."""
    if len(obj) != expected:
        raise RenderError("two keys of an object rendered to the same text")
    return obj


class _CodeGenerator:
    """Turns a JSON template tree into the source of one Python expression.

    Every name in the generated source is one this class invents (`k3`, `b0`, `u1`...):
    template text and constants are only ever referenced through the constants tuple, so
    nothing a partner writes can become code. Per-user variables are bound with `:=` at
    their first use in evaluation order, so each is looked up once per user. In text, runs
    of constants and batch-level values are folded into one string computed once per batch
    (`f0`), so an item only joins what really differs from user to user.
    """

    def __init__(self, per_user: frozenset[str]):
        self.per_user = per_user
        self.constants: list[Any] = []
        self.batch_names: list[str] = []
        self.folds: list[tuple[tuple[bool, str], ...]] = []
        self.user_names: list[str] = []
        self.bound_user_slots: set[int] = set()

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"k{len(self.constants) - 1}"

    def slot(self, names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def typed(self, placeholder: Placeholder) -> str:
        if placeholder.name in self.per_user:
            index = self.slot(self.user_names, placeholder.name)
            if index in self.bound_user_slots:
                return f"u{index}"
            self.bound_user_slots.add(index)
            return f"(u{index} := user.get(p{index}))"
        return f"b{self.slot(self.batch_names, placeholder.name)}"

    def user_text(self, placeholder: Placeholder) -> str:
        index = self.slot(self.user_names, placeholder.name)
        if index in self.bound_user_slots:
            return f"(u{index} if u{index}.__class__ is _str else _text(u{index}))"
        self.bound_user_slots.add(index)
        return (
            f"(u{index} if (u{index} := user.get(p{index})).__class__ is _str else _text(u{index}))"
        )

    def fold(self, run: list[tuple[bool, str]]) -> str:
        """A run of (is_variable, literal text or variable name) as one batch-level string."""
        if not any(is_variable for is_variable, _ in run):
            return self.constant("".join(text for _, text in run))
        for is_variable, name in run:
            if is_variable:
                self.slot(self.batch_names, name)
        self.folds.append(tuple(run))
        return f"f{len(self.folds) - 1}"

    def interpolation(self, node: JsonText) -> str:
        pieces: list[str] = []
        run: list[tuple[bool, str]] = []
        for part in node.parts:
            if isinstance(part, str):
                run.append((False, part))
            elif part.name in self.per_user:
                if run:
                    pieces.append(self.fold(run))
                    run = []
                pieces.append(self.user_text(part))
            else:
                run.append((True, part.name))
        if run:
            pieces.append(self.fold(run))
        if len(pieces) == 1:
            return pieces[0]
        # Every piece is already a str, so an f-string is a plain (and the fastest) join.
        return 'f"' + "".join("{" + piece + "}" for piece in pieces) + '"'

    def expression(self, node: JsonNode) -> str:
        if _is_static(node):
            value = _static_value(node)
            if value is None or value is True or value is False:
                return repr(value)
            return self.constant(value)
        if isinstance(node, JsonVariable):
            return self.typed(node.placeholder)
        if isinstance(node, JsonText):
            return self.interpolation(node)
        if isinstance(node, JsonArray):
            return "[" + ", ".join(self.expression(item) for item in node.items) + "]"
        assert isinstance(node, JsonObject)
        members = []
        for key, value in node.members:
            if isinstance(key, JsonLiteral):
                key_source = self.constant(key.value)
            else:
                key_source = self.interpolation(key)
            members.append(f"{key_source}: {self.expression(value)}")
        source = "{" + ", ".join(members) + "}"
        if any(isinstance(key, JsonText) for key, _ in node.members) and len(node.members) > 1:
            return f"_distinct_keys({source}, {len(node.members)})"
        return source


class JsonTemplate:
    """A compiled JSON template.

    `per_user` names the variables that take one value per user (mapping fields); a
    template with per-user variables is an item template and is rendered for a whole
    batch at once with `render_items`.
    """

    def __init__(self, parsed: ParsedJsonTemplate | str, per_user: Iterable[str] = ()):
        if isinstance(parsed, str):
            parsed = parse_json_template(parsed)
        self.parsed = parsed
        self.placeholders = parsed.placeholders
        generator = _CodeGenerator(frozenset(per_user))
        body = generator.expression(parsed.root)
        self.batch_names = tuple(generator.batch_names)
        self.user_names = tuple(generator.user_names)
        self._folds = tuple(generator.folds)
        self._function = self._build(generator, body)

    def _build(self, generator: _CodeGenerator, body: str) -> Callable[..., Any]:
        batch_args = [f"b{index}" for index in range(len(self.batch_names))]
        batch_args += [f"f{index}" for index in range(len(self._folds))]
        constant_args = [f"k{index}=_K[{index}]" for index in range(len(generator.constants))]
        helpers = ["_text=_text", "_str=_str", "_distinct_keys=_distinct_keys"]
        user_args = [f"p{index}" for index in range(len(self.user_names))]
        parameters = ", ".join(["users", *user_args, *batch_args, *constant_args, *helpers])
        source = f"def render({parameters}):\n    return [{body} for user in users]\n"
        namespace: dict[str, Any] = {
            "_K": tuple(generator.constants),
            "_text": value_as_text,
            "_str": str,
            "_distinct_keys": _distinct_keys,
            "__builtins__": {},
        }
        exec(compile(source, "<json template>", "exec"), namespace)  # noqa: S102 - names only
        function: Callable[..., Any] = namespace["render"]
        return function

    def _batch_arguments(self, values: Mapping[str, Any]) -> list[Any]:
        typed = [_value_of(values, name) for name in self.batch_names]
        folded = [
            "".join(
                value_as_text(values[text]) if is_variable else text for is_variable, text in fold
            )
            for fold in self._folds
        ]
        return typed + folded

    def render(self, values: Mapping[str, Any]) -> Any:
        """The template's value (Python objects ready for `dumps_json`)."""
        if self.user_names:
            raise RenderError(
                "this template uses per-user variables: "
                + ", ".join(f"${name}" for name in self.user_names)
            )
        return self._function((None,), *self._batch_arguments(values))[0]

    def render_items(
        self,
        users: Sequence[Mapping[str, Any]],
        values: Mapping[str, Any],
        properties: Mapping[str, str | None],
    ) -> list[Any]:
        """One rendered item per user.

        `properties` maps each per-user variable to the user property it reads (from the
        end user's mapping); a user without that property gets null.
        """
        user_arguments = [properties.get(name) for name in self.user_names]
        return self._function(users, *user_arguments, *self._batch_arguments(values))

    def render_bytes(self, values: Mapping[str, Any]) -> bytes:
        """The rendered JSON document as UTF-8 bytes."""
        return dumps_json(self.render(values))
