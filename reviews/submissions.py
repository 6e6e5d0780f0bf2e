"""Submitting a draft for review and withdrawing it: the partner's side of the review.

    draft ─submit→ in review ─approve→ approved (deployed as a Destination tile)
                        │  └─request changes→ changes requested ─(edit, re-test)─submit→ …
                        ├─reject→ rejected
                        └─withdraw (partner)→ draft (or released, if an internal tile exists)

Submitting needs a full test that passed on exactly the draft's configuration (the test
runs layer below), freezes an immutable `IntegrationVersion`, starts its conformance checks
when the partner shared test credentials with reviewers, and emails the reviewers; the
draft stays editable and the live version keeps serving until the next approval. The
decisions are in `reviews.decisions`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.manifests import config_fingerprint
from integrations.models import (
    DestinationChannel,
    Integration,
    IntegrationStatus,
    IntegrationVersion,
    VersionKind,
    VersionState,
)
from integrations.releases import (
    CAN_RELEASE,
    lock_integration,
    refuse_transition,
    require_valid,
    version_freeze,
)
from portal.audit import audit_record
from portal.emails import email_on_commit
from portal.errors import ActionError
from portal.models import StaffRole, User
from reviews.checks import conformance_on_submit
from reviews.messages import clean_message
from syncengine.selectors import passing_full_test

# A draft can be submitted whenever it could be released: in any state but "in review".
CAN_SUBMIT = CAN_RELEASE


def reviewer_emails() -> list[str]:
    reviewers = User.objects.filter(
        staff_role__in=[StaffRole.REVIEWER, StaffRole.PLATFORM_ADMIN], is_active=True
    ).values_list("email", flat=True)
    return sorted({settings.INTEGRATIONS_TEAM_EMAIL, *reviewers})


def approved_twin(integration: Integration) -> IntegrationVersion | None:
    """The approved version whose configuration (logo included) is exactly the draft's."""
    return (
        integration.versions.filter(
            kind=VersionKind.SUBMISSION,
            state=VersionState.APPROVED,
            fingerprint=config_fingerprint(integration),
        )
        .order_by("-number")
        .first()
    )


@transaction.atomic
def integration_submit(
    *, acting_user: User, integration: Integration, note: str = ""
) -> IntegrationVersion:
    """Freeze the draft as a version and send it to the reviewers.

    Needs a valid configuration, a logo, and a full test that passed on exactly this
    configuration (any edit since makes that test stale).
    """
    integration = lock_integration(integration)
    if integration.status not in CAN_SUBMIT:
        raise refuse_transition(
            "This integration is already in review. Withdraw the submission to "
            "submit a newer draft."
        )
    note = clean_message(note, field="note")
    require_valid(integration, "submit")
    if integration.logo is None:
        raise ActionError(
            "Upload a PNG logo before submitting: it is the Destination tile.",
            field="logo",
            status=409,
            code="logo_missing",
        )
    live = approved_twin(integration)
    if live is not None:
        raise ActionError(
            f"This configuration is exactly version {live.number}, already approved: there is "
            "nothing new to review. Change the draft first.",
            status=409,
            code="identical_to_approved",
        )
    passing = passing_full_test(integration)
    if passing is None:
        raise ActionError(
            "Run a full test that passes on this exact configuration before submitting. "
            "Tests run before your latest edit no longer count.",
            status=409,
            code="test_required",
        )
    version = version_freeze(
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
    conformance_on_submit(version=version, submitter=acting_user)
    email_on_commit(
        to=reviewer_emails(),
        subject=f"Review requested: {version.display_name} v{version.number} "
        f"(ORG ID {integration.org_id})",
        template="emails/review_requested.txt",
        context={"version": version, "org": integration.org, "submitter": acting_user},
    )
    return version


@transaction.atomic
def integration_withdraw(*, acting_user: User, integration: Integration) -> IntegrationVersion:
    integration = lock_integration(integration)
    version = integration.versions.filter(state=VersionState.IN_REVIEW).first()
    if integration.status != IntegrationStatus.IN_REVIEW or version is None:
        raise refuse_transition("There is no submission in review to withdraw.")
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
