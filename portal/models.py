"""Tenancy: users, organisations, memberships, projects and cohorts, flags, audit log."""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.cache import caches
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.functions import Lower
from django.utils import timezone

from portal.crypto import EncryptedTextField, mask_secret
from portal.jobs import Job

# How member keys compare on PostgreSQL (see MemberKeyField).
MEMBER_KEY_COLLATION = "C"


class StaffRole(models.TextChoices):
    NONE = "", "None"
    REVIEWER = "reviewer", "Reviewer"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("staff_role", StaffRole.PLATFORM_ADMIN)
        return self.create_user(email, password, **fields)


class User(AbstractUser):
    """A person. Signs in by email; platform staff carry a staff role."""

    # None removes a field that AbstractUser declares; its stubs cannot express that.
    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    staff_role = models.CharField(max_length=20, choices=StaffRole.choices, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    # AbstractUser's stubs expect auth's username-based UserManager; people here sign in by
    # email, so theirs is a BaseUserManager with an email-first create_user.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    @property
    def is_reviewer(self) -> bool:
        return self.staff_role in {StaffRole.REVIEWER, StaffRole.PLATFORM_ADMIN}

    @property
    def is_platform_admin(self) -> bool:
        return self.staff_role == StaffRole.PLATFORM_ADMIN


class Organization(models.Model):
    """A customer of the platform. Its id is the ORG ID people quote to support."""

    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} (ORG ID {self.pk})"

    def flag_enabled(self, flag: str) -> bool:
        """Whether the flag is on. Remembered on this instance: a request asks it of its
        org several times (the access check, the navigation); `flag_set` forgets it."""
        known: dict[str, bool] = self.__dict__.setdefault("_flags_known", {})
        if flag not in known:
            known[flag] = self.flags.filter(flag=flag, enabled=True).exists()
        return known[flag]

    def remember_flag(self, flag: str, enabled: bool) -> None:
        """Take a flag read with the org (the request's membership query reads one)."""
        self.__dict__.setdefault("_flags_known", {})[flag] = enabled

    def forget_flags(self) -> None:
        self.__dict__.pop("_flags_known", None)


class MemberRole(models.TextChoices):
    ADMIN = "admin", "Org admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=MemberRole.choices, default=MemberRole.MEMBER)
    # Portal access is a permission of its own: not every member builds integrations.
    is_developer = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "org"], name="one_membership")]
        ordering = ["org__name", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.org.name} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == MemberRole.ADMIN


class OrgFlag(models.Model):
    """A feature flag switched on or off for one organisation."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="flags")
    flag = models.CharField(max_length=50)
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "flag"], name="one_flag_row")]

    def __str__(self) -> str:
        return f"{self.flag}={'on' if self.enabled else 'off'}"


class AccessRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    GRANTED = "granted", "Granted"
    DECLINED = "declined", "Declined"


class AccessRequest(models.Model):
    """An org asking the integrations team to switch a flag on."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="access_requests")
    flag = models.CharField(max_length=50)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    message = models.TextField(blank=True, max_length=2000)
    status = models.CharField(
        max_length=10, choices=AccessRequestStatus.choices, default=AccessRequestStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Why a request was declined: the requester reads it on Org settings and in the email.
    decline_reason = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "flag"],
                condition=models.Q(status="pending"),
                name="one_pending_request_per_flag",
            )
        ]

    def __str__(self) -> str:
        return f"{self.flag} for org {self.org_id} ({self.status})"


class PlatformSettings(models.Model):
    """Choices platform admins make for the whole platform: one row (`current()`)."""

    # Platforms that let anyone build integrations switch this on: a new organisation gets
    # the Developer Portal at sign-up instead of asking for it.
    grant_portal_to_new_orgs = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "platform settings"

    def __str__(self) -> str:
        return "platform settings"

    @classmethod
    def current(cls) -> PlatformSettings:
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class AuditEvent(models.Model):
    """One change, who made it, and the state before and after."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=60, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target_label}"


class ApiToken(models.Model):
    """A personal REST API token. Only its SHA-256 digest is stored; it is shown once."""

    PREFIX = "cp_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Invitation(models.Model):
    """An emailed link that makes its holder a member of an org."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=MemberRole.choices, default=MemberRole.MEMBER)
    is_developer = models.BooleanField(default=True)
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation of {self.email} to org {self.org_id}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


