"""The text reviewers and partners write: notes, comments and decision messages."""

from __future__ import annotations

from portal.errors import ActionError

MAX_MESSAGE_LENGTH = 4000


def clean_message(text: str, *, required: str | None = None, field: str = "message") -> str:
    """Trimmed text, refused (on `field`) when `required` and empty, or too long."""
    text = (text or "").strip()
    if required and not text:
        raise ActionError(required, field=field)
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ActionError(f"At most {MAX_MESSAGE_LENGTH:,} characters, please.", field=field)
    return text
