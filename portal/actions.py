"""Writes to tenancy data. Each action is one transaction with an audit row; emails and
tasks go out only when it commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from portal import cohorts
from portal.audit import audit_record
from portal.cohort_csv import ByteStream
from portal.emails import email_on_commit
from portal.errors import ActionError
from portal.flags import DEVELOPER_PORTAL, FLAGS, flag_label
from portal.jobs import enqueue_on_commit
from portal.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiToken,
    Cohort,
    CohortImport,
    Invitation,
    MemberRole,
    Membership,
    Organization,
    OrgFlag,
    PlatformSettings,
    Project,
    StaffRole,
    User,
    new_api_key,
)

INVITATION_LIFETIME = timedelta(days=7)
MAX_NAME_LENGTH = 120


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_name(value: str, *, field: str, what: str, limit: int = MAX_NAME_LENGTH) -> str:
    value = (value or "").strip()
    if not value:
        raise ActionError(f"{what} is required.", field=field)
    if len(value) > limit:
        raise ActionError(f"{what} must be at most {limit} characters.", field=field)
    return value


def _clean_email(value: str, *, field: str = "email") -> str:
    value = (value or "").strip().lower()
    try:
        validate_email(value)
    except ValidationError:
        raise ActionError(f"{value!r} is not a valid email address.", field=field) from None
    return value


# --- accounts --------------------------------------------------------------------------


@transaction.atomic
def account_signup(*, email: str, password: str, full_name: str, org_name: str) -> User:
    """A new person, with a verified email, and a new organisation they administer
    (portal flag off). For accounts made by the portal itself (tests, demo data); people
    sign up through allauth's form, whose adapter calls `signup_org_create`."""
    email = _clean_email(email)
    full_name = (full_name or "").strip()[:150]
    org_name = clean_org_name(org_name)
    if User.objects.filter(email__iexact=email).exists():
        raise ActionError(
            "An account with this email already exists; sign in instead.", field="email"
        )
    candidate = User(email=email, full_name=full_name)
    try:
        validate_password(password, candidate)
    except ValidationError as error:
        raise ActionError(" ".join(error.messages), field="password") from None
    user = User.objects.create_user(email, password, full_name=full_name)
    email_mark_verified(user=user)
    signup_org_create(user=user, org_name=org_name)
    return user


def clean_org_name(value: str) -> str:
    return _clean_name(value, field="org_name", what="Organisation name")


def email_mark_verified(*, user: User) -> None:
    """Record the person's sign-in email as verified and primary (accounts the portal
    makes itself, and invitations: the link reached that inbox)."""
    EmailAddress.objects.filter(user=user).exclude(email__iexact=user.email).delete()
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )


@transaction.atomic
def signup_org_create(*, user: User, org_name: str) -> Organization:
    """The new organisation of someone who just signed up, with them as its admin."""
    org = Organization.objects.create(name=clean_org_name(org_name))
    Membership.objects.create(user=user, org=org, role=MemberRole.ADMIN, is_developer=True)
    audit_record(
        actor=user,
        org=org,
        action="org.created",
        target=org,
        after={"name": org.name, "admin": user.email},
    )
    sandbox_create(acting_user=user, org=org)
    if PlatformSettings.current().grant_portal_to_new_orgs:
        flag_set(
            acting_user=None,
            org=org,
            flag=DEVELOPER_PORTAL,
            enabled=True,
            reason="granted to new organisations (platform setting)",
        )
    return org


MAX_FULL_NAME_LENGTH = 150


@transaction.atomic
def account_rename(*, acting_user: User, full_name: str) -> User:
    """The person's own name, as colleagues and reviewers see it (may be blank)."""
    full_name = (full_name or "").strip()
    if len(full_name) > MAX_FULL_NAME_LENGTH:
        raise ActionError(
            f"Your name must be at most {MAX_FULL_NAME_LENGTH} characters.", field="full_name"
        )
    before = acting_user.full_name
    acting_user.full_name = full_name
    acting_user.save(update_fields=["full_name"])
    audit_record(
        actor=acting_user,
        org=None,
        action="account.renamed",
        target=acting_user,
        label=acting_user.email,
        before={"full_name": before},
        after={"full_name": full_name},
    )
    return acting_user


