"""Encryption of secrets at rest (project API keys, test credentials, connection values).

`FIELD_ENCRYPTION_KEYS` is a list of Fernet keys: the first encrypts, all decrypt, so a key
is rotated by prepending a new one and re-saving rows (`manage.py rotate_encryption`).
"""

from __future__ import annotations

import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(text: str) -> str:
    return fernet().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "an encrypted value could not be decrypted: FIELD_ENCRYPTION_KEYS no longer "
            "holds the key it was written with"
        ) from None


class EncryptedTextField(models.TextField):
    """A text column stored Fernet-encrypted; Python code only ever sees clear text.

    Lookups other than isnull cannot work on ciphertext, so rows are found by other columns.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


class EncryptedJSONField(models.TextField):
    """A JSON document stored encrypted as one Fernet token."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value) if value else {}
        return value if value is not None else {}

    def get_prep_value(self, value):
        if value is None:
            value = {}
        return encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))


def mask_secret(value: str, *, keep: int = 4) -> str:
    """`••••••wxyz`: enough to recognise a key, never enough to use it."""
    if not value:
        return ""
    tail = value[-keep:] if len(value) > keep * 3 else ""
    return "••••••" + tail
