"""`manage.py rotate_encryption`: after prepending a new key and running it, every secret
at rest reads with the new key alone."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from portal.models import Project


def raw_api_key(project: Project) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM portal_project WHERE id = %s", [project.pk])
        return cursor.fetchone()[0]


def test_rotation_rewrites_every_secret_with_the_new_key(cast, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    clear = cast.acme_project.api_key
    Fernet(old_key).decrypt(raw_api_key(cast.acme_project).encode())

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_encryption", stdout=out)

    # Acme's and Globex's own projects and the sandbox each got at sign-up.
    assert "portal.Project: 4 row(s) (api_key)" in out.getvalue()
    ciphertext = raw_api_key(cast.acme_project).encode()
    assert Fernet(new_key).decrypt(ciphertext).decode() == clear
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(ciphertext)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Project.objects.get(pk=cast.acme_project.pk).api_key == clear


def test_rotation_rewrites_two_factor_keys_and_recovery_seeds(cast, settings):
    from allauth.mfa.models import Authenticator

    from tests.conftest import STAFF_TOTP_SECRET

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_encryption", stdout=out)
    # Rita's and Adam's authenticator app and recovery codes.
    assert "mfa.Authenticator: 4 row(s) (secret, seed)" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    totp = Authenticator.objects.get(user=cast.rita, type="totp")
    assert Fernet(new_key).decrypt(totp.data["secret"].encode()).decode() == STAFF_TOTP_SECRET
    codes = Authenticator.objects.get(user=cast.rita, type="recovery_codes").wrap()
    assert len(codes.get_unused_codes()) == 10