def new_project_public_id() -> int:
    return secrets.randbelow(900_000) + 100_000


def new_api_key() -> str:
    return secrets.token_hex(16)


class Project(models.Model):
    """An analytics project of an org: its Project ID and API key identify it."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    public_id = models.PositiveIntegerField(unique=True, default=new_project_public_id)
    name = models.CharField(max_length=120)
    api_key = EncryptedTextField(default=new_api_key)
    # Every organisation gets one at sign-up, for testing integrations before any real data
    # arrives; the Testing panel fills in its key by itself.
    is_sandbox = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def api_key_masked(self) -> str:
        return mask_secret(self.api_key)

    def api_key_matches(self, candidate: str) -> bool:
        return secrets.compare_digest(self.api_key.encode(), (candidate or "").encode())


def new_cohort_public_id() -> str:
    return secrets.token_hex(4)


class Cohort(models.Model):
    """A named set of users of a project; partners receive cohorts."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cohorts")
    public_id = models.CharField(max_length=16, unique=True, default=new_cohort_public_id)
    name = models.CharField(max_length=200)
    member_count = models.PositiveIntegerField(default=0)
    # Every change of membership makes a new snapshot: this number goes up by one, and
    # `CohortChange` rows say who entered and who left in it.
    snapshot = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "project", name="cohort_name_unique_in_project")
        ]

    def __str__(self) -> str:
        return self.name


class MemberKeyField(models.CharField):
    """A member's key (`CohortMember.member_key`, and wherever members are named by it).

    On PostgreSQL it is compared byte by byte (the "C" collation) rather than through the
    database's locale: imports sort and index a million keys at a time, and a locale's
    comparisons (`strcoll`) made that twice as slow. Keys are matched for equality and
    paged in key order (syncs' planning, `member_key > %(after)s`), so every table that
    holds them uses this field, and so sorts them the same way. The database's C.UTF-8
    collation orders by code point, as "C" does on UTF-8, so no order changed. SQLite
    compares text byte by byte already.
    """

    def db_parameters(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = MEMBER_KEY_COLLATION
        return parameters


class CohortMember(models.Model):
    """One user in a cohort. `member_key` is the identity used for diffs and delivery:
    the Amplitude ID when known, else the user ID."""

    # The key is the primary key: a surrogate id would be a second index and a sequence
    # to write per member, and nothing reads members but by cohort and key.
    pk = models.CompositePrimaryKey("cohort_id", "member_key")
    # No foreign key constraint and no index of its own (see `CohortChange.cohort`).
    cohort = models.ForeignKey(
        Cohort,
        on_delete=models.CASCADE,
        related_name="members",
        db_constraint=False,
        db_index=False,
    )
    # "u:" or "a:" and an identifier of at most 200 characters (cohorts.MAX_VALUE_LENGTH).
    member_key = MemberKeyField(max_length=210)
    user_id = models.CharField(max_length=200, blank=True)
    amplitude_id = models.BigIntegerField(null=True, blank=True)
    device_id = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    properties = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.member_key

    def as_user(self) -> dict:
        """The user as templates see it (see `member_user`)."""
        return member_user(
            self.properties, self.user_id, self.amplitude_id, self.device_id, self.email
        )


def member_user(
    properties: dict, user_id: str, amplitude_id: int | None, device_id: str, email: str
) -> dict:
    """A member's columns as templates see the user: the free-form properties, then the
    identifiers (which win over properties of the same name; a blank one is null)."""
    return {
        **properties,
        "user_id": user_id or None,
        "amplitude_id": amplitude_id,
        "device_id": device_id or None,
        "email": email or None,
    }


class CohortChange(models.Model):
    """One member entering (`entered`) or leaving a cohort in snapshot `snapshot`.

    The log lets a sync that delivered snapshot N exactly compute what changed up to
    snapshot M from the changes alone, without comparing whole cohorts. A change too big
    to log (`portal.cohort_changes.MAX_LOGGED_CHANGES`) has one marker row instead, keyed
    `portal.cohort_changes.WHOLESALE`; syncs compare whole cohorts across it. Written only by
    `portal.cohort_changes`; the syncs app prunes changes that every sync of the cohort
    has delivered past (portal's housekeeping leaves them alone).
    """

    id = models.BigAutoField(primary_key=True)
    # Members and changes are written a million at a time: a foreign key constraint would
    # check every row against the cohort (half the time of a large import), and the
    # composite indexes already lead with the cohort. Every write locks the cohort row
    # first, and a trigger removes the rows of a deleted cohort (migration 0007), so
    # neither table holds rows of a cohort that is gone.
    cohort = models.ForeignKey(
        Cohort,
        on_delete=models.CASCADE,
        related_name="changes",
        db_constraint=False,
        db_index=False,
    )
    snapshot = models.PositiveIntegerField()
    member_key = MemberKeyField(max_length=210)
    entered = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["cohort", "snapshot"], name="cohort_change_by_snapshot")]

    def __str__(self) -> str:
        return f"{'+' if self.entered else '-'}{self.member_key} @{self.snapshot}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Loading"
    SUCCEEDED = "succeeded", "Loaded"
    FAILED = "failed", "Failed"


