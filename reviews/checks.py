"""Reviewers' own runs against a submitted version: re-running the partner's test and the
automated conformance checks.

Credentials: the partner's saved test values when they chose to share them with reviewers,
otherwise the values the reviewer enters. Either way they are stored encrypted on the run
and only the run's id reaches the worker.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from integrations.manifests import manifest_of
from integrations.models import IntegrationVersion, VersionKind
from portal.audit import audit_record
from portal.errors import ActionError
from portal.jobs import enqueue_on_commit
from portal.models import User
from reviews.models import ConformanceRun
from reviews.tasks import conformance_run_execute
from syncengine.actions import TestCredentials, test_run_start
from syncengine.core.preview import sample_mapping
from syncengine.models import TestKind, TestRun, UsersSource
from syncengine.selectors import test_settings_for


def _require_reviewer(user: User) -> None:
    if not user.is_reviewer:
        raise ActionError("Only reviewers run checks on submitted versions.", status=403)


def _clean(values: Any) -> dict[str, str]:
    if not isinstance(values, dict):
        return {}
    return {str(k): str(v) for k, v in values.items() if v not in (None, "")}


def reviewer_entered_values(version: IntegrationVersion, reviewer: User) -> dict[str, str]:
    """The values this reviewer entered for their latest check of this version (kept,
    encrypted, on that run), so that the form need not be filled in again; {} when their
    latest check used the partner's shared credentials or there was none."""
    latest = max(
        (
            run
            for run in (
                ConformanceRun.objects.filter(version=version, started_by=reviewer).first(),
                TestRun.objects.filter(version_id=version.pk, started_by=reviewer).first(),
            )
            if run is not None
        ),
        key=lambda run: run.created_at,
        default=None,
    )
    if latest is None or not latest.values:
        return {}
    stored = test_settings_for(version.integration)
    if stored.pk and stored.share_with_reviewers and dict(latest.values) == dict(stored.values):
        return {}
    return _clean(dict(latest.values))


def reviewer_credentials(
    version: IntegrationVersion,
    *,
    values: dict | None = None,
    mapping: dict | None = None,
    reviewer: User | None = None,
) -> TestCredentials:
    """What a reviewer's run uses: the values entered (a field left blank keeps what the
    reviewer entered last time), else the partner's shared ones."""
    given = _clean(values)
    if reviewer is not None:
        kept = reviewer_entered_values(version, reviewer)
        given = {**kept, **given} if kept else given
    chosen_mapping = _clean(mapping)
    stored = test_settings_for(version.integration)
    if not given:
        if not (stored.pk and stored.share_with_reviewers and stored.values):
            raise ActionError(
                "The partner did not share test credentials with reviewers: enter the "
                "Connect-modal values to test with.",
                field="values",
                code="credentials_required",
            )
        given = dict(stored.values)
        chosen_mapping = chosen_mapping or dict(stored.mapping or {})
    shared_csv = bool(
        stored.pk
        and stored.share_with_reviewers
        and stored.users_source == UsersSource.CSV
        and stored.csv_rows
    )
    return TestCredentials(
        values=given,
        # A mapping field nobody chose reads its first option, as in the editor's preview.
        mapping=sample_mapping(version.config, chosen_mapping),
        # A partner's cohort belongs to their org; reviewers test with generated users or
        # the partner's shared CSV rows.
        users_source=UsersSource.CSV if shared_csv else UsersSource.GENERATED,
        users_count=stored.users_count if stored.pk else 25,
        csv_rows=stored.csv_rows if shared_csv else (),
    )


def _submission(version: IntegrationVersion) -> None:
    if version.kind != VersionKind.SUBMISSION:
        raise ActionError("Only submitted versions are reviewed.", status=409)


def review_rerun_test(
    *,
    acting_user: User,
    version: IntegrationVersion,
    values: dict | None = None,
    mapping: dict | None = None,
    no_retries: bool = False,
) -> TestRun:
    """Run the full test again against the partner's endpoint, on the frozen version."""
    _require_reviewer(acting_user)
    _submission(version)
    return test_run_start(
        acting_user=acting_user,
        integration=version.integration,
        kind=TestKind.FULL,
        manifest=manifest_of(version),
        no_retries=no_retries,
        credentials=reviewer_credentials(
            version, values=values, mapping=mapping, reviewer=acting_user
        ),
        version_id=version.pk,
    )


@transaction.atomic
def conformance_start(
    *,
    acting_user: User,
    version: IntegrationVersion,
    values: dict | None = None,
    mapping: dict | None = None,
) -> ConformanceRun:
    _require_reviewer(acting_user)
    _submission(version)
    unfinished = version.conformance_runs.active()
    for run_id in unfinished.values_list("pk", flat=True):
        ConformanceRun.close_if_abandoned(run_id)
    if unfinished.exists():
        raise ActionError("Conformance checks are already running for this version.", status=409)
    credentials = reviewer_credentials(
        version, values=values, mapping=mapping, reviewer=acting_user
    )
    return _conformance_create(version, credentials, actor=acting_user, started_by=acting_user)


def conformance_on_submit(*, version: IntegrationVersion, submitter: User) -> ConformanceRun | None:
    """The checks a submitted version gets by itself, so that reviewers find their results
    on arrival: only with the test credentials the partner shared with reviewers (the
    checks call the partner's endpoint with them), otherwise nothing is started."""
    stored = test_settings_for(version.integration)
    if not (stored.pk and stored.share_with_reviewers and stored.values):
        return None
    credentials = reviewer_credentials(version)
    # No one in particular started it: the page says it ran on submission.
    return _conformance_create(version, credentials, actor=submitter, started_by=None)


def _conformance_create(
    version: IntegrationVersion,
    credentials: TestCredentials,
    *,
    actor: User,
    started_by: User | None,
) -> ConformanceRun:
    run = ConformanceRun.objects.create(
        version=version,
        values=dict(credentials.values),
        mapping=dict(credentials.mapping),
        started_by=started_by,
    )
    audit_record(
        actor=actor,
        org=version.integration.org,
        action="review.conformance",
        target=version,
        after={"conformance_run": run.pk, "on_submit": started_by is None},
    )
    enqueue_on_commit(conformance_run_execute, run)
    return run
