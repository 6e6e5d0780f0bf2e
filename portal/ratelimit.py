"""Sign-in attempt limiting: failures are counted per email and per client address.

Counters live in the database (`RateLimitCounter`), not the cache: signing in needs the
database anyway, and must keep working when Redis (cache and broker) is down. Each counter
counts within a fixed window that starts at its first event.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import RateLimitCounter


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


def _window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_ATTEMPT_WINDOW_SECONDS)


def _keys(email: str, address: str) -> list[str]:
    return [limit_key("signin-email", email.lower()), limit_key("signin-addr", address)]


def signin_blocked(email: str, address: str) -> bool:
    limit = settings.LOGIN_ATTEMPT_LIMIT
    # An address gets more room than one account: offices share addresses.
    email_key, addr_key = _keys(email, address)
    return count(email_key, _window()) >= limit or count(addr_key, _window()) >= limit * 4


def signin_failed(email: str, address: str) -> None:
    for key in _keys(email, address):
        hit(key, _window())


def signin_succeeded(email: str, address: str) -> None:
    clear(_keys(email, address)[0])
