"""How partner requests and responses are shown: secrets masked, URL credentials scrubbed.

Everything the platform stores for display or writes to a log about a partner call goes
through these helpers, so that a secret never appears in clear whatever spelling it
takes (see `masking`).

This module sits below `errors`: the attempt records there show themselves through it.
That is why `response_for_display` reads a response by its shape (`ShownResponse`, which
`errors.PartnerResponse` has) instead of importing the class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from syncengine.core.masking import Secrets, compiled_secrets, mask_headers, mask_text, mask_url
from syncengine.core.types import PreparedRequest

# Request bodies are kept for display up to the size the client keeps of a response.
MAX_DISPLAY_BODY_BYTES = 1024 * 1024


class ShownResponse(Protocol):
    """What `response_for_display` reads of a partner's response."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str: ...

    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...

    @property
    def text(self) -> str: ...

    @property
    def truncated(self) -> bool: ...

    @property
    def latency_ms(self) -> float: ...

    @property
    def remote_address(self) -> str | None: ...


def scrub_url(url: str, secrets: Iterable[str] | Secrets = ()) -> str:
    """A URL safe to log or show: its userinfo replaced and secrets masked where they stand
    as a path segment or a parameter's value."""
    return mask_url(url, secrets)


def _display_body(body: bytes | None, secrets: Secrets) -> tuple[str, bool]:
    if not body:
        return "", False
    truncated = len(body) > MAX_DISPLAY_BODY_BYTES
    text = body[:MAX_DISPLAY_BODY_BYTES].decode("utf-8", errors="replace")
    return mask_text(text, secrets), truncated


def request_for_display(request: PreparedRequest) -> dict[str, Any]:
    """A request with its secrets masked everywhere: URL, headers and body."""
    secrets = compiled_secrets(request.secrets)
    body, truncated = _display_body(request.body, secrets)
    return {
        "endpoint": request.endpoint,
        "method": request.method,
        "url": scrub_url(request.url, secrets),
        "headers": mask_headers(request.headers, secrets),
        "body": body,
        "body_truncated": truncated,
        "batch_id": request.batch_id,
        "item_count": request.item_count,
    }


def response_for_display(response: ShownResponse, secrets: Iterable[str]) -> dict[str, Any]:
    """A response with any secret the partner echoed back masked."""
    compiled = compiled_secrets(secrets)
    return {
        "status": response.status,
        "reason": response.reason,
        "headers": mask_headers(response.headers, compiled),
        "body": mask_text(response.text, compiled),
        "truncated": response.truncated,
        "latency_ms": round(response.latency_ms, 1),
        "remote_address": response.remote_address,
    }
