"""Writes to integrations. Each is one transaction with an audit row and a revision."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from integrations.logo import LogoError, process_logo
from integrations.manifests import storable_config
from integrations.models import (
    DestinationChannel,
    Integration,
    IntegrationRevision,
    IntegrationStatus,
    IntegrationType,
    StoredLogo,
)
from portal.audit import audit_record
from portal.errors import ActionError
from portal.models import Organization, User
from syncengine.core.json_depth import depth_diagnostic
from syncengine.core.manifest.normalize import copy_error_classifications, starter_manifest
from syncengine.core.manifest.schema import MAX_DISPLAY_NAME_LENGTH
from syncengine.core.manifest_diff import manifest_diff
from syncengine.core.nul import NUL, nul_diagnostic

# Autosaves by the same person within this window amend their last revision instead of
# adding one per pause in typing; explicit saves always add a revision.
AUTOSAVE_COALESCE = timedelta(minutes=5)
AUTOSAVE_NOTE = "Autosave"
MAX_AUDITED_PATHS = 20


def _named(name: str) -> QuerySet[Integration]:
    """Integrations whose name equals `name` in the sense of the unique constraint
    (LOWER(display_name)), so the check and the constraint can never disagree."""
    return Integration.objects.annotate(lowered=Lower("display_name")).filter(
        lowered=Lower(Value(name))
    )


def _clean_display_name(name: object, *, exclude: Integration | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ActionError("The display name is required.", field="display_name")
    name = name.strip()
    if NUL in name:
        raise ActionError(
            "The display name must not contain the NUL character (\\u0000); remove it.",
            field="display_name",
        )
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise ActionError(
            f"The display name must be at most {MAX_DISPLAY_NAME_LENGTH} characters.",
            field="display_name",
        )
    taken = _named(name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ActionError(
            f"“{name}” is already the name of another integration; display names "
            "are unique across the platform.",
            field="display_name",
            code="name_taken",
            status=409,
        )
    return name


def _refuse_unstorable(manifest: Any) -> None:
    """Refuse a manifest nested too deeply or with NUL in any text before anything is
    stored.

    Drafts are stored with their problems (autosave), so the diagnostic `check_manifest`
    gives is not enough: PostgreSQL cannot store NUL in jsonb at all, and normalising a
    document recurses as deep as it nests.
    """
    problem = depth_diagnostic(manifest) or nul_diagnostic(manifest)
    if problem is not None:
        raise ActionError(
            f"{problem.path or '(manifest)'}: {problem.message}; remove it and try again.",
            field="manifest",
            code="invalid_manifest",
            details=[problem.as_dict()],
        )


def display_name_problem(name: str, *, exclude: Integration | None = None) -> str | None:
    """The reason a display name cannot be used, or None (for the as-you-type check)."""
    try:
        _clean_display_name(name, exclude=exclude)
    except ActionError as error:
        return error.message
    return None


def _store_logo(data: bytes) -> StoredLogo:
    try:
        processed = process_logo(data)
    except LogoError as error:
        raise ActionError(str(error), field="logo", code="invalid_logo") from None
    logo, _ = StoredLogo.objects.get_or_create(
        sha256=processed.sha256,
        defaults={
            "png": processed.png,
            "tile_png": processed.tile_png,
            "width": processed.width,
            "height": processed.height,
        },
    )
    return logo


def _record_revision(
    integration: Integration, *, user: User | None, note: str, autosave: bool = False
) -> IntegrationRevision:
    latest = integration.revisions.order_by("-number").first()
    now = timezone.now()
    if (
        autosave
        and latest is not None
        and latest.note == AUTOSAVE_NOTE
        and latest.created_by_id == getattr(user, "pk", None)
        and now - latest.created_at < AUTOSAVE_COALESCE
    ):
        latest.config = integration.config
        latest.logo = integration.logo
        latest.created_at = now
        latest.save(update_fields=["config", "logo", "created_at"])
        return latest
    number = (latest.number + 1) if latest else 1
    integration.revision = number
    integration.save(update_fields=["revision"])
    return IntegrationRevision.objects.create(
        integration=integration,
        number=number,
        config=integration.config,
        logo=integration.logo,
        note=note[:200],
        created_by=user,
    )


def _touch(integration: Integration, user: User | None) -> None:
    integration.updated_by = user
    integration.updated_at = timezone.now()


def _changed_paths(before: dict, after: dict) -> list[str]:
    return [change.path for change in manifest_diff(before, after)][:MAX_AUDITED_PATHS]


@transaction.atomic
def integration_create(
    *, acting_user: User, org: Organization, display_name: str, integration_type: str
) -> Integration:
    """A new draft with the skeleton of its type (Part 1 of the editor)."""
    if integration_type not in IntegrationType.values:
        raise ActionError("Choose list-based or property-based.", field="integration_type")
    name = _clean_display_name(display_name)
    config = starter_manifest(integration_type, name)
    integration = Integration.objects.create(
        org=org,
        display_name=name,
        integration_type=integration_type,
        config=config,
        created_by=acting_user,
        updated_by=acting_user,
    )
    _record_revision(integration, user=acting_user, note="Created")
    audit_record(
        actor=acting_user,
        org=org,
        action="integration.created",
        target=integration,
        after={"display_name": name, "integration_type": integration_type},
    )
    return integration


@transaction.atomic
def integration_import(
    *, acting_user: User | None, org: Organization, manifest: object
) -> Integration:
    """A new draft from a whole manifest (export → import gives the same manifest back)."""
    _refuse_unstorable(manifest)
    config, logo_bytes = storable_config(manifest)
    name = _clean_display_name(config["display_name"])
    integration = Integration.objects.create(
        org=org,
        display_name=name,
        integration_type=config["integration_type"],
        config={**config, "display_name": name},
        logo=_store_logo(logo_bytes) if logo_bytes else None,
        created_by=acting_user,
        updated_by=acting_user,
    )
    _record_revision(integration, user=acting_user, note="Imported")
    audit_record(
        actor=acting_user,
        org=org,
        action="integration.imported",
        target=integration,
        after={"display_name": name, "integration_type": integration.integration_type},
    )
    return integration


@transaction.atomic
def integration_save(
    *,
    acting_user: User | None,
    integration: Integration,
    manifest: object,
    base_revision: int | None = None,
    replace_logo: bool = False,
    autosave: bool = False,
    note: str = "",
) -> Integration:
    """Store a new configuration for the draft.

    `base_revision` is the revision the editor started from: if someone saved in between,
    the save is refused (409) rather than silently overwriting their work. The logo is
    replaced only when `replace_logo` (a manifest import); the editor uploads it apart.
    A configuration (and logo) equal to the stored one records nothing: no revision, no
    audit row.
    """
    integration, _ = _save_config(
        acting_user=acting_user,
        integration=integration,
        manifest=manifest,
        base_revision=base_revision,
        replace_logo=replace_logo,
        autosave=autosave,
        note=note,
    )
    return integration


@transaction.atomic
def integration_save_named(
    *,
    acting_user: User,
    integration: Integration,
    manifest: object,
    base_revision: int | None = None,
    name: str = "",
) -> tuple[Integration, IntegrationRevision | None]:
    """The editor's *Save a revision* (Ctrl+S): the configuration as a revision named
    `name` ("Saved" when none is given).

    When nothing changed since the latest revision, no revision is added (an empty one
    would only clutter the history). If that latest revision is an autosave, it takes the
    name instead: it holds exactly what is being saved, and a named revision is kept as
    it is (later autosaves no longer amend it).
    Returns the draft and the revision added or named, or None when nothing changed.
    """
    integration, changed = _save_config(
        acting_user=acting_user,
        integration=integration,
        manifest=manifest,
        base_revision=base_revision,
        note=name or "Saved",
    )
    latest = integration.revisions.order_by("-number").first()
    if changed:
        return integration, latest
    if latest is None or latest.note != AUTOSAVE_NOTE:
        return integration, None
    latest.note = (name or "Saved")[:200]
    latest.save(update_fields=["note"])
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.revision_named",
        target=integration,
        after={"revision": latest.number, "note": latest.note},
    )
    return integration, latest


def _save_config(
    *,
    acting_user: User | None,
    integration: Integration,
    manifest: object,
    base_revision: int | None,
    replace_logo: bool = False,
    autosave: bool = False,
    note: str,
) -> tuple[Integration, bool]:
    """`integration_save`'s work; also says whether anything changed (and so whether a
    revision was recorded or an autosave amended)."""
    _refuse_unstorable(manifest)
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    if base_revision is not None and base_revision != integration.revision:
        raise ActionError(
            f"This draft was saved elsewhere (now revision {integration.revision}, you started "
            f"from {base_revision}). Reload to see the latest version.",
            status=409,
            code="stale_revision",
        )
    config, logo_bytes = storable_config(manifest)
    name = _clean_display_name(config["display_name"], exclude=integration)
    config["display_name"] = name
    if config["integration_type"] != integration.integration_type:
        raise ActionError(
            "The integration type cannot change after creation; duplicate the "
            "integration into a new one instead.",
            field="integration_type",
            status=409,
        )
    logo = (_store_logo(logo_bytes) if logo_bytes else None) if replace_logo else integration.logo
    if config == integration.config and logo == integration.logo:
        return integration, False
    before = integration.config
    integration.logo = logo
    integration.config = config
    integration.display_name = name
    _touch(integration, acting_user)
    integration.save()
    revision = _record_revision(
        integration,
        user=acting_user,
        note=AUTOSAVE_NOTE if autosave else (note or "Saved"),
        autosave=autosave,
    )
    changed = _changed_paths(before, config)
    if changed or replace_logo:
        audit_record(
            actor=acting_user,
            org=integration.org,
            action="integration.saved",
            target=integration,
            after={"revision": revision.number, "changed": changed},
        )
    return integration, True


@transaction.atomic
def integration_start_from(
    *, acting_user: User, integration: Integration, manifest: object, note: str
) -> Integration:
    """Give a draft a starting configuration (the demo partner's API, an imported file),
    keeping the name and type chosen in Part 1; a logo in the file is used only when the
    draft has none. The configuration it replaces stays in the revision history."""
    if not isinstance(manifest, dict):
        raise ActionError("A manifest is a JSON object.", field="manifest")
    kind = manifest.get("integration_type")
    if kind != integration.integration_type:
        raise ActionError(
            f"This manifest is for a {kind or 'different'}-based integration; "
            f"“{integration.display_name}” is {integration.integration_type}-based. Choose "
            "a manifest of the same type, or start a new destination of that type.",
            field="manifest",
        )
    file_logo = bool(manifest.get("logo_png_base64")) and integration.logo_id is None
    return integration_save(
        acting_user=acting_user,
        integration=integration,
        manifest={**manifest, "display_name": integration.display_name},
        replace_logo=file_logo,
        note=note,
    )


@transaction.atomic
def integration_set_logo(
    *, acting_user: User, integration: Integration, data: bytes | None
) -> Integration:
    """Upload (or with None, remove) the draft's logo."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    before = integration.logo_id
    integration.logo = _store_logo(data) if data is not None else None
    _touch(integration, acting_user)
    integration.save()
    _record_revision(
        integration, user=acting_user, note="Logo uploaded" if data is not None else "Logo removed"
    )
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.logo_changed",
        target=integration,
        before={"logo": before},
        after={"logo": integration.logo_id},
    )
    return integration


