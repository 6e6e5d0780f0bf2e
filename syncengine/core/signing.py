"""Request signatures partners can opt in to: HMAC-SHA256 over timestamp and body.

Format (public contract, documented for partners)::

    X-Signature: t=<unix seconds>,v1=<hex>

where `<hex>` is the lowercase hex HMAC-SHA256, keyed with the integration's signing
secret (UTF-8), of the bytes ``f"{t}.".encode() + body`` (the raw request body; an empty
body for a request without one). To verify, a partner recomputes the HMAC over the body
it received with the `t` from the header, compares in constant time, and refuses
timestamps further than a few minutes from its clock (replay protection). Unknown
`key=value` pairs in the header are ignored, so that a `v2` can be added later without
breaking verifiers; several `v1` entries may appear during secret rotation.

Example: secret ``whsec_test``, t ``1700000000``, body ``{"a":1}`` gives
``X-Signature: t=1700000000,v1=`` followed by
``hmac.new(b"whsec_test", b'1700000000.{"a":1}', "sha256").hexdigest()``.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Signature"
SIGNATURE_VERSION = "v1"
# How far a signature's timestamp may be from the verifier's clock.
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A signature header is malformed, expired or does not match the body."""


class RotatingSecret(str):
    """The current signing secret, carrying the one it replaced while a rotation lasts.

    Requests are signed with both (two `v1` values, the current one first), so that a
    partner still verifying with the old secret keeps accepting them until it switches.
    It is a `str`, the current secret, so that every layer that hands a secret on to the
    client hands on both without knowing about rotation.
    """

    previous: str

    def __new__(cls, current: str, previous: str) -> RotatingSecret:
        secret = super().__new__(cls, current)
        secret.previous = previous
        return secret


def signing_secrets(secret: str | bytes) -> tuple[str | bytes, ...]:
    """Every secret a request is signed with: the current one, then the previous one while a
    rotation lasts."""
    previous = getattr(secret, "previous", "")
    return (str(secret), previous) if previous else (secret,)


def compute_signature(secret: str | bytes, timestamp: int, body: bytes | None) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` keyed with `secret`."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = f"{timestamp}.".encode() + (body or b"")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes | None, *, timestamp: int | None = None) -> str:
    """The `X-Signature` header value for `body`, timestamped now unless given; one `v1`
    per secret of `signing_secrets(secret)`."""
    if not secret:
        raise ValueError("a signing secret must not be empty")
    t = int(time.time()) if timestamp is None else int(timestamp)
    values = ",".join(
        f"{SIGNATURE_VERSION}={compute_signature(key, t, body)}" for key in signing_secrets(secret)
    )
    return f"t={t},{values}"


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """The timestamp and the `v1` signatures of a header value; `SignatureError` if bad."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed signature element {part.strip()!r}")
        if key == "t":
            if not (value.isascii() and value.isdigit()):
                raise SignatureError("the timestamp t must be whole unix seconds")
            timestamp = int(value)
        elif key == SIGNATURE_VERSION:
            signatures.append(value.lower())
    if timestamp is None:
        raise SignatureError("the signature has no timestamp t")
    if not signatures:
        raise SignatureError(f"the signature has no {SIGNATURE_VERSION} value")
    return timestamp, signatures


def verify(
    secret: str | bytes,
    body: bytes | None,
    header: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a signature header against `body`; raise `SignatureError` if it does not hold.

    This is what a partner runs on its side (the demo partner does, and the docs show it).
    """
    timestamp, signatures = parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"the signature timestamp is more than {tolerance} s from now")
    expected = compute_signature(secret, timestamp, body)
    # Compare every candidate in constant time; any match passes (secret rotation).
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("the signature does not match the body")
