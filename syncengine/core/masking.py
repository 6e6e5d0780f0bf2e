"""Masking of secrets in anything shown to people or stored for display.

A secret is replaced only where it stands as a value, never inside other text:

- a whole header value, the credential after an auth scheme (`Bearer …`, `Basic …`), the
  value of a `name=value` pair in a header;
- a URL's userinfo (always: it is a credential whatever it holds), a path segment, a
  query or fragment parameter's value;
- a whole JSON string (a value or a key), and inside it any of the above;
- in other text, a quoted value (`'…'`, `"…"`) or a URL in it; and the whole text.

Replacing a secret wherever its characters occur would destroy evidence and give the
secret away: a one-letter secret would turn every occurrence of that letter into the mask.
Secrets of at least `MIN_SECRET_LENGTH` characters are also masked where they stand as a
word of free text (between characters that cannot be part of a word), because a partner's
error page may echo a key back; a word that long is the secret, not a coincidence. Shorter
secrets are refused where people enter them (the CLI still accepts them, and they are
masked as whole values only).

Every spelling of a secret counts (`secret_forms`): percent-encoded as in a path or a
query, escaped as in JSON, base64 as in a Basic header.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote

from syncengine.core.template.text import URL_SAFE_CHARACTERS

MASK = "••••••"
# Shorter secrets are refused where they are entered, and are masked as whole values only.
MIN_SECRET_LENGTH = 8
# Headers whose whole value is a credential: only the scheme is kept.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
# Masked URLs a set of secrets keeps (`Secrets.masked_url`); past it, it starts again.
MASKED_URLS_KEPT = 256

_JSON_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"')
_SINGLE_QUOTED = re.compile(r"'([^'\r\n]*)'")
_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>`]+", re.IGNORECASE)
# `<scheme> <credential>`: the credential is a value of its own.
_SCHEME_AND_CREDENTIAL = re.compile(
    r"(basic|bearer|token|digest|bot|apikey|api-key|key|oauth|hmac)( +)(\S+)", re.IGNORECASE
)
_HEADER_PAIRS = re.compile(r"([^\s=;,]+)(\s*=\s*)(\"[^\"]*\"|[^;,\s]*)")


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every spelling under which a secret can appear in a request or a response.

    A value lands in URLs percent-encoded (differently in a path and in a query), in JSON
    bodies escaped and in Basic headers base64-encoded, so masking only the raw form would
    leak the others. Longest first, so that a secret containing another is masked whole.
    """
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.add(secret)
        forms.update(quote(secret, safe=safe) for safe in URL_SAFE_CHARACTERS)
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        forms.add(json.dumps(secret)[1:-1])
        forms.add(base64.b64encode(secret.encode()).decode())
    return sorted(forms, key=len, reverse=True)


class Secrets:
    """The secrets of one request, compiled for masking."""

    def __init__(self, secrets: Iterable[str]):
        values = tuple(dict.fromkeys(secret for secret in secrets if secret))
        self.values = frozenset(values)
        self.forms = frozenset(secret_forms(values))
        long_forms = secret_forms(s for s in values if len(s) >= MIN_SECRET_LENGTH)
        self._long_forms = tuple(long_forms)
        self._words = (
            re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, long_forms)) + r")(?![\w-])")
            if long_forms
            else None
        )
        self._masked_urls: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self.values)

    def is_secret(self, value: str, *, in_url: bool = False) -> bool:
        """Whether `value`, whole, is one of the secrets in one of its spellings (in a URL,
        however it is percent-encoded)."""
        return value in self.forms or (in_url and "%" in value and unquote(value) in self.values)

    def might_occur_in(self, text: str) -> bool:
        """False when nothing in `text` can need masking (the cheap common case): no
        spelling of a secret, no JSON escape (which may spell one differently), and no URL
        (`http://` or `https://`) with userinfo (`@`) or percent-escapes (`%`), the only
        places where those two matter. A body of users' email addresses has `@` in every
        user and nothing to mask."""
        if any(form in text for form in self.forms) or "\\" in text:
            return True
        return "://" in text and ("@" in text or "%" in text)

    def mask_words(self, text: str) -> str:
        """Long secrets where they stand as a word of `text`.

        The pattern tries every spelling at every character; looking for each spelling as
        plain text first (a fast scan each) spares it in the common case, where none is
        there: a request's headers are masked about six times faster so.
        """
        if self._words is None or not any(form in text for form in self._long_forms):
            return text
        return self._words.sub(MASK, text)

    def masked_url(self, url: str) -> str:
        """`mask_url(url, self)`, kept: a test run or a sync masks the same few URLs for
        every request it logs, writes down and records (three times a request)."""
        masked = self._masked_urls.get(url)
        if masked is None:
            if len(self._masked_urls) >= MASKED_URLS_KEPT:
                self._masked_urls.clear()
            masked = self.mask_words(_mask_url(url, self, any_userinfo=True))
            self._masked_urls[url] = masked
        return masked


