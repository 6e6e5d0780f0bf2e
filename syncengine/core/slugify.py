"""Slugify cohort names for `$amplitude_cohort_name` (DESIGN §5)."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG_LENGTH = 100

# Everything outside [A-Za-z0-9_] becomes a dash; a run of such characters becomes one.
_NOT_SLUG_CHARACTERS = re.compile(r"[^A-Za-z0-9_]+")


def slugify(text: str) -> str:
    """NFKD-normalise, turn each run of characters outside `[A-Za-z0-9_]` into one `-`, and
    cut to `MAX_SLUG_LENGTH` characters.

    NFKD splits accented letters into a base letter and a combining mark, and the mark is
    outside the allowed set: `héllo` becomes `he-llo`. That is the documented contract
    partners rely on, so it is kept as is rather than "improved" by dropping marks.
    """
    normalized = unicodedata.normalize("NFKD", text)
    return _NOT_SLUG_CHARACTERS.sub("-", normalized)[:MAX_SLUG_LENGTH]
