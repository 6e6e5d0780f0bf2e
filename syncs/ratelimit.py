"""A destination's `requests_per_second`, shared by every worker and process (Redis).

The limiter is a GCRA reservation: Redis keeps, per destination, the time at which the
next request may go (its theoretical arrival time). Each request atomically takes the
next free slot and the caller sleeps until it; slots are `1 / requests_per_second` apart,
so however many workers send to one destination, the partner sees at most that rate.
Redis's own clock is used, so workers' clocks need not agree.

A slot further away than `max_wait` is not taken: the call raises `RateLimited` and the
run defers itself with a countdown instead of holding a worker asleep.

Without Redis (`make run` on the embedded broker, one worker) the slots are kept in the
process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

KEY_PREFIX = "syncs:rate:"

# KEYS[1]: the destination's key; ARGV: the slot length and the longest wait accepted,
# both in microseconds. Returns {granted (1/0), wait in microseconds}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
local expires = math.floor((tat + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', expires)
return {1, wait}
"""


class RateLimited(Exception):
    """The destination's next free slot is further away than the caller will wait."""

    def __init__(self, after_seconds: float):
        super().__init__(f"rate limited: next slot in {after_seconds:.2f} s")
        self.after_seconds = after_seconds


_client_lock = threading.Lock()
_client: Any = None
_script: Any = None


def _redis() -> Any:
    global _client, _script
    with _client_lock:
        if _client is None:
            import redis

            _client = redis.Redis.from_url(str(settings.REDIS_URL))
            _script = _client.register_script(_RESERVE)
        return _script


_local_lock = threading.Lock()
_local_slots: dict[str, float] = {}


def _reserve_locally(key: str, interval: float, max_wait: float) -> tuple[bool, float]:
    with _local_lock:
        now = time.monotonic()
        slot = max(_local_slots.get(key, 0.0), now)
        wait = slot - now
        if wait > max_wait:
            return False, wait
        _local_slots[key] = slot + interval
        return True, wait


def reserve(key: str, rate: float, max_wait: float) -> tuple[bool, float]:
    """Take the next slot of `key` at `rate` per second: (granted, seconds to wait)."""
    interval = 1.0 / rate
    if not settings.REDIS_URL:
        return _reserve_locally(key, interval, max_wait)
    granted, wait = _redis()(
        keys=[KEY_PREFIX + key], args=[int(interval * 1_000_000), int(max_wait * 1_000_000)]
    )
    return bool(granted), int(wait) / 1_000_000


def limiter_for(
    key: str,
    rate: float | None,
    *,
    max_wait: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[], None] | None:
    """A throttle for `deliver_batch` (called before every attempt, on any thread), or
    None when the destination sets no rate."""
    if not rate or rate <= 0:
        return None

    def throttle() -> None:
        granted, wait = reserve(key, float(rate), max_wait)
        if not granted:
            raise RateLimited(wait)
        if wait > 0:
            sleep(wait)

    return throttle
