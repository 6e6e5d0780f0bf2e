"""Masking of secrets in anything shown to people or stored for display."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from urllib.parse import quote

from syncengine.core.template.text import URL_SAFE_CHARACTERS

MASK = "••••••"


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every spelling under which a secret can appear in a request or a response.

    A value lands in URLs percent-encoded (differently in a path and in a query), in JSON
    bodies escaped and in Basic headers base64-encoded, so masking only the raw form would
    leak the others. Longest first, so that a secret containing another is masked whole.
    """
    return list(_forms(tuple(secrets)))


# A test run masks every header and body of every exchange with the same few secrets:
# their spellings are worked out once per set, not once per string.
@functools.lru_cache(maxsize=32)
def _forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.add(secret)
        forms.update(quote(secret, safe=safe) for safe in URL_SAFE_CHARACTERS)
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        forms.add(json.dumps(secret)[1:-1])
        forms.add(base64.b64encode(secret.encode()).decode())
    return tuple(sorted(forms, key=len, reverse=True))


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (in any of its spellings) by `MASK`."""
    for form in _forms(tuple(secrets)):
        text = text.replace(form, MASK)
    return text


def mask_headers(
    headers: Iterable[tuple[str, str]], secrets: Iterable[str]
) -> list[tuple[str, str]]:
    """Mask secrets in header values; an Authorization value is masked after its scheme."""
    forms = _forms(tuple(secrets))
    masked = []
    for name, value in headers:
        if name.lower() in {"authorization", "proxy-authorization"}:
            scheme, _, credential = value.partition(" ")
            value = f"{scheme} {MASK}" if credential else MASK
        else:
            for form in forms:
                value = value.replace(form, MASK)
        masked.append((name, value))
    return masked
