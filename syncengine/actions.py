"""Writes of the testing side: test settings, starting test runs, signing secrets.

Each action is one transaction with an audit row; a run's task is enqueued only when the
transaction commits, with the run's id as its only argument (credentials stay in the
database, encrypted).
"""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from integrations.manifests import LOGO_KEY, config_fingerprint, manifest_of
from integrations.models import Integration
from portal import access
from portal.audit import audit_record
from portal.errors import ActionError
from portal.jobs import enqueue_on_commit
from portal.models import CohortMember, Project, User
from syncengine import connect_values, testplan
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.core.manifest.schema import REQUIRED_ENDPOINTS
from syncengine.models import (
    DEFAULT_TEST_USERS,
    SigningSecret,
    TestKind,
    TestRun,
    TestSettings,
    UsersSource,
)
from syncengine.tasks import test_run_execute
from syncengine.testusers import (
    ADD,
    MAX_TEST_USERS,
    MIN_TEST_USERS,
    REMOVE,
    CsvError,
    TestUsers,
    csv_users,
    generated_users,
    parse_users_csv,
    split_add_remove,
)

MAX_LIST_ID_LENGTH = 200
SIGNING_SECRET_PREFIX = "whsec_"
SIGNING_SECRET_BYTES = 32
# How long requests carry the replaced secret's signature too, after a rotation.
SIGNING_ROTATION_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class TestCredentials:
    """Inputs for a run that does not use the integration's stored test settings.

    Reviewers re-running a submitted version pass these (the Connect-modal `values`,
    the `mapping` choices and the users); the partner's own runs use `TestSettings`.
    """

    __test__ = False  # not a pytest test class, despite the name

    values: Mapping[str, Any]
    mapping: Mapping[str, str] = field(default_factory=dict)
    users_source: str = UsersSource.GENERATED
    users_count: int = DEFAULT_TEST_USERS
    csv_rows: Sequence[Mapping[str, Any]] = ()


# --- helpers ------------------------------------------------------------------------------


def _project_of(integration: Integration, project_id: Any) -> Project:
    try:
        return access.get_project(integration.org, project_id)
    except Http404:
        raise ActionError(
            f"There is no project with Project ID {project_id} in {integration.org.name}.",
            field="project_id",
        ) from None


def _clean_list_id(list_id: object) -> str:
    if not isinstance(list_id, str):
        raise ActionError("The list id must be text.", field="list_id")
    list_id = list_id.strip()
    if len(list_id) > MAX_LIST_ID_LENGTH or any(ord(c) < 32 for c in list_id):
        raise ActionError(
            f"The list id must be one line of at most {MAX_LIST_ID_LENGTH} characters.",
            field="list_id",
        )
    return list_id


def _clean_count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int | str):
        raise ActionError("The number of users must be a whole number.", field="users_count")
    try:
        number = int(count)
    except ValueError:
        raise ActionError(
            "The number of users must be a whole number.", field="users_count"
        ) from None
    if not MIN_TEST_USERS <= number <= MAX_TEST_USERS:
        raise ActionError(
            f"The number of users must be between {MIN_TEST_USERS} and {MAX_TEST_USERS:,}.",
            field="users_count",
        )
    return number


def csv_refusal(error: CsvError) -> ActionError:
    """A CSV problem as an ActionError listing every line at fault."""
    return ActionError(
        f"The CSV of test users cannot be used: {error}",
        field="csv",
        code="invalid_csv",
        details=error.errors,
    )


# --- test settings ------------------------------------------------------------------------


