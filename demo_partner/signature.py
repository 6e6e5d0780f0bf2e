"""The demo partner's check of `X-Signature`, written from the partner documentation only.

The contract (docs/partners.md, "Signed requests"; the README, "Verifying request
signatures")::

    X-Signature: t=<unix seconds>,v1=<hex>

where ``<hex>`` is the lowercase hex HMAC-SHA256, keyed with the signing secret, of the
bytes ``b"<t>."`` followed by the raw request body. A verifier compares in constant time,
refuses a `t` more than five minutes from its clock, ignores pairs it does not know and
accepts the header if any of its `v1` values matches.

The demo partner stands in for a partner who has read that documentation and nothing
else, so this module shares no code with the platform's signer: a mistake the signer and
a verifier built from the same code had in common would pass unnoticed.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Signature"
TOLERANCE_SECONDS = 5 * 60


def signature_problem(
    secret: str, body: bytes, header: str, *, now: float | None = None
) -> str | None:
    """Why `header` is not a valid signature of `body` with `secret`; None when it is."""
    stamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        key, has_value, value = part.strip().partition("=")
        if has_value and key == "t":
            stamps.append(value)
        elif has_value and key == "v1":
            candidates.append(value)
    if len(stamps) != 1:
        return "the signature needs exactly one t=<unix seconds>"
    stamp = stamps[0]
    if not (stamp.isascii() and stamp.isdigit()):
        return "the signature's t must be whole unix seconds"
    if not candidates:
        return "the signature has no v1 value"
    clock = time.time() if now is None else now
    if abs(clock - int(stamp)) > TOLERANCE_SECONDS:
        return f"the signature's t is more than {TOLERANCE_SECONDS} s from this server's clock"
    message = stamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()
    # Bytes, not str: compare_digest refuses str with non-ASCII characters, and a header
    # may carry any.
    if any(hmac.compare_digest(expected, candidate.encode()) for candidate in candidates):
        return None
    return "no v1 value of the signature matches the body"
