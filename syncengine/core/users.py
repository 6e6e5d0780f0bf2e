"""Deterministic mock users for previews, "generated test users" and benchmarks."""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import Any

MAX_GENERATED_USERS = 1_000_000
# Amplitude ids are large integers; start well away from small numbers so they look real.
# Each user gets its own slot of AMPLITUDE_ID_SPACING ids, which keeps them unique.
FIRST_AMPLITUDE_ID = 100_000_000_000
AMPLITUDE_ID_SPACING = 7_919
FIRST_NAMES = (
    "alice",
    "bob",
    "charlie",
    "dana",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
)
COUNTRIES = ("United States", "France", "Germany", "Japan", "Brazil", "India")
PLANS = ("free", "starter", "growth", "enterprise")
EMAIL_DOMAIN = "example.com"  # reserved for documentation (RFC 2606): never a real inbox
# A random 128-bit number becomes a version-4 UUID (RFC 4122 §4.4) by setting the version
# nibble to 4 and the variant bits to 10; done by hand, as `uuid.UUID(version=4)` would, it
# costs a fraction of building a UUID object per user.
UUID_CLEAR = ((1 << 128) - 1) & ~((0xF000 << 64) | (0xC000 << 48))
UUID_SET = (0x4000 << 64) | (0x8000 << 48)


PROPERTIES = ("user_id", "amplitude_id", "device_id", "email", "country", "plan")
# Derived from each user's random draw; the others come from the user's index alone.
RANDOM_PROPERTIES = frozenset({"amplitude_id", "device_id", "country", "plan"})


def generate_users(
    n: int, *, seed: int = 0, properties: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """`n` mock users, the same for the same (`n`, `seed`).

    Each has `user_id`, `amplitude_id` (int), `device_id` (a UUID), `email` and two user
    properties, `country` and `plan`. User ids and emails are unique within one call; the
    first users are the house cast (alice, bob, charlie...), which keeps previews readable.

    `properties` limits the users to those properties (unknown names are ignored), for
    callers that know what their templates read: a test of 100,000 users that sends only
    user ids need not build 500,000 other values. A property has the same value for the
    same user whichever others are asked for.
    """
    columns = _columns(n, seed, properties)
    if not columns:
        return [{} for _ in range(n)]
    return _rows(columns)


def generate_users_by_id(
    n: int, *, seed: int = 0, properties: Collection[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The users of `generate_users(n, seed=seed, properties=...)` by `user_id` (which
    they always hold), in `user_id` order.

    The same users as sorting `generate_users`'s list, built directly in that order: the
    columns are put in order before any user is made, so a test of 100,000 users sorts
    one list of ids instead of 100,000 users, and reads its users back in the order they
    were made in memory.
    """
    columns = _columns(n, seed, {"user_id", *(PROPERTIES if properties is None else properties)})
    ids = columns["user_id"]
    if len(columns) == 1:
        return {value: {"user_id": value} for value in sorted(ids)}
    order = sorted(range(n), key=ids.__getitem__)
    for name, values in columns.items():
        columns[name] = [values[index] for index in order]
    return dict(zip(columns["user_id"], _rows(columns), strict=True))


def _columns(n: int, seed: int, properties: Collection[str] | None) -> dict[str, list[Any]]:
    """Each wanted property's values, user by user in generation order."""
    if not 0 <= n <= MAX_GENERATED_USERS:
        raise ValueError(f"n must be between 0 and {MAX_GENERATED_USERS}")
    wanted = [name for name in PROPERTIES if properties is None or name in properties]
    prefix = "" if seed == 0 else f"{seed}-"
    names = FIRST_NAMES
    handles = [f"{names[index % len(names)]}-{prefix}{index + 1}" for index in range(n)]
    columns: dict[str, list[Any]] = {}
    if "user_id" in wanted:
        columns["user_id"] = handles
    if RANDOM_PROPERTIES.intersection(wanted):
        # One 192-bit draw per user: the low 128 bits make the device id, the next fields
        # the amplitude id's offset in its slot, the country and the plan.
        getrandbits = random.Random(seed).getrandbits
        draws = [getrandbits(192) for _ in range(n)]
        if "amplitude_id" in wanted:
            columns["amplitude_id"] = [
                FIRST_AMPLITUDE_ID
                + index * AMPLITUDE_ID_SPACING
                + (bits >> 128 & 0xFFFFF) % AMPLITUDE_ID_SPACING
                for index, bits in enumerate(draws)
            ]
        if "device_id" in wanted:
            columns["device_id"] = [_device_id(bits) for bits in draws]
    if "email" in wanted:
        columns["email"] = [f"{handle.replace('-', '.')}@{EMAIL_DOMAIN}" for handle in handles]
    if RANDOM_PROPERTIES.intersection(wanted):
        if "country" in wanted:
            columns["country"] = [
                COUNTRIES[(bits >> 148 & 0xFFFFF) % len(COUNTRIES)] for bits in draws
            ]
        if "plan" in wanted:
            columns["plan"] = [PLANS[(bits >> 168) % len(PLANS)] for bits in draws]
    return columns


def _rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    if len(columns) == 1:
        ((name, values),) = columns.items()
        return [{name: value} for value in values]
    keys = tuple(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _device_id(bits: int) -> str:
    digits = f"{bits & UUID_CLEAR | UUID_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
