"""Audit rows. Every action function writes one, inside its own transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from portal.models import AuditEvent, Organization, User


def audit_record(
    *,
    actor: User | None,
    org: Organization | None,
    action: str,
    target: models.Model | None = None,
    label: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        org=org,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(label or (str(target) if target is not None else ""))[:200],
        before=before,
        after=after,
    )