def compiled_secrets(secrets: Iterable[str] | Secrets) -> Secrets:
    """`secrets` compiled for masking; the same few sets are compiled once, not per call."""
    return secrets if isinstance(secrets, Secrets) else _compiled_set(tuple(secrets))


# A test run masks every header and body of every exchange with the same few secrets (some
# forty strings an exchange): their spellings and pattern are worked out once per set.
@functools.lru_cache(maxsize=32)
def _compiled_set(secrets: tuple[str, ...]) -> Secrets:
    return Secrets(secrets)


def mask_text(text: str, secrets: Iterable[str] | Secrets) -> str:
    """`text` with each secret masked where it stands as a value (see the module's note).

    JSON text is masked string by string, anything else by its URLs and quoted values;
    nothing else in the text changes.
    """
    compiled = compiled_secrets(secrets)
    if not text or not compiled or not compiled.might_occur_in(text):
        return text
    if compiled.is_secret(text.strip()):
        return text.replace(text.strip(), MASK)
    mask = _mask_json_text if _is_json(text) else _mask_free_text
    return compiled.mask_words(mask(text, compiled))


def mask_value(value: str, secrets: Iterable[str] | Secrets) -> str:
    """A whole value (a JSON string, a header value): masked whole when it is a secret,
    after its scheme when it is `<scheme> <secret>`, part by part when it is a URL."""
    compiled = compiled_secrets(secrets)
    if not value or not compiled:
        return value
    return compiled.mask_words(_mask_value(value, compiled))


def mask_url(url: str, secrets: Iterable[str] | Secrets) -> str:
    """A URL with its userinfo masked (whatever it holds: it is a credential) and each path
    segment, query value and fragment value that is a secret masked; nothing else changes."""
    return compiled_secrets(secrets).masked_url(url)


def mask_headers(
    headers: Sequence[tuple[str, str]], secrets: Iterable[str] | Secrets
) -> list[tuple[str, str]]:
    """Mask secrets in header values; an Authorization value is masked after its scheme.

    A request's or a response's other headers seldom hold anything to mask: when nothing
    in all of them together can need it (`Secrets.might_occur_in`, which holds of their
    text joined whenever it holds of one of them), they are kept as they are without
    looking at each one's pairs, URLs and words.
    """
    compiled = compiled_secrets(secrets)
    others = (value for name, value in headers if name.lower() not in CREDENTIAL_HEADERS)
    check = bool(compiled) and compiled.might_occur_in("\n".join(others))
    masked = []
    for name, value in headers:
        if name.lower() in CREDENTIAL_HEADERS:
            scheme, _, credential = value.partition(" ")
            value = f"{scheme} {MASK}" if credential else MASK
        elif check:
            value = compiled.mask_words(_mask_header_value(value, compiled))
        masked.append((name, value))
    return masked


# -- values --------------------------------------------------------------------------------


def _mask_value(value: str, secrets: Secrets) -> str:
    stripped = value.strip()
    if secrets.is_secret(stripped):
        return value.replace(stripped, MASK)
    match = _SCHEME_AND_CREDENTIAL.fullmatch(stripped)
    if match and secrets.is_secret(match.group(3)):
        return value.replace(stripped, f"{match.group(1)}{match.group(2)}{MASK}")
    if _URL_IN_TEXT.match(stripped):
        return _mask_url(value, secrets)
    return value


