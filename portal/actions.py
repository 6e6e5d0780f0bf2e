"""Writes to tenancy data. Each action is one transaction with an audit row; emails and
tasks go out only when it commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import cohorts
from portal.audit import audit_record
from portal.emails import email_on_commit
from portal.errors import ActionError
from portal.flags import FLAGS, flag_label
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
    """A new person and a new organisation they administer (portal flag off)."""
    email = _clean_email(email)
    full_name = (full_name or "").strip()[:150]
    org_name = _clean_name(org_name, field="org_name", what="Organisation name")
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
    org = Organization.objects.create(name=org_name)
    Membership.objects.create(user=user, org=org, role=MemberRole.ADMIN, is_developer=True)
    audit_record(
        actor=user,
        org=org,
        action="org.created",
        target=org,
        after={"name": org.name, "admin": user.email},
    )
    return user


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
def flag_set(*, acting_user: User, org: Organization, flag: str, enabled: bool) -> OrgFlag:
    _check_flag(flag)
    row, _ = OrgFlag.objects.select_for_update().get_or_create(org=org, flag=flag)
    before = row.enabled
    row.enabled = enabled
    row.updated_at = timezone.now()
    row.updated_by = acting_user
    row.save()
    org.forget_flags()
    if before != enabled:
        audit_record(
            actor=acting_user,
            org=org,
            action="flag.enabled" if enabled else "flag.disabled",
            target=org,
            label=f"{org.name}: {flag}",
            before={flag: before},
            after={flag: enabled},
        )
    if enabled:
        # A pending request for the flag is answered by switching it on, however it was done.
        for request in AccessRequest.objects.filter(
            org=org, flag=flag, status=AccessRequestStatus.PENDING
        ):
            _resolve_request(request, acting_user, AccessRequestStatus.GRANTED)
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
        label=f"{org.name}: {flag}",
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


@transaction.atomic
def access_request_decline(*, acting_user: User, access_request: AccessRequest) -> AccessRequest:
    if access_request.status != AccessRequestStatus.PENDING:
        raise ActionError(f"This request was already {access_request.status}.", status=409)
    _resolve_request(access_request, acting_user, AccessRequestStatus.DECLINED)
    return access_request


def _resolve_request(request: AccessRequest, acting_user: User, status: str) -> None:
    request.status = status
    request.resolved_by = acting_user
    request.resolved_at = timezone.now()
    request.save(update_fields=["status", "resolved_by", "resolved_at"])
    audit_record(
        actor=acting_user,
        org=request.org,
        action=f"access.{status}",
        target=request,
        label=f"{request.org.name}: {request.flag}",
        before={"status": "pending"},
        after={"status": status},
    )
    email_on_commit(
        to=[request.requested_by.email],
        subject=f"{flag_label(request.flag)}: your access request was {status}",
        template="emails/access_resolved.txt",
        context={"org": request.org, "flag": request.flag, "status": status},
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
    cohort.delete()


def _member_change(acting_user: User, cohort: Cohort, action: str, before: int) -> None:
    audit_record(
        actor=acting_user,
        org=cohort.project.org,
        action=action,
        target=cohort,
        before={"members": before},
        after={"members": cohort.member_count},
    )


@transaction.atomic
def cohort_members_replace(
    *, acting_user: User, cohort: Cohort, members: list
) -> cohorts.LoadReport:
    before = cohort.member_count
    try:
        report = cohorts.replace_members(cohort, members)
    except cohorts.MemberError as error:
        raise ActionError(str(error), field="members") from None
    if not report.ok:
        first = report.errors[0]
        raise ActionError(
            f"members[{first['row'] - 1}]: {first['message']}",
            field="members",
            details=report.errors,
        )
    _member_change(acting_user, cohort, "cohort.members_replaced", before)
    return report


@transaction.atomic
def cohort_members_add(*, acting_user: User, cohort: Cohort, members: list) -> int:
    before = cohort.member_count
    try:
        count = cohorts.add_members(cohort, members)
    except cohorts.MemberError as error:
        raise ActionError(str(error), field="members") from None
    _member_change(acting_user, cohort, "cohort.members_added", before)
    return count


@transaction.atomic
def cohort_members_remove(*, acting_user: User, cohort: Cohort, members: list) -> int:
    before = cohort.member_count
    try:
        count = cohorts.remove_members(cohort, members)
    except cohorts.MemberError as error:
        raise ActionError(str(error), field="members") from None
    _member_change(acting_user, cohort, "cohort.members_removed", before)
    return count


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
    cohort_import_run.delay_on_commit(job.pk)
    return job