def _check_password(user: User, password: str) -> None:
    if not user.check_password(password or ""):
        raise ActionError("That is not your current password.", field="current_password")


@transaction.atomic
def account_change_email(*, acting_user: User, email: str, current_password: str) -> User:
    """A new sign-in email, confirmed with the current password; the old address is told."""
    _check_password(acting_user, current_password)
    email = _clean_email(email)
    if email == acting_user.email:
        raise ActionError("This is already your email.", field="email")
    if User.objects.filter(email__iexact=email).exclude(pk=acting_user.pk).exists():
        raise ActionError("Another account uses this email.", field="email")
    before = acting_user.email
    acting_user.email = email
    acting_user.save(update_fields=["email"])
    # The new address is unproven: the next sign-in sends it a verification link first.
    EmailAddress.objects.filter(user=acting_user).delete()
    EmailAddress.objects.create(user=acting_user, email=email, verified=False, primary=True)
    audit_record(
        actor=acting_user,
        org=None,
        action="account.email_changed",
        target=acting_user,
        label=email,
        before={"email": before},
        after={"email": email},
    )
    email_on_commit(
        to=[before],
        subject="Your Cohort Portal email was changed",
        template="emails/account_email_changed.txt",
        context={"user": acting_user, "before": before},
    )
    return acting_user


@transaction.atomic
def account_change_password(
    *, acting_user: User, current_password: str, new_password: str, confirmation: str
) -> User:
    """A new password, confirmed with the current one and typed twice."""
    _check_password(acting_user, current_password)
    if new_password != confirmation:
        raise ActionError("The two new passwords differ.", field="confirmation")
    try:
        validate_password(new_password, acting_user)
    except ValidationError as error:
        raise ActionError(" ".join(error.messages), field="new_password") from None
    acting_user.set_password(new_password)
    acting_user.save(update_fields=["password"])
    audit_record(
        actor=acting_user,
        org=None,
        action="account.password_changed",
        target=acting_user,
        label=acting_user.email,
    )
    return acting_user


SANDBOX_PROJECT_NAME = "Sandbox"


@transaction.atomic
def sandbox_create(*, acting_user: User, org: Organization) -> Project:
    """The org's sandbox project: test runs need a project, and a new organisation has no
    data yet. Its key is filled in by the Testing panel itself."""
    project = Project.objects.create(org=org, name=SANDBOX_PROJECT_NAME, is_sandbox=True)
    audit_record(
        actor=acting_user,
        org=org,
        action="project.created",
        target=project,
        after={"name": project.name, "project_id": project.public_id, "sandbox": True},
    )
    return project


@transaction.atomic
def member_invite(
    *, acting_user: User, org: Organization, email: str, role: str, is_developer: bool
) -> Invitation:
    email = _clean_email(email)
    if role not in MemberRole.values:
        raise ActionError(f"Role must be one of {', '.join(MemberRole.values)}.", field="role")
    if Membership.objects.filter(org=org, user__email__iexact=email).exists():
        raise ActionError(f"{email} is already a member of {org.name}.", field="email")
    raw = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        org=org,
        email=email,
        role=role,
        is_developer=is_developer,
        digest=token_digest(raw),
        invited_by=acting_user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    audit_record(
        actor=acting_user,
        org=org,
        action="member.invited",
        target=invitation,
        label=email,
        after={"email": email, "role": role, "developer": is_developer},
    )
    email_on_commit(
        to=[email],
        subject=f"Join {org.name} on the Cohort Portal",
        template="emails/invitation.txt",
        context={"org": org, "inviter": acting_user, "path": f"/invitations/{raw}/"},
    )
    return invitation


def invitation_for_token(raw: str) -> Invitation | None:
    invitation = (
        Invitation.objects.select_related("org").filter(digest=token_digest(raw or "")).first()
    )
    return invitation if invitation and invitation.is_open else None


