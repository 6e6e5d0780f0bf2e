"""Numbers and return addresses taken from query strings and form fields.

`str.isdigit()` is true for characters such as "²" that `int()` refuses, and `int()` takes
numbers far larger than a PostgreSQL bigint: both used to end as 500s. Every id, revision
number or count typed into a URL or a form is read through `parse_id` instead.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from portal.errors import ActionError

MAX_ID = 2**63 - 1  # the largest PostgreSQL bigint
_MAX_ID_DIGITS = len(str(MAX_ID))


def parse_id(text: str | None, *, maximum: int = MAX_ID) -> int | None:
    """`text` as a whole number from 0 to `maximum`, or None for anything else: empty,
    signs, spaces, digits other than ASCII 0-9, or too large."""
    if not text or not (text.isascii() and text.isdigit()) or len(text) > _MAX_ID_DIGITS:
        return None
    number = int(text)
    return number if number <= maximum else None


def optional_id(text: str | None, *, field: str, maximum: int = MAX_ID) -> int | None:
    """`parse_id` for an optional input: None when it is absent or empty, an `ActionError`
    (400) naming `field` when it is given but is not a whole number in range."""
    if text is None or text == "":
        return None
    number = parse_id(text, maximum=maximum)
    if number is None:
        limit = f" from 0 to {maximum}" if maximum < MAX_ID else ""
        raise ActionError(
            f"{field} must be a whole number{limit}, written with the digits 0-9.", field=field
        )
    return number


def local_url(request: HttpRequest, target: str | None) -> str | None:
    """`target` if it is a path on this site (safe to redirect to), else None."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None
