"""Strict parsing of the environment for `portal.settings`.

Every reader raises `ImproperlyConfigured` naming the variable and the accepted form, so
a typo stops start-up with a message instead of silently falling back to a default.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import math
import os
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, overload
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from dj_database_url import DBConfig

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


class Env:
    """Typed access to environment variables (a mapping, so tests can pass their own).

    The readers are named after the types they return, so inside this class `builtins.str`
    and friends name the types.
    """

    def __init__(self, environ: Mapping[builtins.str, builtins.str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: builtins.str) -> builtins.str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    @overload
    def str(self, name: builtins.str, default: builtins.str) -> builtins.str: ...
    @overload
    def str(self, name: builtins.str, default: None = None) -> builtins.str | None: ...
    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self.raw(name)
        if value is None:
            return default
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false.")

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        minimum: builtins.int = 0,
        maximum: builtins.int = 2**31,
    ) -> builtins.int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
        if not minimum <= number <= maximum:
            raise ImproperlyConfigured(f"{name}={number} must be between {minimum} and {maximum}.")
        return number

    def list(
        self, name: builtins.str, default: builtins.list[builtins.str]
    ) -> builtins.list[builtins.str]:
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def url(self, name: builtins.str, schemes: tuple[builtins.str, ...]) -> builtins.str | None:
        value = self.raw(name)
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        if scheme not in schemes:
            raise ImproperlyConfigured(
                f"{name} must be a URL starting with one of {', '.join(s + '://' for s in schemes)}"
                f" (got {scheme + '://' if scheme else 'no scheme'})."
            )
        return value


def parse_database_url(name: str, value: str, *, conn_max_age: int = 60) -> DBConfig:
    """Django DATABASES entry from a URL, refusing engines we do not support."""
    import dj_database_url

    scheme = urlsplit(value).scheme
    if scheme not in {"postgres", "postgresql", "sqlite"}:
        raise ImproperlyConfigured(
            f"{name} must start with postgres://, postgresql:// or sqlite:/// (got {scheme!r})."
        )
    try:
        config = dj_database_url.parse(
            value, conn_max_age=conn_max_age if scheme != "sqlite" else 0
        )
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} could not be parsed: {error}") from None
    if scheme != "sqlite" and not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must name a database, e.g. postgres://host/portal.")
    if scheme != "sqlite":
        config["CONN_HEALTH_CHECKS"] = True
    return config


def parse_email_url(name: str, value: str) -> dict[str, object]:
    """A `MAILERS` entry from `smtp://user:pass@host:port?tls=true`, `smtps://…`,
    `file:///dir`, `console:`, `locmem:` or `dummy:`."""
    parts = urlsplit(value)
    scheme = parts.scheme
    simple = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "dummy": "django.core.mail.backends.dummy.EmailBackend",
    }
    if scheme in simple:
        return {"BACKEND": simple[scheme]}
    if scheme == "file":
        if not parts.path:
            raise ImproperlyConfigured(f"{name} file:// needs a directory, e.g. file:///var/mail.")
        return {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": unquote(parts.path)},
        }
    if scheme in {"smtp", "smtps"}:
        if not parts.hostname:
            raise ImproperlyConfigured(
                f"{name} must name a host, e.g. smtp://mail.example.com:587."
            )
        query = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
        for flag in ("tls", "ssl"):
            if flag in query and query[flag] not in TRUE_WORDS | FALSE_WORDS:
                raise ImproperlyConfigured(f"{name}: {flag}= must be true or false.")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name} has an invalid port.") from None
        use_ssl = scheme == "smtps" or query.get("ssl") in TRUE_WORDS
        return {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": parts.hostname,
                "port": port or (465 if use_ssl else 587),
                "username": unquote(parts.username or ""),
                "password": unquote(parts.password or ""),
                "use_tls": query.get("tls") in TRUE_WORDS,
                "use_ssl": use_ssl,
                "timeout": 10,
            },
        }
    raise ImproperlyConfigured(
        f"{name} must start with smtp://, smtps://, file://, console:, locmem: or dummy: "
        f"(got {scheme!r})."
    )


def parse_fernet_keys(name: str, value: str) -> list[str]:
    """Comma-separated Fernet keys: the first encrypts, all of them decrypt (rotation)."""
    keys = [key.strip() for key in value.split(",") if key.strip()]
    if not keys:
        raise ImproperlyConfigured(f"{name} is empty.")
    for position, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64 bytes). "
                'Generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            )
    return keys


# Words that mark a value someone was meant to replace.
PLACEHOLDER_MARKERS = (
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "placeholder",
    "insecure",
    "your-secret",
    "example",
)
MIN_SECRET_KEY_LENGTH = 50
# A random key of 50 characters from Django's or `secrets`' alphabets scores 180 to 300.
MIN_SECRET_KEY_BITS = 160.0
# A random key hardly repeats three characters in a row; a repeated phrase does.
MIN_DISTINCT_TRIGRAMS = 0.75
_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def secret_key_problem(value: str, *, examples: tuple[str, ...] = ()) -> str | None:
    """Why `value` cannot be a production SECRET_KEY, or None.

    Refused: a value given in an example file (`examples`), one carrying a placeholder
    word, one shorter than 50 characters, and one whose characters are so repetitive that
    they carry little randomness (`aaaa…`, `abab…`, a phrase repeated): under 160 bits by
    their own frequencies, or a quarter of its three-character runs repeated."""
    if value in examples:
        return f"SECRET_KEY is the placeholder from .env.example; {_GENERATE}"
    lowered = value.lower()
    marker = next((word for word in PLACEHOLDER_MARKERS if word in lowered), None)
    if marker is not None:
        return f"SECRET_KEY looks like a placeholder (it contains {marker!r}); {_GENERATE}"
    if len(value) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters in production"
    if _estimated_bits(value) < MIN_SECRET_KEY_BITS or _distinct_trigrams(value) < (
        MIN_DISTINCT_TRIGRAMS
    ):
        return f"SECRET_KEY is too repetitive to be random; {_GENERATE}"
    return None


def _estimated_bits(value: str) -> float:
    """The Shannon estimate of the randomness in `value`: its length times the entropy of
    its character frequencies. Generous to real keys (about 5.5 bits a character) and
    harsh on patterns."""
    total = len(value)
    counts = Counter(value)
    per_character = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_character * total


def _distinct_trigrams(value: str) -> float:
    """The share of `value`'s three-character runs that occur only once in it."""
    runs = [value[i : i + 3] for i in range(len(value) - 2)]
    return len(set(runs)) / len(runs) if runs else 0.0


def example_values(path: str, name: str) -> tuple[str, ...]:
    """The values `name` is given in an example env file (none if there is no file)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError:
        return ()
    prefix = f"{name}="
    return tuple(
        line[len(prefix) :].strip()
        for line in lines
        if line.startswith(prefix) and line[len(prefix) :].strip()
    )