@transaction.atomic
def invitation_accept(
    *, raw_token: str, user: User | None, password: str = "", full_name: str = ""
) -> Membership:
    """Join the org; people without an account create one with the invited email."""
    invitation = invitation_for_token(raw_token)
    if invitation is None:
        raise ActionError("This invitation link has expired or was already used.", status=409)
    if user is None or not user.is_authenticated:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ActionError(
                "An account with this email exists: sign in, then open the link again.", status=409
            )
        candidate = User(email=invitation.email, full_name=full_name)
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            raise ActionError(" ".join(error.messages), field="password") from None
        user = User.objects.create_user(invitation.email, password, full_name=full_name.strip())
        email_mark_verified(user=user)
    elif user.email.lower() != invitation.email.lower():
        raise ActionError(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}.",
            status=409,
        )
    membership, _ = Membership.objects.get_or_create(
        user=user,
        org=invitation.org,
        defaults={"role": invitation.role, "is_developer": invitation.is_developer},
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        actor=user,
        org=invitation.org,
        action="member.joined",
        target=membership,
        label=user.email,
        after={"role": membership.role},
    )
    return membership


@transaction.atomic
def member_update(
    *, acting_user: User, membership: Membership, role: str, is_developer: bool
) -> Membership:
    if role not in MemberRole.values:
        raise ActionError(f"Role must be one of {', '.join(MemberRole.values)}.", field="role")
    before = {"role": membership.role, "developer": membership.is_developer}
    if membership.role == MemberRole.ADMIN and role != MemberRole.ADMIN:
        _keep_an_admin(membership)
    membership.role = role
    membership.is_developer = is_developer
    membership.save(update_fields=["role", "is_developer"])
    audit_record(
        actor=acting_user,
        org=membership.org,
        action="member.updated",
        target=membership,
        label=membership.user.email,
        before=before,
        after={"role": role, "developer": is_developer},
    )
    return membership


@transaction.atomic
def member_remove(*, acting_user: User, membership: Membership) -> None:
    if membership.role == MemberRole.ADMIN:
        _keep_an_admin(membership)
    audit_record(
        actor=acting_user,
        org=membership.org,
        action="member.removed",
        target=membership,
        label=membership.user.email,
        before={"role": membership.role, "developer": membership.is_developer},
    )
    membership.delete()


def _keep_an_admin(membership: Membership) -> None:
    admins = Membership.objects.select_for_update().filter(
        org=membership.org, role=MemberRole.ADMIN
    )
    if admins.exclude(pk=membership.pk).count() == 0:
        raise ActionError(
            "An organisation needs at least one admin; make someone else admin first.", status=409
        )


@transaction.atomic
def token_create(*, acting_user: User, org: Organization | None, name: str) -> tuple[ApiToken, str]:
    """A new API token; the clear value is returned once and never stored."""
    name = _clean_name(name, field="name", what="Token name", limit=80)
    raw = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=acting_user, org=org, name=name, prefix=raw[:10], digest=token_digest(raw)
    )
    audit_record(actor=acting_user, org=org, action="token.created", target=token, label=name)
    return token, raw


@transaction.atomic
def token_revoke(*, acting_user: User, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=acting_user, org=token.org, action="token.revoked", target=token, label=token.name
        )


# --- flags and access requests ---------------------------------------------------------


def _check_flag(flag: str) -> None:
    if flag not in FLAGS:
        raise ActionError(
            f"Unknown feature flag {flag!r}; known: {', '.join(FLAGS)}.", field="flag"
        )


@transaction.atomic
def flag_set(
    *, acting_user: User | None, org: Organization, flag: str, enabled: bool, reason: str = ""
) -> OrgFlag:
    """Switch a flag. `acting_user` is None when the platform does it by itself (a platform
    setting); `reason` then says which, in the audit row."""
    _check_flag(flag)
    row, _ = OrgFlag.objects.select_for_update().get_or_create(org=org, flag=flag)
    before = row.enabled
    row.enabled = enabled
    row.updated_at = timezone.now()
    row.updated_by = acting_user
    row.save()
    org.forget_flags()
    if before != enabled:
        after: dict[str, object] = {flag: enabled}
        if reason:
            after["reason"] = reason
        audit_record(
            actor=acting_user,
            org=org,
            action="flag.enabled" if enabled else "flag.disabled",
            target=org,
            label=f"{org.name}: {flag_label(flag)}",
            before={flag: before},
            after=after,
        )
    if enabled and acting_user is not None:
        # A pending request for the flag is answered by switching it on, however it was done.
        for request in AccessRequest.objects.filter(
            org=org, flag=flag, status=AccessRequestStatus.PENDING
        ):
            _resolve_request(request, acting_user, AccessRequestStatus.GRANTED)
    return row


