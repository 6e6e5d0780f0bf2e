"""Reviewers' actions on a submission: approve (and deploy), request changes, reject,
assign, and the comment thread that reviewers and the partner share.

Every decision is one transaction: the version's state, the draft's status, a comment
holding the message, an audit row, and an email to the partner sent on commit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.models import (
    DestinationChannel,
    IntegrationStatus,
    IntegrationVersion,
    VersionKind,
    VersionState,
)
from integrations.releases import destination_deploy, lock_integration, refuse_transition
from portal.audit import audit_record
from portal.emails import email_on_commit
from portal.errors import ActionError
from portal.models import Membership, User
from reviews.messages import clean_message
from reviews.models import ReviewComment


def _locked_version(version: IntegrationVersion) -> IntegrationVersion:
    return (
        # Lock the version row only: created_by is a nullable (outer) join.
        IntegrationVersion.objects.select_for_update(of=("self",))
        .select_related("integration__org", "created_by")
        .get(pk=version.pk)
    )


def partner_emails(version: IntegrationVersion) -> list[str]:
    developers = Membership.objects.filter(org=version.integration.org, is_developer=True)
    addresses = {m.user.email for m in developers.select_related("user")}
    if version.created_by:
        addresses.add(version.created_by.email)
    return sorted(addresses)


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
        raise refuse_transition(
            f"This version is {version.get_state_display().lower()}; only a "
            "submission in review can be decided."
        )
    version.state = state
    version.decided_by = acting_user
    version.decided_at = timezone.now()
    version.decision_message = message
    # Whoever decides is the version's reviewer, assigned or not.
    version.assigned_to = acting_user
    version.save(
        update_fields=["state", "decided_by", "decided_at", "decision_message", "assigned_to"]
    )
    if message:
        ReviewComment.objects.create(
            version=version, author=acting_user, kind=comment_kind, body=message
        )
    integration = lock_integration(version.integration)
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
        to=partner_emails(version),
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
    message = clean_message(message)
    version = _decide(
        version,
        acting_user=acting_user,
        state=VersionState.APPROVED,
        integration_status=IntegrationStatus.APPROVED,
        message=message,
        comment_kind=ReviewComment.Kind.APPROVED,
    )
    destination_deploy(
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
    message = clean_message(
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
    message = clean_message(message, required="Give the reason for rejecting: the partner sees it.")
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
    body = clean_message(body, required="Write a comment.", field="body")
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
            to=partner_emails(version),
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
