"""The lifecycle of an integration, enforced in one place.

    draft ─submit→ in review ─approve→ approved (deployed as a Destination tile)
                        │  └─request changes→ changes requested ─(edit, re-test)─submit→ …
                        ├─reject→ rejected
                        └─withdraw (partner)→ draft
    any state except in review ─release internally→ released (a private tile, no review)

Submitting freezes an immutable `IntegrationVersion`; the draft stays editable and the
live version keeps serving until the next approval. Every transition writes an audit row;
an invalid one raises `ActionError` with status 409 and says what would make it valid.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
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
    ReviewComment,
    VersionKind,
    VersionState,
)
from portal.audit import audit_record
from portal.emails import email_on_commit
from portal.errors import ActionError
from portal.models import Membership, StaffRole, User

# The seed document promises partners an answer within about a week.
EXPECTED_REVIEW_TIME = timedelta(days=7)
MAX_MESSAGE_LENGTH = 4000

# Which draft statuses allow which partner action.
CAN_SUBMIT = {
    IntegrationStatus.DRAFT,
    IntegrationStatus.RELEASED,
    IntegrationStatus.CHANGES_REQUESTED,
    IntegrationStatus.APPROVED,
    IntegrationStatus.REJECTED,
}
CAN_RELEASE = CAN_SUBMIT


def _refuse(message: str) -> ActionError:
    return ActionError(message, status=409, code="invalid_transition")


def _locked(integration: Integration) -> Integration:
    return (
        Integration.objects.select_for_update(of=("self",))
        .select_related("org")
        .get(pk=integration.pk)
    )


def _locked_version(version: IntegrationVersion) -> IntegrationVersion:
    return (
        # Lock the version row only: created_by is a nullable (outer) join.
        IntegrationVersion.objects.select_for_update(of=("self",))
        .select_related("integration__org", "created_by")
        .get(pk=version.pk)
    )


def _clean_message(text: str, *, required: str | None = None, field: str = "message") -> str:
    text = (text or "").strip()
    if required and not text:
        raise ActionError(required, field=field)
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ActionError(f"At most {MAX_MESSAGE_LENGTH:,} characters, please.", field=field)
    return text


def _freeze(
    integration: Integration,
    *,
    kind: str,
    state: str,
    user: User | None,
    note: str = "",
    test_run_id: int | None = None,
) -> IntegrationVersion:
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


def _require_valid(integration: Integration, what: str) -> None:
    report = validation_report(manifest_of(integration))
    if not report["valid"]:
        first = next(d for d in report["diagnostics"] if d["severity"] == "error")
        raise ActionError(
            f"Fix the configuration before you {what}: {report['error_count']} error(s), "
            f"first at {first['path']}: {first['message']}",
            status=409,
            code="invalid_configuration",
        )


def _deploy(
    integration: Integration,
    version: IntegrationVersion,
    *,
    channel: str,
    user: User | None,
    reason: str,
) -> Destination:
    destination, _ = Destination.objects.update_or_create(
        integration=integration,
        channel=channel,
        defaults={"org": integration.org, "version": version, "updated_at": timezone.now()},
    )
    Deployment.objects.create(
        destination=destination, version=version, reason=reason, deployed_by=user
    )
    return destination


def _partner_emails(version: IntegrationVersion) -> list[str]:
    developers = Membership.objects.filter(org=version.integration.org, is_developer=True)
    addresses = {m.user.email for m in developers.select_related("user")}
    if version.created_by:
        addresses.add(version.created_by.email)
    return sorted(addresses)


def _reviewer_emails() -> list[str]:
    reviewers = User.objects.filter(
        staff_role__in=[StaffRole.REVIEWER, StaffRole.PLATFORM_ADMIN], is_active=True
    ).values_list("email", flat=True)
    return sorted({settings.INTEGRATIONS_TEAM_EMAIL, *reviewers})


# --- partner actions ----------------------------------------------------------------------


@transaction.atomic
def integration_release(*, acting_user: User, integration: Integration) -> IntegrationVersion:
    """Let the partner's own organisation use the current draft at once, without review."""
    integration = _locked(integration)
    if integration.status not in CAN_RELEASE:
        raise _refuse(
            "This integration is in review; withdraw it or wait for the decision "
            "before releasing the draft internally."
        )
    _require_valid(integration, "release it internally")
    version = _freeze(
        integration, kind=VersionKind.INTERNAL, state=VersionState.INTERNAL, user=acting_user
    )
    _deploy(
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
def integration_submit(
    *, acting_user: User, integration: Integration, note: str = ""
) -> IntegrationVersion:
    """Freeze the draft as a version and send it to the reviewers.

    Needs a valid configuration, a logo, and a full test that passed on exactly this
    configuration (any edit since makes that test stale).
    """
    from syncengine.selectors import passing_full_test

    integration = _locked(integration)
    if integration.status not in CAN_SUBMIT:
        raise _refuse(
            "This integration is already in review. Withdraw the submission to "
            "submit a newer draft."
        )
    note = _clean_message(note, field="note")
    _require_valid(integration, "submit")
    if integration.logo is None:
        raise ActionError(
            "Upload a PNG logo before submitting: it is the Destination tile.",
            field="logo",
            status=409,
            code="logo_missing",
        )
    passing = passing_full_test(integration)
    if passing is None:
        raise ActionError(
            "Run a full test that passes on this exact configuration before submitting. "
            "Tests run before your latest edit no longer count.",
            status=409,
            code="test_required",
        )
    version = _freeze(
        integration,
        kind=VersionKind.SUBMISSION,
        state=VersionState.IN_REVIEW,
        user=acting_user,
        note=note,
        test_run_id=passing.pk,
    )
    before = integration.status
    integration.status = IntegrationStatus.IN_REVIEW
    integration.save(update_fields=["status"])
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.submitted",
        target=integration,
        before={"status": before},
        after={"status": integration.status, "version": version.number},
    )
    email_on_commit(
        to=_reviewer_emails(),
        subject=f"Review requested: {version.display_name} v{version.number} "
        f"(ORG ID {integration.org_id})",
        template="emails/review_requested.txt",
        context={"version": version, "org": integration.org, "submitter": acting_user},
    )
    return version