@transaction.atomic
def platform_settings_set(*, acting_user: User, grant_portal_to_new_orgs: bool) -> PlatformSettings:
    """Platform admins decide whether new organisations get the Developer Portal at once."""
    if not acting_user.is_platform_admin:
        raise ActionError("Only platform admins change platform settings.", status=403)
    row = PlatformSettings.objects.select_for_update().filter(pk=1).first()
    row = row or PlatformSettings.current()
    before = row.grant_portal_to_new_orgs
    row.grant_portal_to_new_orgs = bool(grant_portal_to_new_orgs)
    row.updated_at = timezone.now()
    row.updated_by = acting_user
    row.save()
    if before != row.grant_portal_to_new_orgs:
        audit_record(
            actor=acting_user,
            org=None,
            action="platform.settings_changed",
            target=row,
            label="Grant the Developer Portal to new organisations",
            before={"grant_portal_to_new_orgs": before},
            after={"grant_portal_to_new_orgs": row.grant_portal_to_new_orgs},
        )
    return row


@transaction.atomic
def access_request_create(
    *, acting_user: User, org: Organization, flag: str, message: str = ""
) -> AccessRequest:
    _check_flag(flag)
    if org.flag_enabled(flag):
        raise ActionError(f"{flag_label(flag)} is already enabled for {org.name}.", status=409)
    existing = AccessRequest.objects.filter(
        org=org, flag=flag, status=AccessRequestStatus.PENDING
    ).first()
    if existing:
        raise ActionError(
            f"Access was already requested on {existing.created_at:%Y-%m-%d}; the integrations "
            "team will answer by email.",
            status=409,
        )
    message = (message or "").strip()
    if len(message) > 2000:
        raise ActionError("The message must be at most 2,000 characters.", field="message")
    try:
        with transaction.atomic():
            request = AccessRequest.objects.create(
                org=org, flag=flag, requested_by=acting_user, message=message
            )
    except IntegrityError:
        raise ActionError("Access was already requested.", status=409) from None
    audit_record(
        actor=acting_user,
        org=org,
        action="access.requested",
        target=request,
        label=f"{org.name}: {flag_label(flag)}",
        after={"flag": flag},
    )
    email_on_commit(
        to=[settings.INTEGRATIONS_TEAM_EMAIL],
        subject=f"Access request: {flag_label(flag)} for {org.name} (ORG ID {org.pk})",
        template="emails/access_requested.txt",
        context={"org": org, "flag": flag, "requester": acting_user, "message": message},
    )
    return request


@transaction.atomic
def access_request_grant(*, acting_user: User, access_request: AccessRequest) -> AccessRequest:
    if access_request.status != AccessRequestStatus.PENDING:
        raise ActionError(f"This request was already {access_request.status}.", status=409)
    flag_set(
        acting_user=acting_user, org=access_request.org, flag=access_request.flag, enabled=True
    )
    access_request.refresh_from_db()
    return access_request


MAX_DECLINE_REASON_LENGTH = 2000


@transaction.atomic
def access_request_decline(
    *, acting_user: User, access_request: AccessRequest, reason: str
) -> AccessRequest:
    """Decline with a reason: the requester reads it on Org settings and in the email."""
    if access_request.status != AccessRequestStatus.PENDING:
        raise ActionError(f"This request was already {access_request.status}.", status=409)
    reason = (reason or "").strip()
    if not reason:
        raise ActionError(
            "Give the reason for declining: the organisation reads it.", field="reason"
        )
    if len(reason) > MAX_DECLINE_REASON_LENGTH:
        raise ActionError(
            f"The reason must be at most {MAX_DECLINE_REASON_LENGTH:,} characters.",
            field="reason",
        )
    access_request.decline_reason = reason
    _resolve_request(access_request, acting_user, AccessRequestStatus.DECLINED)
    return access_request


