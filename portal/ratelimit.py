"""Limits on what must not happen too often: failed sign-ins (per account and address
pair, per client address, per account) and password-reset mails (per account, per client
address).

Counters live in the database (`RateLimitCounter`), not the cache: signing in needs the
database anyway, and must keep working when Redis (cache and broker) is down. Each counter
counts within a fixed window that starts at its first event.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from portal.models import RateLimitCounter

# Failed sign-ins allowed per client address, and per account from all addresses, as
# multiples of LOGIN_ATTEMPT_LIMIT (which applies to one account from one address).
ADDRESS_FACTOR = 4
ACCOUNT_FACTOR = 10
RESET_WINDOW_SECONDS = 3600
RESET_MAILS_PER_ACCOUNT = 3
RESET_MAILS_PER_ADDRESS = 10


def limit_key(kind: str, value: str) -> str:
    """A counter's key: what is counted, and a digest of whom (no address or email is
    stored in clear)."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


def count(key: str, window: timedelta) -> int:
    """Events counted for `key` in its current window (0 once the window has passed)."""
    counter = RateLimitCounter.objects.filter(key=key).first()
    if counter is None or counter.window_started_at <= timezone.now() - window:
        return 0
    return counter.count


@transaction.atomic
def hit(key: str, window: timedelta) -> int:
    """Count one event for `key`; the count in the current window, this one included."""
    now = timezone.now()
    counter = RateLimitCounter.objects.select_for_update().filter(key=key).first()
    if counter is None:
        try:
            with transaction.atomic():
                RateLimitCounter.objects.create(key=key, window_started_at=now, count=1)
            return 1
        except IntegrityError:
            # Created by a concurrent request in between: count on that one.
            counter = RateLimitCounter.objects.select_for_update().get(key=key)
    if counter.window_started_at <= now - window:
        counter.window_started_at, counter.count = now, 1
    else:
        counter.count += 1
    counter.save(update_fields=["window_started_at", "count"])
    return counter.count


def clear(key: str) -> None:
    RateLimitCounter.objects.filter(key=key).delete()


def delete_expired(older_than: timedelta) -> int:
    """Remove counters whose window started longer ago than `older_than` (housekeeping)."""
    deleted, _ = RateLimitCounter.objects.filter(
        window_started_at__lt=timezone.now() - older_than
    ).delete()
    return deleted


def client_address(request: HttpRequest) -> str:
    """The address of the client, as the `TRUSTED_PROXY_COUNT` proxies in front of the
    portal saw it.

    Each proxy appends the address it was connected from to `X-Forwarded-For`, so with N
    trusted proxies the client is the N-th entry from the right; anything further left was
    written by the client and proves nothing. Without proxies (or when the header is too
    short or not an address) the connection's own address counts.
    """
    remote: str = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    entries = [e.strip() for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    entries = [entry for entry in entries if entry]
    if len(entries) < proxies:
        return remote
    candidate = entries[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


# -- sign-in --------------------------------------------------------------------------------


def _signin_window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_ATTEMPT_WINDOW_SECONDS)


def _signin_keys(email: str, address: str) -> dict[str, tuple[str, int]]:
    """Each sign-in counter with its limit. One address guessing one account's password
    is stopped first; an address trying many accounts next; an account tried from many
    addresses last, so that no one can lock an account out for everyone with a handful of
    wrong passwords."""
    limit = settings.LOGIN_ATTEMPT_LIMIT
    email = email.lower()
    return {
        "pair": (limit_key("signin-pair", f"{email} {address}"), limit),
        "address": (limit_key("signin-addr", address), limit * ADDRESS_FACTOR),
        "account": (limit_key("signin-email", email), limit * ACCOUNT_FACTOR),
    }


def signin_blocked(email: str, address: str) -> bool:
    return any(
        count(key, _signin_window()) >= limit
        for key, limit in _signin_keys(email, address).values()
    )


def signin_failed(email: str, address: str) -> None:
    for key, _ in _signin_keys(email, address).values():
        hit(key, _signin_window())


def signin_succeeded(email: str, address: str) -> None:
    """A correct password from this address forgives this address's failures on it."""
    clear(_signin_keys(email, address)["pair"][0])


# -- password-reset mails -------------------------------------------------------------------


def reset_mail_allowed(email: str, address: str) -> bool:
    """Count a password-reset request; False when this account or this address has asked
    for too many mails within the hour. Counted by the email given, whether or not an
    account has it, so the answer says nothing about which accounts exist."""
    window = timedelta(seconds=RESET_WINDOW_SECONDS)
    per_account = hit(limit_key("reset-email", email.strip().lower()), window)
    per_address = hit(limit_key("reset-addr", address), window)
    return per_account <= RESET_MAILS_PER_ACCOUNT and per_address <= RESET_MAILS_PER_ADDRESS