@transaction.atomic
def integration_withdraw(*, acting_user: User, integration: Integration) -> IntegrationVersion:
    integration = _locked(integration)
    version = integration.versions.filter(state=VersionState.IN_REVIEW).first()
    if integration.status != IntegrationStatus.IN_REVIEW or version is None:
        raise _refuse("There is no submission in review to withdraw.")
    version.state = VersionState.WITHDRAWN
    version.decided_by = acting_user
    version.decided_at = timezone.now()
    version.save(update_fields=["state", "decided_by", "decided_at"])
    integration.status = (
        IntegrationStatus.RELEASED
        if integration.destinations.filter(channel=DestinationChannel.INTERNAL).exists()
        else IntegrationStatus.DRAFT
    )
    integration.save(update_fields=["status"])
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="integration.withdrawn",
        target=integration,
        before={"status": IntegrationStatus.IN_REVIEW},
        after={"status": integration.status, "version": version.number},
    )
    return version


def expected_review_by(version: IntegrationVersion):
    return version.created_at + EXPECTED_REVIEW_TIME


# --- reviewer actions ---------------------------------------------------------------------


def _require_reviewer(user: User) -> None:
    if not user.is_reviewer:
        raise ActionError(
            "Only reviewers can decide on submissions.", status=403, code="not_a_reviewer"
        )


def _decide(
    version: IntegrationVersion,
    *,
    acting_user: User,
    state: str,
    integration_status: str,
    message: str,
    comment_kind: str,
) -> IntegrationVersion:
    _require_reviewer(acting_user)
    version = _locked_version(version)
    if version.kind != VersionKind.SUBMISSION or version.state != VersionState.IN_REVIEW:
        raise _refuse(
            f"This version is {version.get_state_display().lower()}; only a "
            "submission in review can be decided."
        )
    version.state = state
    version.decided_by = acting_user
    version.decided_at = timezone.now()
    version.decision_message = message
    version.save(update_fields=["state", "decided_by", "decided_at", "decision_message"])
    if message:
        ReviewComment.objects.create(
            version=version, author=acting_user, kind=comment_kind, body=message
        )
    integration = _locked(version.integration)
    before = integration.status
    integration.status = integration_status
    integration.save(update_fields=["status"])
    audit_record(
        actor=acting_user,
        org=integration.org,
        action=f"review.{state}",
        target=version,
        before={"status": before},
        after={"status": integration_status, "version": version.number},
    )
    email_on_commit(
        to=_partner_emails(version),
        subject=f"{version.display_name} v{version.number}: {version.get_state_display()}",
        template="emails/review_decided.txt",
        context={"version": version, "message": message},
    )
    return version


