"""Versions and the Destinations catalogue: freezing a draft into an immutable version,
releasing it internally, deploying a version as a tile, rolling a tile back, and hiding an
approved tile from the catalogue.

The review side (`reviews`) submits, decides and, on approval, calls `destination_deploy`;
the partner's internal release needs no review and happens here. Every write is audited;
an invalid transition raises `ActionError` with status 409 and says what would make it
valid.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from integrations.configuration import validation_report
from integrations.manifests import config_fingerprint, manifest_of
from integrations.models import (
    Deployment,
    Destination,
    DestinationChannel,
    Integration,
    IntegrationStatus,
    IntegrationVersion,
    VersionKind,
    VersionState,
)
from integrations.signals import destination_version_changed
from portal.audit import audit_record
from portal.errors import ActionError
from portal.models import User

# Which draft statuses allow which partner action: everything but "in review".
CAN_RELEASE = {
    IntegrationStatus.DRAFT,
    IntegrationStatus.RELEASED,
    IntegrationStatus.CHANGES_REQUESTED,
    IntegrationStatus.APPROVED,
    IntegrationStatus.REJECTED,
}


def refuse_transition(message: str) -> ActionError:
    return ActionError(message, status=409, code="invalid_transition")


def lock_integration(integration: Integration) -> Integration:
    return (
        Integration.objects.select_for_update(of=("self",))
        .select_related("org")
        .get(pk=integration.pk)
    )


def version_freeze(
    integration: Integration,
    *,
    kind: str,
    state: str,
    user: User | None,
    note: str = "",
    test_run_id: int | None = None,
) -> IntegrationVersion:
    """A new immutable version holding the draft's current configuration and logo."""
    number = (integration.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    return IntegrationVersion.objects.create(
        integration=integration,
        number=number,
        kind=kind,
        state=state,
        display_name=integration.display_name,
        integration_type=integration.integration_type,
        config=integration.config,
        logo=integration.logo,
        fingerprint=config_fingerprint(integration),
        test_run_id=test_run_id,
        note=note,
        created_by=user,
    )


def require_valid(integration: Integration, what: str) -> None:
    """Refuse (409) a draft whose configuration has errors, naming the first one."""
    report = validation_report(manifest_of(integration))
    if not report["valid"]:
        first = next(d for d in report["diagnostics"] if d["severity"] == "error")
        raise ActionError(
            f"Fix the configuration before you {what}: {report['error_count']} error(s), "
            f"first at {first['path']}: {first['message']}",
            status=409,
            code="invalid_configuration",
        )


def destination_deploy(
    integration: Integration,
    version: IntegrationVersion,
    *,
    channel: str,
    user: User | None,
    reason: str,
) -> Destination:
    """Make `version` the one the integration's tile of `channel` serves, and record it.
    Called inside the transaction of the action that decided it (release, approval); the
    connections of the tile follow (`destination_version_changed`)."""
    previous = (
        Destination.objects.select_for_update()
        .filter(integration=integration, channel=channel)
        .values_list("version", flat=True)
        .first()
    )
    destination, _ = Destination.objects.update_or_create(
        integration=integration,
        channel=channel,
        defaults={"org": integration.org, "version": version, "updated_at": timezone.now()},
    )
    Deployment.objects.create(
        destination=destination, version=version, reason=reason, deployed_by=user
    )
    if previous != version.pk:
        destination_version_changed.send(
            sender=Destination,
            destination=destination,
            previous=IntegrationVersion.objects.filter(pk=previous).first() if previous else None,
            version=version,
            acting_user=user,
        )
    return destination


@transaction.atomic
def integration_release(*, acting_user: User, integration: Integration) -> IntegrationVersion:
    """Let the partner's own organisation use the current draft at once, without review."""
    integration = lock_integration(integration)
    if integration.status not in CAN_RELEASE:
        raise refuse_transition(
            "This integration is in review; withdraw it or wait for the decision "
            "before releasing the draft internally."
        )
    require_valid(integration, "release it internally")
    version = version_freeze(
        integration, kind=VersionKind.INTERNAL, state=VersionState.INTERNAL, user=acting_user
    )
    destination_deploy(
        integration,
        version,
        channel=DestinationChannel.INTERNAL,
        user=acting_user,
        reason="internal_release",
    )
    before = integration.status
    integration.status = IntegrationStatus.RELEASED
    integration.save(update_fields=["status"])
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.released",
        target=integration,
        before={"status": before},
        after={"status": integration.status, "version": version.number},
    )
    return version


@transaction.atomic
def destination_rollback(
    *, acting_user: User, destination: Destination, version: IntegrationVersion
) -> Destination:
    """Serve an earlier approved version again (platform admins)."""
    if not acting_user.is_platform_admin:
        raise ActionError("Only platform admins can roll a destination back.", status=403)
    if (
        version.integration_id != destination.integration_id
        or version.state != VersionState.APPROVED
    ):
        raise ActionError(
            "Choose an earlier approved version of this integration.", field="version"
        )
    if version.pk == destination.version_id:
        raise refuse_transition(f"v{version.number} is already the live version.")
    previous = destination.version
    destination.version = version
    destination.updated_at = timezone.now()
    destination.save(update_fields=["version", "updated_at"])
    Deployment.objects.create(
        destination=destination, version=version, reason="rollback", deployed_by=acting_user
    )
    audit_record(
        actor=acting_user,
        org=destination.org,
        action="destination.rolled_back",
        target=destination,
        before={"version": previous.number},
        after={"version": version.number},
    )
    destination_version_changed.send(
        sender=Destination,
        destination=destination,
        previous=previous,
        version=version,
        acting_user=acting_user,
    )
    return destination


@transaction.atomic
def destination_hide(*, acting_user: User, destination: Destination, hidden: bool) -> Destination:
    """Take an approved destination out of every organisation's catalogue, or put it back
    (platform admins). Connections made before keep syncing: hiding stops new ones."""
    if not acting_user.is_platform_admin:
        raise ActionError("Only platform admins can hide or show a destination.", status=403)
    destination = (
        Destination.objects.select_for_update().select_related("version").get(pk=destination.pk)
    )
    if destination.channel != DestinationChannel.APPROVED:
        raise refuse_transition(
            "Only approved destinations are in the catalogue; an internal release is seen "
            "by its own organisation only."
        )
    if destination.hidden == hidden:
        raise refuse_transition(
            f"{destination.version.display_name} is already "
            f"{'hidden from' if hidden else 'shown in'} the catalogue."
        )
    destination.hidden = hidden
    destination.updated_at = timezone.now()
    destination.save(update_fields=["hidden", "updated_at"])
    audit_record(
        actor=acting_user,
        org=destination.org,
        action="destination.hidden" if hidden else "destination.shown",
        target=destination,
        before={"hidden": not hidden},
        after={"hidden": hidden},
    )
    return destination
