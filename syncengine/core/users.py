"""Deterministic mock users for previews, "generated test users" and benchmarks."""

from __future__ import annotations

import random
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


def generate_users(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """`n` mock users, the same for the same (`n`, `seed`).

    Each has `user_id`, `amplitude_id` (int), `device_id` (a UUID), `email` and two user
    properties, `country` and `plan`. User ids and emails are unique within one call; the
    first users are the house cast (alice, bob, charlie...), which keeps previews readable.
    """
    if not 0 <= n <= MAX_GENERATED_USERS:
        raise ValueError(f"n must be between 0 and {MAX_GENERATED_USERS}")
    # One 192-bit draw per user: the low 128 bits make the device id, the next fields
    # the amplitude id's offset in its slot, the country and the plan.
    getrandbits = random.Random(seed).getrandbits
    prefix = "" if seed == 0 else f"{seed}-"
    users = []
    for index in range(n):
        name = FIRST_NAMES[index % len(FIRST_NAMES)]
        handle = f"{name}-{prefix}{index + 1}"
        bits = getrandbits(192)
        rest = bits >> 128
        digits = f"{bits & UUID_CLEAR | UUID_SET:032x}"
        users.append(
            {
                "user_id": handle,
                "amplitude_id": FIRST_AMPLITUDE_ID
                + index * AMPLITUDE_ID_SPACING
                + (rest & 0xFFFFF) % AMPLITUDE_ID_SPACING,
                "device_id": (
                    f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
                ),
                "email": f"{handle.replace('-', '.')}@{EMAIL_DOMAIN}",
                "country": COUNTRIES[(rest >> 20 & 0xFFFFF) % len(COUNTRIES)],
                "plan": PLANS[(rest >> 40) % len(PLANS)],
            }
        )
    return users
