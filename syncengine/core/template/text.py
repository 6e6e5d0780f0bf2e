"""Text templates: header values and URLs.

A header value template inserts values as text and refuses line breaks. A URL template
knows which part of the URL (host, path, query, fragment) each placeholder lands in, and
percent-encodes each value for its part. A list joined into a URL (`${items:join(,)}`) is
encoded item by item, with the separator itself encoded inside the items, so an item can
never add another item, a parameter or a path segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from syncengine.core.diagnostic_codes import INVALID_HEADER_VALUE, INVALID_URL
from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.placeholders import Placeholder, parse_text
from syncengine.core.template.values import (
    OMITTED,
    fix_surrogates,
    text_of,
    value_as_text,
    value_of,
)

HEADER_VALUE_FORBIDDEN = "\r\n"

_HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOSTNAME_FRAGMENT = re.compile(r"[A-Za-z0-9.\-]*")
_HOSTNAME = re.compile(
    r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?",
)


# Characters a separator may use in a URL: ones that need no encoding and end no part.
URL_SEPARATOR_CHARACTERS = frozenset(",;|:+.-_~!*'@")


def placeholder_text(placeholder: Placeholder, value: Any) -> str:
    """How `value` reads where `placeholder` stands in text, its modifier applied."""
    modifier = placeholder.modifier
    if modifier is None:
        return value_as_text(value)
    return text_of(value, modifier.kind, modifier.separator)


def _render_parts(parts: Sequence[str | Placeholder], values: Mapping[str, Any]) -> str:
    return "".join(
        part if isinstance(part, str) else placeholder_text(part, value_of(values, part.name))
        for part in parts
    )


def _omits(placeholders: Sequence[Placeholder], values: Mapping[str, Any]) -> bool:
    return any(values.get(p.name) is OMITTED for p in placeholders)


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


class TextTemplate:
    """Plain text with placeholders (a lookup key, a list name to match): values are
    inserted as text, modifiers applied; nothing else is checked, since it is never sent
    as it is but compared with what a partner answers."""

    def __init__(self, text: str):
        self.source = text
        self.parts = parse_text(text)
        self.placeholders = tuple(p for p in self.parts if isinstance(p, Placeholder))

    def render(self, values: Mapping[str, Any]) -> str:
        """The text with `values` inserted; `RenderError` if a value was left out."""
        if _omits(self.placeholders, values):
            raise RenderError("a value of the text was left out (if_missing omit)")
        return fix_surrogates(_render_parts(self.parts, values))


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
        self.parts = parse_text(text)
        self.placeholders = tuple(p for p in self.parts if isinstance(p, Placeholder))

    def omitted(self, values: Mapping[str, Any]) -> bool:
        """Whether a value left out by its field's `if_missing: omit` drops the header."""
        return _omits(self.placeholders, values)

    def render(self, values: Mapping[str, Any]) -> str:
        """The header value with `values` inserted; raises `RenderError` if unsendable."""
        if self.omitted(values):
            raise RenderError("the header has a value left out (if_missing omit)")
        rendered = fix_surrogates(_render_parts(self.parts, values))
        problem = check_header_value_text(rendered)
        if problem:
            raise RenderError(f"the header value {problem}")
        return rendered


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
        self.parts = parse_text(text)
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
        for placeholder in self.placeholders:
            self._check_modifier(text, placeholder)

    def _check_modifier(self, text: str, placeholder: Placeholder) -> None:
        modifier = placeholder.modifier
        if modifier is None:
            return
        part = self.placeholder_parts[placeholder.offset]
        if part == HOST and modifier.kind in ("join", "json", "base64"):
            raise TemplateSyntaxError(
                f"{placeholder.spelled} cannot stand in the host name",
                text,
                placeholder.offset,
                INVALID_URL,
            )
        if modifier.kind == "join":
            bad = sorted(set(modifier.separator) - URL_SEPARATOR_CHARACTERS)
            if bad:
                raise TemplateSyntaxError(
                    f"the separator of {placeholder.spelled} cannot contain "
                    f"{', '.join(repr(c) for c in bad)} in a URL; use characters from "
                    f"{''.join(sorted(URL_SEPARATOR_CHARACTERS))}",
                    text,
                    placeholder.offset,
                    INVALID_URL,
                )

    def render(self, values: Mapping[str, Any]) -> str:
        """The absolute URL with every value encoded for its part; raises `RenderError`."""
        rendered: list[str] = []
        for piece in self.parts:
            if isinstance(piece, str):
                rendered.append(piece)
                continue
            raw = value_of(values, piece.name)
            if raw is OMITTED:
                raise RenderError(f"${piece.name} has no value to put in the URL")
            part = self.placeholder_parts[piece.offset]
            modifier = piece.modifier
            if modifier is not None and modifier.kind == "join" and part != HOST:
                rendered.append(_joined_for_url(raw, modifier.separator, _SAFE_IN_PART[part]))
                continue
            value = fix_surrogates(placeholder_text(piece, raw))
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


def _joined_for_url(value: Any, separator: str, safe: str) -> str:
    """Each item encoded for its part, the separator's characters encoded inside items."""
    items = value if isinstance(value, list | tuple) else [value]
    item_safe = "".join(character for character in safe if character not in separator)
    return separator.join(
        quote(fix_surrogates(value_as_text(item)), safe=item_safe) for item in items
    )


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