IMPORT_LOST_MESSAGE = "the worker loading this file stopped before it finished; upload it again"


class CohortImport(Job):
    """A CSV upload of cohort members, loaded by a worker."""

    FINISHED_STATUSES = frozenset({ImportStatus.SUCCEEDED, ImportStatus.FAILED})

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="imports")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to="cohort-imports/")
    original_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    rows_read = models.PositiveIntegerField(default=0)
    rows_loaded = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.original_name}"

    @property
    def progress_cache_key(self) -> str:
        """Rows read so far, kept in the cache: the loading transaction is invisible until
        it commits."""
        return import_progress_key(self.pk)

    def close_unsent(self) -> bool:
        # Nothing was read yet, so there is no progress in the cache to clear (and the
        # cache may be down with the broker).
        message = (
            "the task queue could not be reached, so this file was not loaded; upload it again"
        )
        return CohortImport.finish(
            self.pk, None, status=ImportStatus.FAILED, errors=[{"row": None, "message": message}]
        )

    def on_lease_lapsed(self, *, worker_lost: bool) -> bool:
        # The load runs in one transaction, which died with its worker: nothing changed.
        failed = CohortImport.finish(
            self.pk,
            None,
            status=ImportStatus.FAILED,
            errors=[{"row": None, "message": IMPORT_LOST_MESSAGE}],
        )
        caches["progress"].delete(self.progress_cache_key)
        return failed


def import_progress_key(import_id: int) -> str:
    return f"cohort-import-progress:{import_id}"


class MailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboundMail(Job):
    """An email the portal sends (account mails, invitations, notices), stored before a
    worker sends it (`portal.mail`).

    The task is handed only this row's id: the body often carries a one-time link
    (password reset, email verification), so it is stored encrypted and never travels
    through the broker."""

    FINISHED_STATUSES = frozenset({MailStatus.SENT, MailStatus.FAILED})

    status = models.CharField(max_length=10, choices=MailStatus.choices, default=MailStatus.QUEUED)
    to = models.JSONField(default=list)
    subject = models.CharField(max_length=255)
    body = EncryptedTextField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"mail {self.pk} {self.subject!r} ({self.status})"

    def close_unsent(self) -> bool:
        # Not closed: a mail that could not be queued stays queued for the sweep to hand
        # to the broker again once it is back.
        return False

    def on_lease_lapsed(self, *, worker_lost: bool) -> bool:
        from portal import mail

        return mail.requeue(self.pk)
