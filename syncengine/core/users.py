"""Deterministic mock users for previews, "generated test users" and benchmarks."""

from __future__ import annotations

import random
import uuid
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


def generate_users(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """`n` mock users, the same for the same (`n`, `seed`).

    Each has `user_id`, `amplitude_id` (int), `device_id` (a UUID), `email` and two user
    properties, `country` and `plan`. User ids and emails are unique within one call; the
    first users are the house cast (alice, bob, charlie...), which keeps previews readable.
    """
    if not 0 <= n <= MAX_GENERATED_USERS:
        raise ValueError(f"n must be between 0 and {MAX_GENERATED_USERS}")
    rng = random.Random(seed)
    users = []
    for index in range(n):
        name = FIRST_NAMES[index % len(FIRST_NAMES)]
        handle = f"{name}-{index + 1}" if seed == 0 else f"{name}-{seed}-{index + 1}"
        users.append(
            {
                "user_id": handle,
                "amplitude_id": FIRST_AMPLITUDE_ID
                + index * AMPLITUDE_ID_SPACING
                + rng.randrange(AMPLITUDE_ID_SPACING),
                "device_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "email": f"{handle.replace('-', '.')}@{EMAIL_DOMAIN}",
                "country": COUNTRIES[rng.randrange(len(COUNTRIES))],
                "plan": PLANS[rng.randrange(len(PLANS))],
            }
        )
    return users