def _mask_header_value(value: str, secrets: Secrets) -> str:
    masked = _mask_value(value, secrets)
    if masked != value or "=" not in value:  # no `name=value` pair to look at
        return masked

    def pair(match: re.Match[str]) -> str:
        name, equals, item = match.groups()
        unquoted = item[1:-1] if len(item) >= 2 and item[0] == item[-1] == '"' else item
        if unquoted and secrets.is_secret(unquoted):
            return name + equals + item.replace(unquoted, MASK)
        return match.group(0)

    return _HEADER_PAIRS.sub(pair, value)


# -- URLs ----------------------------------------------------------------------------------


def _mask_url(url: str, secrets: Secrets, *, any_userinfo: bool = False) -> str:
    """`url` with the values that are secrets masked; its userinfo too when it holds a
    secret (the user, the password or the pair) or when `any_userinfo` is true."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url
    start = scheme_end + 3
    authority_end = _first_of(url, "/?#", start)
    authority = url[start:authority_end]
    userinfo, at, host = authority.rpartition("@")
    if at and userinfo and (any_userinfo or _holds_secret(userinfo, secrets)):
        authority = f"{MASK}@{host}"
    rest = url[authority_end:]
    path_end = _first_of(rest, "?#", 0)
    path, rest = rest[:path_end], rest[path_end:]
    query, fragment = "", ""
    if rest.startswith("?"):
        query_end = _first_of(rest, "#", 0)
        query, fragment = rest[:query_end], rest[query_end:]
    else:
        fragment = rest
    path = "/".join(
        MASK if secrets.is_secret(part, in_url=True) else part for part in path.split("/")
    )
    return (
        url[:start]
        + authority
        + path
        + _mask_parameters(query, secrets)
        + _mask_parameters(fragment, secrets)
    )


def _holds_secret(userinfo: str, secrets: Secrets) -> bool:
    user, _, password = userinfo.partition(":")
    return any(secrets.is_secret(part, in_url=True) for part in (userinfo, user, password) if part)


def _first_of(text: str, characters: str, start: int) -> int:
    found = [i for i in (text.find(c, start) for c in characters) if i >= 0]
    return min(found) if found else len(text)


def _mask_parameters(part: str, secrets: Secrets) -> str:
    """`?a=b&c=d` or `#a=b`: each parameter's value (or a bare parameter) that is a secret."""
    if not part:
        return part
    lead, body = part[0], part[1:]
    items = []
    for item in body.split("&"):
        name, equals, value = item.partition("=")
        if equals and value and secrets.is_secret(value, in_url=True):
            item = f"{name}={MASK}"
        elif not equals and name and secrets.is_secret(name, in_url=True):
            item = MASK
        items.append(item)
    return lead + "&".join(items)


# -- texts ---------------------------------------------------------------------------------


def _is_json(text: str) -> bool:
    stripped = text.lstrip()
    if not stripped or stripped[0] not in '{["':
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _mask_json_string(token: str, secrets: Secrets) -> str:
    """One JSON string token, quotes included, masked as a whole value."""
    raw = token[1:-1]
    if secrets.is_secret(raw):
        return f'"{MASK}"'
    value = json.loads(token) if "\\" in raw else raw
    masked = _mask_value(value, secrets)
    if masked == value:
        return token
    return json.dumps(masked, ensure_ascii=False)


def _mask_json_text(text: str, secrets: Secrets) -> str:
    return _JSON_STRING.sub(lambda match: _mask_json_string(match.group(0), secrets), text)


def _mask_free_text(text: str, secrets: Secrets) -> str:
    text = _URL_IN_TEXT.sub(lambda match: _mask_url(match.group(0), secrets), text)

    def double_quoted(match: re.Match[str]) -> str:
        token = match.group(0)
        try:
            return _mask_json_string(token, secrets)
        except ValueError:
            return token

    text = _JSON_STRING.sub(double_quoted, text)

    def single_quoted(match: re.Match[str]) -> str:
        value = match.group(1)
        return f"'{MASK}'" if value and secrets.is_secret(value) else match.group(0)

    return _SINGLE_QUOTED.sub(single_quoted, text)