def _copy_name(name: str) -> str:
    for attempt in range(1, 100):
        suffix = " (copy)" if attempt == 1 else f" (copy {attempt})"
        candidate = name[: MAX_DISPLAY_NAME_LENGTH - len(suffix)] + suffix
        if not _named(candidate).exists():
            return candidate
    raise ActionError(
        "Could not find a free name for the copy; rename some copies first.", status=409
    )


@transaction.atomic
def integration_duplicate(*, acting_user: User, integration: Integration) -> Integration:
    name = _copy_name(integration.display_name)
    config = {**integration.config, "display_name": name}
    copy = Integration.objects.create(
        org=integration.org,
        display_name=name,
        integration_type=integration.integration_type,
        config=config,
        logo=integration.logo,
        created_by=acting_user,
        updated_by=acting_user,
    )
    _record_revision(copy, user=acting_user, note=f"Duplicated from {integration.display_name}")
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.duplicated",
        target=copy,
        before={"source": integration.pk},
        after={"display_name": name},
    )
    return copy


@transaction.atomic
def integration_delete(*, acting_user: User, integration: Integration) -> None:
    """Delete a draft with its history; refused while it is in review or deployed."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    if integration.status == IntegrationStatus.IN_REVIEW:
        raise ActionError(
            "This integration is in review; withdraw the submission before deleting it.",
            status=409,
            code="invalid_transition",
        )
    if integration.destinations.filter(channel=DestinationChannel.APPROVED).exists():
        raise ActionError(
            "This integration is live on the Destinations page; it cannot be "
            "deleted. Ask the integrations team to retire it.",
            status=409,
            code="invalid_transition",
        )
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.deleted",
        target=integration,
        before={"display_name": integration.display_name, "revision": integration.revision},
    )
    integration.delete()


@transaction.atomic
def integration_restore(
    *, acting_user: User, integration: Integration, revision: IntegrationRevision
) -> Integration:
    """Make an earlier revision the current draft (as a new revision: history is kept)."""
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    name = _clean_display_name(revision.config.get("display_name"), exclude=integration)
    integration.config = {**revision.config, "display_name": name}
    integration.display_name = name
    integration.logo = revision.logo
    _touch(integration, acting_user)
    integration.save()
    new = _record_revision(
        integration, user=acting_user, note=f"Restored revision {revision.number}"
    )
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.restored",
        target=integration,
        after={"restored": revision.number, "revision": new.number},
    )
    return integration


@transaction.atomic
def integration_copy_errors(
    *, acting_user: User, integration: Integration, source: str, target: str, replace: bool = False
) -> Integration:
    """Copy one endpoint's error classifications onto another."""
    try:
        manifest = copy_error_classifications(
            integration.config, source=source, target=target, replace=replace
        )
    except KeyError as error:
        raise ActionError(
            f"This integration has no endpoint {error.args[0]!r}.",
            field="source" if error.args[0] == source else "target",
        ) from None
    return integration_save(
        acting_user=acting_user,
        integration=integration,
        manifest=manifest,
        note=f"Copied error classifications from {source} to {target}",
    )
