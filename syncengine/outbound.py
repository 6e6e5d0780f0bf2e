"""The outbound client and retry policy as this deployment configures them (settings):
used by test runs, conformance checks and production syncs alike."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from syncengine.core.http import OutboundClient
from syncengine.core.retry import RetryPolicy


def retry_policy(no_retries: bool) -> RetryPolicy:
    """The platform's retry policy, or a single attempt for "no retries"."""
    if no_retries:
        return RetryPolicy.none()
    return RetryPolicy(base_delay=settings.RETRY_BASE_DELAY_SECONDS)


def outbound_client() -> OutboundClient:
    """The outbound client as configured: the SSRF guard on unless explicitly lifted."""
    # Keyword arguments of OutboundClient by name, each of the type that argument takes.
    options: dict[str, Any] = settings.OUTBOUND_CLIENT_OPTIONS
    return OutboundClient(
        allow_private_networks=settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS, **options
    )