def _resolve_request(request: AccessRequest, acting_user: User, status: str) -> None:
    request.status = status
    request.resolved_by = acting_user
    request.resolved_at = timezone.now()
    request.save(update_fields=["status", "resolved_by", "resolved_at", "decline_reason"])
    after: dict[str, str] = {"status": status}
    if request.decline_reason:
        after["reason"] = request.decline_reason
    audit_record(
        actor=acting_user,
        org=request.org,
        action=f"access.{status}",
        target=request,
        label=f"{request.org.name}: {flag_label(request.flag)}",
        before={"status": "pending"},
        after=after,
    )
    email_on_commit(
        to=[request.requested_by.email],
        subject=f"{flag_label(request.flag)}: your access request was {status}",
        template="emails/access_resolved.txt",
        context={
            "org": request.org,
            "flag": request.flag,
            "status": status,
            "reason": request.decline_reason,
        },
    )


@transaction.atomic
def staff_role_set(*, acting_user: User, user: User, role: str) -> User:
    if role not in StaffRole.values:
        raise ActionError("Staff role must be reviewer, platform_admin or empty.", field="role")
    if user == acting_user and role != StaffRole.PLATFORM_ADMIN:
        raise ActionError("You cannot remove your own platform admin role.", status=409)
    before = user.staff_role
    user.staff_role = role
    user.save(update_fields=["staff_role"])
    audit_record(
        actor=acting_user,
        org=None,
        action="staff.role_changed",
        target=user,
        label=user.email,
        before={"staff_role": before},
        after={"staff_role": role},
    )
    return user


# --- projects and cohorts --------------------------------------------------------------


@transaction.atomic
def project_create(*, acting_user: User, org: Organization, name: str) -> Project:
    name = _clean_name(name, field="name", what="Project name")
    project = Project.objects.create(org=org, name=name)
    audit_record(
        actor=acting_user,
        org=org,
        action="project.created",
        target=project,
        after={"name": name, "project_id": project.public_id},
    )
    return project


@transaction.atomic
def project_regenerate_key(*, acting_user: User, project: Project) -> Project:
    project.api_key = new_api_key()
    project.save(update_fields=["api_key"])
    # Only the masked form reaches the audit log.
    audit_record(
        actor=acting_user,
        org=project.org,
        action="project.key_regenerated",
        target=project,
        after={"api_key": project.api_key_masked},
    )
    return project


@transaction.atomic
def project_reveal_key(*, acting_user: User, project: Project) -> None:
    """Record that an admin looked at the clear API key (the page shows it once)."""
    audit_record(actor=acting_user, org=project.org, action="project.key_revealed", target=project)


@transaction.atomic
def cohort_create(*, acting_user: User, project: Project, name: str) -> Cohort:
    name = _clean_name(name, field="name", what="Cohort name", limit=200)
    if Cohort.objects.filter(project=project, name__iexact=name).exists():
        raise ActionError(f"This project already has a cohort named {name!r}.", field="name")
    cohort = Cohort.objects.create(project=project, name=name)
    audit_record(
        actor=acting_user,
        org=project.org,
        action="cohort.created",
        target=cohort,
        after={"name": name, "cohort_id": cohort.public_id},
    )
    return cohort


@transaction.atomic
def cohort_delete(*, acting_user: User, cohort: Cohort) -> None:
    audit_record(
        actor=acting_user,
        org=cohort.project.org,
        action="cohort.deleted",
        target=cohort,
        before={"name": cohort.name, "members": cohort.member_count},
    )
    try:
        cohort.delete()
    except ProtectedError as error:
        # Apps above protect what they hold (a cohort sync); the refusal undoes the audit row.
        count = len(error.protected_objects)
        raise ActionError(
            f"{cohort.name} is synced to a destination ({count} cohort "
            f"sync{'s' if count != 1 else ''}): delete those syncs first.",
            status=409,
            code="cohort_in_use",
        ) from None


