"""Schema-driven fuzzing of the whole REST API: whatever schemathesis sends, no 5xx.

The schema is the one the portal serves at /api/schema/; requests go through the real WSGI
application as alice (a developer of an org with the portal on) with a real API token, so
the generated calls reach the views rather than stopping at authentication.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

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
    assert statuses[400] + statuses[409] > 20, statuses


# --- every check, every phase, against the portal as it runs --------------------------

# Bounded: a few examples per operation and per phase, a fixed seed (so a failure is
# reproducible with the command the test prints), a few minutes in all.
SCHEMATHESIS_EXAMPLES = 5
SCHEMATHESIS_SEED = 14
SCHEMATHESIS_CONFIG = Path(__file__).resolve().parent / "schemathesis" / "schemathesis.toml"


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_failure_with_every_check_and_phase(cast, tmp_path):
    """`schemathesis run` with all checks (server errors, status codes, content types,
    response schemas, headers, valid data accepted, invalid data refused, authentication,
    use after free, resource availability...) and all phases (examples, coverage, fuzzing,
    and stateful runs that follow the schema's links from created objects), against
    gunicorn on the test database, as alice."""
    from portal import actions
    from tests.web import web_process

    _, token = actions.token_create(acting_user=cast.alice, org=cast.acme, name="schemathesis")
    real_objects(cast)
    with web_process(tmp_path / "web.log", workers=2) as url:
        command = [
            *(sys.executable, "-m", "schemathesis.cli"),
            *("--config-file", str(SCHEMATHESIS_CONFIG), "run", f"{url}/api/schema/"),
            *("--checks", "all", "--phases", "examples,coverage,fuzzing,stateful"),
            *("--max-examples", str(SCHEMATHESIS_EXAMPLES), "--seed", str(SCHEMATHESIS_SEED)),
            *("--workers", "1", "--request-timeout", "60", "--no-color"),
            *("-H", f"Authorization: Token {token}"),
        ]
        result = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False
        )
    summary = result.stdout[-3000:]
    print(summary)
    assert result.returncode == 0, summary + result.stderr[-2000:]
    # Every phase ran (a phase with nothing to do shows as skipped, and fails the test).
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in summary, summary