@transaction.atomic
def test_settings_save(
    *,
    acting_user: User | None,
    integration: Integration,
    project_id: Any = None,
    api_key: str | None = None,
    values: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    users_source: str | None = None,
    users_count: Any = None,
    cohort_id: str | None = None,
    csv_data: bytes | None = None,
    csv_name: str = "",
    share_with_reviewers: bool | None = None,
    list_id: str | None = None,
) -> TestSettings:
    """Save the Testing panel's inputs. Arguments left as None keep their stored value.

    The project's API key is verified against the project (a blank key keeps the stored
    one while the project stays the same, and is the sandbox's own for the sandbox); empty
    secret values keep the stored secret; select values must be among the field's options;
    a CSV is validated row by row. Anything refused raises `ActionError` and nothing is
    saved.
    """
    settings = TestSettings.objects.select_for_update().filter(integration=integration).first()
    settings = settings or TestSettings(integration=integration)
    manifest = manifest_of(integration)
    changed: list[str] = []

    if project_id not in (None, ""):
        project = _project_of(integration, project_id)
        key = (api_key or "").strip()
        if not key and project.pk == settings.project_id and settings.project_api_key:
            key = settings.project_api_key
        if not key and project.is_sandbox:
            # The sandbox exists for testing: the platform fills in its key, which is then
            # checked and stored like any other.
            key = project.api_key
        if not key:
            raise ActionError(
                f"Enter the API key of {project.name} (Project ID {project.public_id}).",
                field="api_key",
            )
        if not project.api_key_matches(key):
            raise ActionError(
                f"This is not the API key of {project.name} (Project ID {project.public_id}). "
                "An admin finds it on the project's page.",
                field="api_key",
            )
        if project.pk != settings.project_id or key != settings.project_api_key:
            changed.append("project")
        settings.project, settings.project_api_key = project, key
    elif api_key:
        raise ActionError("Choose the project this API key belongs to.", field="project_id")

    if values is not None:
        cleaned = connect_values.clean_values(manifest, values, settings.values or {})
        changed += [
            f"values.{n}" for n in cleaned if cleaned.get(n) != (settings.values or {}).get(n)
        ]
        settings.values = cleaned
    if mapping is not None:
        cleaned_mapping = connect_values.clean_mapping(manifest, mapping)
        if cleaned_mapping != settings.mapping:
            changed.append("mapping")
        settings.mapping = cleaned_mapping
    if users_source is not None:
        if users_source not in UsersSource.values:
            raise ActionError(
                f"Test users come from one of: {', '.join(UsersSource.values)}.",
                field="users_source",
            )
        settings.users_source = users_source
    if users_count not in (None, ""):
        settings.users_count = _clean_count(users_count)
    if cohort_id not in (None, ""):
        try:
            cohort = access.get_cohort(integration.org, cohort_id)
        except Http404:
            raise ActionError(
                f"There is no cohort {cohort_id!r} in {integration.org.name}.", field="cohort_id"
            ) from None
        settings.cohort = cohort
    if csv_data is not None:
        try:
            settings.csv_rows = parse_users_csv(csv_data, manifest)
        except CsvError as error:
            raise csv_refusal(error) from None
        settings.csv_name = (csv_name or "users.csv")[:255]
        changed.append("csv")
    if share_with_reviewers is not None:
        settings.share_with_reviewers = bool(share_with_reviewers)
    if list_id is not None:
        settings.list_id = _clean_list_id(list_id)

    if settings.users_source == UsersSource.COHORT:
        if settings.cohort is None:
            raise ActionError("Choose the cohort to sample test users from.", field="cohort_id")
        if settings.project is not None and settings.cohort.project_id != settings.project_id:
            raise ActionError(
                f"The cohort {settings.cohort.name} is not in the project "
                f"{settings.project.name}; choose one of its cohorts.",
                field="cohort_id",
            )
    if settings.users_source == UsersSource.CSV and not settings.csv_rows:
        raise ActionError("Upload a CSV file of test users.", field="csv")

    settings.updated_by = acting_user
    settings.updated_at = timezone.now()
    settings.save()
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="test_settings.saved",
        target=integration,
        # Names of what changed, never values: some of them are secrets.
        after={
            "project_id": settings.project.public_id if settings.project else None,
            "users_source": settings.users_source,
            "users_count": settings.users_count,
            "csv_rows": len(settings.csv_rows),
            "share_with_reviewers": settings.share_with_reviewers,
            "changed": sorted(set(changed)),
        },
    )
    return settings


# --- test runs ----------------------------------------------------------------------------


def _users_spec(settings: TestSettings | TestCredentials) -> dict[str, Any]:
    if settings.users_source == UsersSource.GENERATED:
        return {"source": UsersSource.GENERATED, "count": _clean_count(settings.users_count)}
    if settings.users_source == UsersSource.CSV:
        rows = list(settings.csv_rows)
        if not rows:
            raise ActionError("Upload a CSV file of test users first.", field="csv")
        return {
            "source": UsersSource.CSV,
            "name": getattr(settings, "csv_name", "") or "users.csv",
            "rows": rows,
        }
    if settings.users_source == UsersSource.COHORT and isinstance(settings, TestSettings):
        cohort = settings.cohort
        if cohort is None:
            raise ActionError("Choose the cohort to sample test users from.", field="cohort_id")
        if not cohort.members.exists():
            raise ActionError(
                f"The cohort {cohort.name} has no members; upload some or choose another.",
                field="cohort_id",
            )
        return {
            "source": UsersSource.COHORT,
            "cohort": cohort.pk,
            "cohort_public_id": cohort.public_id,
            "name": cohort.name,
            "count": _clean_count(settings.users_count),
        }
    raise ActionError("Choose where the test users come from.", field="users_source")


