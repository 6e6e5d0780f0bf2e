"""Reads of test runs and test settings, always scoped through the integration's org."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from integrations.access import integrations_for
from integrations.manifests import config_fingerprint
from integrations.models import Integration
from portal.access import as_int
from portal.models import Organization
from syncengine.models import (
    SigningSecret,
    TestExchange,
    TestKind,
    TestRun,
    TestSettings,
    TestStatus,
)


def passing_full_test(
    integration: Integration, *, fingerprint: str | None = None
) -> TestRun | None:
    """The latest passed full test of exactly the draft's current configuration, if any.

    Submitting needs one: any edit since the test changes the fingerprint, so the test no
    longer counts. Reviewers' re-runs of a version (`version_id` set) are not the
    partner's evidence and do not count either. `fingerprint`: the draft's
    `config_fingerprint`, when the caller has it already.
    """
    return (
        TestRun.objects.filter(
            integration=integration,
            kind=TestKind.FULL,
            status=TestStatus.PASSED,
            version_id__isnull=True,
            fingerprint=fingerprint or config_fingerprint(integration),
        )
        .order_by("-finished_at", "-id")
        .first()
    )


def test_runs_for(integration: Integration) -> QuerySet[TestRun]:
    """The integration's runs, newest first (the partner's own; not reviewers' re-runs)."""
    return TestRun.objects.filter(integration=integration, version_id__isnull=True).select_related(
        "started_by"
    )


def get_test_run(org: Organization, pk: int | str) -> TestRun:
    """A run of one of the org's integrations; any other is a 404."""
    return get_object_or_404(
        TestRun.objects.filter(integration__org=org).select_related("integration", "started_by"),
        pk=as_int(pk),
    )


def get_exchange(run: TestRun, sequence: int | str) -> TestExchange:
    return get_object_or_404(run.exchanges.all(), sequence=as_int(sequence))


def test_settings_for(integration: Integration) -> TestSettings:
    """The stored test settings, or fresh defaults (unsaved) for a first visit."""
    found = (
        TestSettings.objects.filter(integration=integration)
        .select_related("project", "cohort")
        .first()
    )
    return found if found is not None else TestSettings(integration=integration)


def integration_with_test_settings(
    org: Organization, pk: int | str
) -> tuple[Integration, TestSettings]:
    """A draft of the org (any other is a 404) and its test settings as `test_settings_for`
    gives them, in one query: the Testing panel shows both."""
    rows = integrations_for(org).select_related("test_settings__project", "test_settings__cohort")
    # The page shows the logo by its address: of its bytes, only the full logo's may be
    # needed, to fingerprint a configuration the panel has not seen yet (`panel_config`).
    integration = get_object_or_404(rows.defer("logo__tile_png"), pk=as_int(pk))
    try:
        settings = integration.test_settings
    except TestSettings.DoesNotExist:  # read with the draft: no query asks again
        settings = TestSettings(integration=integration)
    return integration, settings


def signing_secret_of(integration: Integration) -> SigningSecret | None:
    return SigningSecret.objects.filter(integration=integration).first()
