"""Schema-driven fuzzing of the whole REST API: whatever schemathesis sends, no 5xx.

The schema is the one the portal serves at /api/schema/; requests go through the real WSGI
application as alice (a developer of an org with the portal on) with a real API token, so
the generated calls reach the views rather than stopping at authentication.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

# Bounded so the suite stays quick; raise locally to fuzz harder.
EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def wsgi_app(cast):
    from django.core import signals
    from django.db import close_old_connections

    from portal.wsgi import application

    # As Django's test client does: requests served inside a test must not close the
    # test's database connection (it holds the test transaction).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def real_objects(cast) -> dict[str, object]:
    """Objects of alice's org (and one version) for path parameters to point at."""
    from integrations import actions as integration_actions
    from integrations import releases
    from portal import actions
    from syncs import runs
    from tests.integrations.conftest import fixture_manifest
    from tests.syncs.builders import add_sync, connect

    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Fuzzed")
    integration = integration_actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest()
    )
    version = releases.integration_release(acting_user=cast.alice, integration=integration)
    connection = connect(cast, integration.destinations.get(), mapping={})
    sync = add_sync(cast, connection, cohort=cohort)
    sync_run = runs.run_create(sync, kind="manual", enqueue=False)
    return {
        "destination_id": connection.destination_id,
        "connection_id": connection.pk,
        "sync_id": sync.pk,
        "sync_run_id": sync_run.pk,
        "integration_id": integration.pk,
        "number": 1,
        "version_id": version.pk,
        "project_id": cast.acme_project.public_id,
        "cohort_id": cohort.public_id,
    }


def test_no_generated_request_makes_the_api_fail(cast, wsgi_app):
    from portal import actions

    _, token = actions.token_create(acting_user=cast.alice, org=cast.acme, name="fuzz")
    real_ids = real_objects(cast)
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    def fuzzer(operation):
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            # Every other case aims at objects that exist, so the generated bodies and
            # queries reach the views' own logic instead of stopping at a 404.
            if sum(statuses.values()) % 2 == 0:
                for name in case.path_parameters or {}:
                    if name in real_ids:
                        case.path_parameters[name] = real_ids[name]
            response = case.call(headers={"Authorization": f"Token {token}"})
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path} -> {response.status_code} for "
                    f"{case.path_parameters} {case.query} {str(case.body)[:200]}"
                )

        return fuzz

    for operation in operations:
        fuzzer(operation)()
    assert failures == []
    # The calls reached the views: successes and validation refusals, not only 401/403s.
    assert statuses[200] + statuses[201] > 50, statuses
    assert statuses[400] > 20, statuses