def _record_change(
    acting_user: User, cohort: Cohort, action: str, report: cohorts.ChangeReport, before: int
) -> None:
    if report.changed:
        audit_record(
            actor=acting_user,
            org=cohort.project.org,
            action=action,
            target=cohort,
            before={"members": before},
            after={
                "members": report.total,
                "snapshot": report.snapshot,
                "entered": report.entered,
                "left": report.left,
                "updated": report.updated,
            },
        )


@transaction.atomic
def cohort_members_replace(
    *, acting_user: User, cohort: Cohort, members: object
) -> cohorts.ChangeReport:
    """Replace every member with a JSON list (a full snapshot); one new snapshot if
    anything changed."""
    before = cohort.member_count
    try:
        report = cohorts.replace_members(cohort, members)
    except cohorts.MemberError as error:
        raise ActionError(str(error), field="members") from None
    _record_change(acting_user, cohort, "cohort.members_replaced", report, before)
    return report


@transaction.atomic
def cohort_members_replace_csv(
    *, acting_user: User, cohort: Cohort, csv_file: ByteStream
) -> cohorts.ChangeReport:
    """Replace every member with a CSV file (bytes, seekable), all or nothing."""
    before = cohort.member_count
    report = cohorts.load_csv(cohort, csv_file)
    if not report.ok:
        first = report.errors[0]
        where = f"line {first['row']}: " if first["row"] else ""
        raise ActionError(f"{where}{first['message']}", field="members", details=report.errors)
    _record_change(acting_user, cohort, "cohort.members_replaced", report, before)
    return report


@transaction.atomic
def cohort_members_change(
    *, acting_user: User, cohort: Cohort, add: object = None, remove: object = None
) -> cohorts.ChangeReport:
    """Add members and remove members (named by their identifiers) as one change."""
    return _change(acting_user, cohort, add=add, remove=remove, names=("add", "remove"))


@transaction.atomic
def cohort_members_add(
    *, acting_user: User, cohort: Cohort, members: object
) -> cohorts.ChangeReport:
    return _change(acting_user, cohort, add=members, names=("members", "members"))


@transaction.atomic
def cohort_members_remove(
    *, acting_user: User, cohort: Cohort, members: object
) -> cohorts.ChangeReport:
    return _change(acting_user, cohort, remove=members, names=("members", "members"))


def _change(
    acting_user: User,
    cohort: Cohort,
    *,
    add: object = None,
    remove: object = None,
    names: tuple[str, str],
) -> cohorts.ChangeReport:
    before = cohort.member_count
    try:
        report = cohorts.patch_members(cohort, add=add, remove=remove, names=names)
    except cohorts.MemberError as error:
        raise ActionError(str(error), field=error.field or names[0]) from None
    _record_change(acting_user, cohort, "cohort.members_changed", report, before)
    return report


MAX_CSV_BYTES = 200 * 1024 * 1024


@transaction.atomic
def cohort_import_start(
    *, acting_user: User, cohort: Cohort, upload: UploadedFile | None
) -> CohortImport:
    """Store the uploaded CSV and hand it to a worker; members change only if it is valid."""
    from portal.tasks import cohort_import_run

    if upload is None:
        raise ActionError("Choose a CSV file to upload.", field="file")
    if not upload.size:  # 0, or None for a file object that cannot tell
        raise ActionError("The file is empty.", field="file")
    if upload.size > MAX_CSV_BYTES:
        raise ActionError(
            f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.", field="file"
        )
    name = upload.name or "members.csv"
    if not name.lower().endswith((".csv", ".txt")):
        raise ActionError("Upload a .csv file (comma-separated, with a header row).", field="file")
    job = CohortImport.objects.create(
        cohort=cohort, uploaded_by=acting_user, original_name=name[:255], file=upload
    )
    audit_record(
        actor=acting_user,
        org=cohort.project.org,
        action="cohort.import_started",
        target=cohort,
        after={"file": name, "bytes": upload.size},
    )
    enqueue_on_commit(cohort_import_run, job)
    return job