@transaction.atomic
def review_approve(
    *, acting_user: User, version: IntegrationVersion, message: str = ""
) -> IntegrationVersion:
    """Approve and deploy: the version becomes the partner org's Destination tile."""
    message = _clean_message(message)
    version = _decide(
        version,
        acting_user=acting_user,
        state=VersionState.APPROVED,
        integration_status=IntegrationStatus.APPROVED,
        message=message,
        comment_kind=ReviewComment.Kind.APPROVED,
    )
    _deploy(
        version.integration,
        version,
        channel=DestinationChannel.APPROVED,
        user=acting_user,
        reason="approved",
    )
    return version


@transaction.atomic
def review_request_changes(
    *, acting_user: User, version: IntegrationVersion, message: str
) -> IntegrationVersion:
    message = _clean_message(
        message, required="Say what needs to change: the partner sees this comment."
    )
    return _decide(
        version,
        acting_user=acting_user,
        state=VersionState.CHANGES_REQUESTED,
        integration_status=IntegrationStatus.CHANGES_REQUESTED,
        message=message,
        comment_kind=ReviewComment.Kind.CHANGES_REQUESTED,
    )


@transaction.atomic
def review_reject(
    *, acting_user: User, version: IntegrationVersion, message: str
) -> IntegrationVersion:
    message = _clean_message(
        message, required="Give the reason for rejecting: the partner sees it."
    )
    return _decide(
        version,
        acting_user=acting_user,
        state=VersionState.REJECTED,
        integration_status=IntegrationStatus.REJECTED,
        message=message,
        comment_kind=ReviewComment.Kind.REJECTED,
    )


@transaction.atomic
def review_assign(
    *, acting_user: User, version: IntegrationVersion, reviewer: User | None
) -> IntegrationVersion:
    _require_reviewer(acting_user)
    if reviewer is not None and not reviewer.is_reviewer:
        raise ActionError(f"{reviewer.email} is not a reviewer.", field="reviewer")
    version = _locked_version(version)
    before = version.assigned_to.email if version.assigned_to else None
    version.assigned_to = reviewer
    version.save(update_fields=["assigned_to"])
    audit_record(
        actor=acting_user,
        org=version.integration.org,
        action="review.assigned",
        target=version,
        before={"assigned_to": before},
        after={"assigned_to": reviewer.email if reviewer else None},
    )
    return version


@transaction.atomic
def review_comment(
    *,
    acting_user: User,
    version: IntegrationVersion,
    body: str,
    parent: ReviewComment | None = None,
) -> ReviewComment:
    """A comment in the thread of a submitted version (reviewers and the partner)."""
    body = _clean_message(body, required="Write a comment.", field="body")
    if parent is not None and parent.version_id != version.pk:
        raise ActionError("You can only reply to a comment on the same version.", field="parent")
    comment = ReviewComment.objects.create(
        version=version, author=acting_user, body=body, parent=parent
    )
    audit_record(
        actor=acting_user,
        org=version.integration.org,
        action="review.commented",
        target=version,
        after={"comment": comment.pk},
    )
    if acting_user.is_reviewer:
        email_on_commit(
            to=_partner_emails(version),
            subject=f"New comment on {version.display_name} v{version.number}",
            template="emails/review_comment.txt",
            context={"version": version, "comment": comment},
        )
    else:
        email_on_commit(
            to=[settings.INTEGRATIONS_TEAM_EMAIL],
            subject=f"Partner reply on {version.display_name} v{version.number}",
            template="emails/review_comment.txt",
            context={"version": version, "comment": comment},
        )
    return comment


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
        raise _refuse(f"v{version.number} is already the live version.")
    before = destination.version.number
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
        before={"version": before},
        after={"version": version.number},
    )
    return destination
