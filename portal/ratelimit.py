"""Sign-in attempt limiting: failures are counted per email and per client address."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _keys(email: str, address: str) -> list[str]:
    def key(kind: str, value: str) -> str:
        return f"signin-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    return [key("email", email.lower()), key("addr", address)]


def signin_blocked(email: str, address: str) -> bool:
    limit = settings.LOGIN_ATTEMPT_LIMIT
    # An address gets more room than one account: offices share addresses.
    email_key, addr_key = _keys(email, address)
    return _failures(email_key) >= limit or _failures(addr_key) >= limit * 4


def _failures(key: str) -> int:
    count: int = cache.get(key, 0)
    return count


def signin_failed(email: str, address: str) -> None:
    for key in _keys(email, address):
        if not cache.add(key, 1, settings.LOGIN_ATTEMPT_WINDOW_SECONDS):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, settings.LOGIN_ATTEMPT_WINDOW_SECONDS)


def signin_succeeded(email: str, address: str) -> None:
    cache.delete(_keys(email, address)[0])