def _sample_users(spec: Mapping[str, Any], integration: Integration) -> TestUsers:
    """A couple of the run's users, enough to check that every request can be built."""
    if spec["source"] == UsersSource.GENERATED:
        return generated_users(min(spec["count"], 2))
    if spec["source"] == UsersSource.CSV:
        return csv_users(spec["rows"])
    member = CohortMember.objects.filter(cohort_id=spec["cohort"]).order_by("member_key").first()
    users: dict[str, Mapping[str, Any]] = (
        {member.member_key: member.as_user()} if member is not None else {}
    )
    return split_add_remove(users, description="")


def _check_users_for_kind(kind: str, users: TestUsers, spec: Mapping[str, Any]) -> None:
    csv = spec["source"] == UsersSource.CSV
    adding, removing = bool(users.to_add), bool(users.to_remove)
    if kind == TestKind.FULL and csv and not (adding and removing):
        raise ActionError(
            f"A full test sends both {ADD} and {REMOVE} operations: the CSV needs at least one "
            f"{'remove' if adding else 'add'} row.",
            field="csv",
        )
    if kind == TestKind.ADD_USERS and not adding:
        raise ActionError("The CSV has no add rows to send.", field="csv")
    if kind == TestKind.REMOVE_USERS and not removing:
        raise ActionError("The CSV has no remove rows to send.", field="csv")


def _close_or_refuse_active(integration: Integration, version_id: int | None) -> None:
    active = TestRun.objects.filter(integration=integration, version_id=version_id).active()
    for run in active:
        if TestRun.close_if_abandoned(run.pk):
            continue
        raise ActionError(
            f"A test of this integration is already {run.get_status_display().lower()} "
            f"(run {run.pk}). Wait for it to finish, then start the next one.",
            status=409,
            code="test_running",
        )


