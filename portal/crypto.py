"""Encryption of secrets at rest (project API keys, test credentials, connection values).

`FIELD_ENCRYPTION_KEYS` is a list of Fernet keys: the first encrypts, all decrypt, so a key
is rotated by prepending a new one and re-saving rows (`manage.py rotate_encryption`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Combinable


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

    def from_db_value(
        self, value: str | None, expression: object, connection: BaseDatabaseWrapper
    ) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: object) -> str | None:
        text: str | None = super().get_prep_value(value)
        if text is None or text == "":
            return text
        return encrypt(text)


class EncryptedJSONField(models.TextField):
    """A JSON document stored encrypted as one Fernet token.

    The column is text, but in Python the value is a JSON object: these two names tell
    django-stubs' plugin what a model attribute of this field takes and holds. TextField
    declares them as text, hence the ignores.
    """

    _pyi_private_set_type: dict[str, Any] | Combinable  # type: ignore[assignment]
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    def from_db_value(
        self, value: str | None, expression: object, connection: BaseDatabaseWrapper
    ) -> dict[str, Any]:
        if value is None or value == "":
            return {}
        document: dict[str, Any] = json.loads(decrypt(value))
        return document

    def to_python(self, value: object) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value else {}
        return value if value is not None else {}

    def get_prep_value(self, value: object) -> str:
        if value is None:
            value = {}
        return encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))


def mask_secret(value: str, *, keep: int = 4) -> str:
    """`••••••wxyz`: enough to recognise a key, never enough to use it."""
    if not value:
        return ""
    tail = value[-keep:] if len(value) > keep * 3 else ""
    return "••••••" + tail
