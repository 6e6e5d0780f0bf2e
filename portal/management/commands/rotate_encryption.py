"""`manage.py rotate_encryption`: re-encrypt every secret at rest with the first key of
`FIELD_ENCRYPTION_KEYS`.

Rotating a key: prepend a new key to `FIELD_ENCRYPTION_KEYS` (keep the old one after it),
restart, run this command, then drop the old key. Rows are rewritten in batches, each in
its own transaction; running it again is harmless.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import models, transaction

from portal.crypto import EncryptedJSONField, EncryptedTextField, decrypt, encrypt

BATCH_SIZE = 500


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every concrete model with encrypted columns, and those columns' names."""
    found: list[tuple[type[models.Model], list[str]]] = []
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField | EncryptedJSONField)
        ]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every secret at rest with the first key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="rows per transaction"
        )

    def handle(self, *args: object, batch_size: int, **options: object) -> None:
        total = 0
        for model, names in encrypted_fields():
            count = 0
            pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True))
            for start in range(0, len(pks), batch_size):
                with transaction.atomic():
                    rows = model._default_manager.select_for_update().filter(
                        pk__in=pks[start : start + batch_size]
                    )
                    for row in rows:
                        # Read through the old keys, written back through the first one.
                        model._default_manager.filter(pk=row.pk).update(
                            **{name: getattr(row, name) for name in names}
                        )
                        count += 1
            total += count
            self.stdout.write(f"{model._meta.label}: {count} row(s) ({', '.join(names)})")
        authenticators = rotate_authenticator_keys()
        self.stdout.write(f"mfa.Authenticator: {authenticators} row(s) (secret, seed)")
        total += authenticators
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} row(s)."))


# Where allauth's two-factor records keep what `portal.accounts.MFAAdapter.encrypt` made.
AUTHENTICATOR_SECRET_KEYS = ("secret", "seed")


@transaction.atomic
def rotate_authenticator_keys() -> int:
    """allauth stores TOTP keys and recovery-code seeds inside a JSON column, encrypted by
    our adapter, not in a field of ours: they are re-encrypted here by name."""
    count = 0
    for authenticator in Authenticator.objects.select_for_update().order_by("pk"):
        data = dict(authenticator.data)
        present = [key for key in AUTHENTICATOR_SECRET_KEYS if data.get(key)]
        for key in present:
            data[key] = encrypt(decrypt(data[key]))
        if present:
            Authenticator.objects.filter(pk=authenticator.pk).update(data=data)
            count += 1
    return count