@transaction.atomic
def test_run_start(
    *,
    acting_user: User | None,
    integration: Integration,
    kind: str = TestKind.FULL,
    manifest: Mapping[str, Any] | None = None,
    list_id: str | None = None,
    no_retries: bool = False,
    credentials: TestCredentials | None = None,
    version_id: int | None = None,
    enqueue: bool = True,
) -> TestRun:
    """Queue a test of the integration and enqueue its task when this transaction commits
    (`enqueue=False`: the caller runs it on its own thread, as the demo data does).

    `manifest` None tests the draft's current configuration; `credentials` None uses the
    stored test settings (whose project API key must still match). `list_id` (or the list
    id kept from an earlier create_list test) is needed for add_users / remove_users alone.
    `version_id` marks a reviewer's re-run of a submitted version. One run at a time per
    integration (and version): a second start while one is active is refused with 409.
    """
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    if kind not in TestKind.values:
        raise ActionError(
            f"The kind of test must be one of {', '.join(TestKind.values)}.", field="kind"
        )
    document = manifest_of(integration) if manifest is None else dict(manifest)
    if not isinstance(document, dict):
        raise ActionError("The manifest must be a JSON object.", field="manifest")
    normalized = normalize_manifest(document)
    errors = [d for d in check_manifest(normalized) if d.is_error]
    if errors:
        first = errors[0]
        raise ActionError(
            f"Fix the configuration before testing: {first.path or '(manifest)'}: "
            f"{first.message} ({len(errors)} error{'s' if len(errors) != 1 else ''} in all).",
            field="manifest",
            code="invalid_manifest",
            status=409,
            details=[d.as_dict() for d in errors],
        )
    integration_type = normalized.get("integration_type")
    required = (
        REQUIRED_ENDPOINTS.get(integration_type, ()) if isinstance(integration_type, str) else ()
    )
    allowed = {TestKind.FULL, *required}
    if kind not in allowed:
        raise ActionError(
            f"A {integration_type}-based integration has no {kind} endpoint to test.",
            field="kind",
        )

    stored: TestSettings | None = None
    if credentials is None:
        stored = (
            TestSettings.objects.select_related("project", "cohort")
            .filter(integration=integration)
            .first()
        )
        if stored is None:
            raise ActionError(
                "Save the test settings first: a project, its API key and the Connect-modal "
                "values.",
                field="project_id",
            )
        if stored.project is None:
            raise ActionError(
                "Choose the project to test with and enter its API key.", field="project_id"
            )
        if not stored.project.api_key_matches(stored.project_api_key):
            raise ActionError(
                f"The API key of {stored.project.name} has changed since it was saved here; "
                "enter the current one.",
                field="api_key",
            )
        values, mapping = dict(stored.values or {}), dict(stored.mapping or {})
        spec = _users_spec(stored)
        list_id = list_id if list_id not in (None, "") else stored.list_id
    else:
        values, mapping = dict(credentials.values), dict(credentials.mapping)
        spec = _users_spec(credentials)
    list_id = _clean_list_id(list_id or "")
    if kind in (TestKind.ADD_USERS, TestKind.REMOVE_USERS) and not list_id:
        raise ActionError(
            f"{kind} needs a list: run the create_list test first, or enter the id of an "
            "existing list.",
            field="list_id",
        )
    if kind in (TestKind.FULL, TestKind.CREATE_LIST):
        list_id = ""  # these create their own list

    signing = None
    if normalized.get("delivery", {}).get("sign_requests"):
        signing = SigningSecret.objects.filter(integration=integration).first()
        if signing is None:
            raise ActionError(
                "This integration signs its requests: generate its signing secret first "
                "(Testing panel, Signing secret), and configure your endpoint to verify it.",
                field="signing_secret",
                code="signing_secret_missing",
            )

    sample = _sample_users(spec, integration)
    _check_users_for_kind(kind, sample, spec)
    try:
        plan = testplan.build_plan(
            normalized,
            kind=kind,
            values=values,
            mapping=mapping,
            users=sample,
            scope="dry-run",
            cohort_id=spec.get("cohort_public_id", "test-cohort"),
            cohort_name=spec.get("name", testplan.DEFAULT_COHORT_NAME),
            list_id=list_id or None,
            no_retries=no_retries,
            signing_secret=signing.signing_key() if signing else None,
        )
        testplan.check_plan(plan)
    except testplan.TestSetupError as problem:
        text = str(problem)
        raise ActionError(
            f"{text[:1].upper()}{text[1:]}.", field="values", code="cannot_render"
        ) from None
    _close_or_refuse_active(integration, version_id)

    run = TestRun.objects.create(
        integration=integration,
        version_id=version_id,
        manifest={key: value for key, value in normalized.items() if key != LOGO_KEY},
        fingerprint=config_fingerprint(document if manifest is not None else integration),
        kind=kind,
        started_by=acting_user
        if acting_user is not None and acting_user.is_authenticated
        else None,
        no_retries=bool(no_retries),
        from_test_settings=credentials is None,
        values=values,
        mapping=mapping,
        users=spec,
        list_id=list_id,
    )
    if spec["source"] == UsersSource.COHORT:
        run.cohort_id, run.cohort_name = spec["cohort_public_id"], spec["name"][:200]
    else:
        run.cohort_id = f"test-run-{run.pk}"
        run.cohort_name = f"{testplan.DEFAULT_COHORT_NAME} #{run.pk}"
    run.save(update_fields=["cohort_id", "cohort_name"])
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="test_run.started",
        target=integration,
        after={
            "run": run.pk,
            "kind": kind,
            "users": spec["source"],
            "no_retries": run.no_retries,
            "version_id": version_id,
        },
    )
    if enqueue:
        enqueue_on_commit(test_run_execute, run)
    return run


# --- signing secrets ----------------------------------------------------------------------


@transaction.atomic
def signing_secret_rotate(*, acting_user: User | None, integration: Integration) -> str:
    """Create or replace the integration's signing secret; the clear value, shown once."""
    clear = SIGNING_SECRET_PREFIX + random_secrets.token_urlsafe(SIGNING_SECRET_BYTES)
    existing = SigningSecret.objects.select_for_update().filter(integration=integration).first()
    if existing is None:
        stored = SigningSecret.objects.create(
            integration=integration, secret=clear, created_by=acting_user
        )
    else:
        # The old secret keeps signing beside the new one for a while: a partner verifying
        # with it is not locked out the moment someone rotates.
        existing.previous_secret = existing.secret
        existing.previous_until = timezone.now() + SIGNING_ROTATION_WINDOW
        existing.secret, existing.created_by, existing.created_at = (
            clear,
            acting_user,
            timezone.now(),
        )
        existing.save()
        stored = existing
    audit_record(
        actor=acting_user,
        org=integration.org,
        action="signing_secret.rotated" if existing else "signing_secret.created",
        target=integration,
        after={
            "secret": stored.masked,
            "previous_signs_until": (
                stored.previous_until.isoformat() if stored.previous_until else None
            ),
        },
    )
    return clear


# Action functions named test_* are not pytest tests, wherever they are imported.
test_settings_save.__test__ = False  # type: ignore[attr-defined]
test_run_start.__test__ = False  # type: ignore[attr-defined]
