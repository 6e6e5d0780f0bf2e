"""Test-run throughput: a 100,000-user full test through the real test-run executor.

Starts the demo partner in its own process on loopback, then several times each:

- executor: `syncengine.actions.test_run_start` for a full test of a list-based draft
  with 100,000 generated users (batches of 10,000), its Celery task run eagerly when the
  action's transaction commits, so the measured path is the real one: the task, the
  claim, the plan, the sync protocol and `OutboundClient`, and the recording of every
  exchange and step in PostgreSQL (create_list, 10 adds, 2 removes of the 20,000 users a
  full test takes out again);
- bare: the same request bodies, rendered beforehand, POSTed (and DELETEd) with a plain
  `httpx.Client` from 4 threads, create_list included.

One row: users per second of both (median and min of interleaved rounds; 100,000 users
per round), target: the executor at least half the bare client's rate. Uses its own
throw-away database (`bench_testrun` on the configured PostgreSQL server) and only loopback
traffic. Run from the repository root with the test
environment (`make bench` sets it): `python bench/testrun_bench.py [--users N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from protocol import Row, measure, report  # noqa: E402
from throughput_bench import manifest as list_manifest  # noqa: E402
from throughput_bench import start_partner  # noqa: E402

DEFAULT_USERS = 100_000
DEFAULT_RUNS = 5
CONCURRENCY = 4
TOKEN = "demo-token"
RATIO_TARGET = 0.5


def setup_django() -> Any:
    import django
    from django.conf import settings

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_testrun"
    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from portal.celery import app

    setup_test_environment()
    # One INFO line per partner request and per run would bury the figures; the cost of
    # logging thirteen lines is far below the measurement's noise.
    for name in ("syncengine", "celery"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The task runs in this process when the action commits: no broker, no worker, the
    # same task function and executor.
    app.conf.task_always_eager = True
    return connection


def prepare(base: str, users: int) -> tuple[Any, Any]:
    from integrations import actions as integration_actions
    from portal.models import MemberRole, Membership, Organization, Project, User
    from syncengine import actions

    user = User.objects.create_user("bench@example.com", "bench-password-2026")
    org = Organization.objects.create(name="Bench")
    Membership.objects.create(user=user, org=org, role=MemberRole.ADMIN, is_developer=True)
    project = Project.objects.create(org=org, name="Bench")
    draft = integration_actions.integration_import(
        acting_user=user, org=org, manifest=list_manifest(base)
    )
    actions.test_settings_save(
        acting_user=user,
        integration=draft,
        project_id=project.public_id,
        api_key=project.api_key,
        values={"bearer_token": TOKEN},
        mapping={"user_id_field": "user_id"},
        users_source="generated",
        users_count=users,
    )
    return user, draft


def executor_run(user: Any, draft: Any, users: int) -> float:
    from syncengine import actions
    from syncengine.models import TestRun

    started = time.perf_counter()
    run = actions.test_run_start(acting_user=user, integration=draft)
    elapsed = time.perf_counter() - started
    run = TestRun.objects.get(pk=run.pk)
    if run.status != "passed" or run.delivered.get("add_users") != users:
        raise SystemExit(f"the test run did not pass: {run.status} {run.summary}")
    if run.exchanges.count() != run.exchange_count or run.exchange_count < 3:
        raise SystemExit("the exchanges were not all recorded")
    return elapsed


def bare_bodies(draft: Any, users: int) -> tuple[list[bytes], list[bytes]]:
    """The add and remove bodies a full test of `users` generated users sends."""
    from syncengine.core.compiler import compile_manifest
    from syncengine.core.protocol import plan_batches
    from syncengine.core.types import RenderContext
    from syncengine.testusers import generated_users

    integration = compile_manifest(draft.config)
    chosen = generated_users(users)
    context = RenderContext(
        values={"bearer_token": TOKEN}, mapping={"user_id_field": "user_id"}, list_id="bare"
    )

    def bodies(endpoint: str, members: dict) -> list[bytes]:
        size = integration.batch_size(endpoint)
        return [
            integration.build_request(
                endpoint, context=context, users=batch.users, batch_id=batch.batch_id
            ).body
            for batch in plan_batches(endpoint, members, size=size, scope="bare")
        ]

    return bodies("add_users", chosen.to_add), bodies("remove_users", chosen.to_remove)


def bare_run(base: str, adds: list[bytes], removes: list[bytes], run: int) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with (
        httpx.Client(headers=headers, timeout=60) as client,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        started = time.perf_counter()
        created = client.post(f"{base}/v1/lists", json={"name": f"Bare {run}"})
        created.raise_for_status()
        url = f"{base}/v1/lists/{created.json()['data']['id']}/members"

        def send(method: str, body: bytes) -> None:
            client.request(method, url, content=body).raise_for_status()

        list(pool.map(lambda body: send("POST", body), adds))
        list(pool.map(lambda body: send("DELETE", body), removes))
        return time.perf_counter() - started


def run(users: int = DEFAULT_USERS, runs: int = DEFAULT_RUNS) -> list[Row]:
    connection = setup_django()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    process, base = start_partner()
    try:
        user, draft = prepare(base, users)
        adds, removes = bare_bodies(draft, users)
        rounds = iter(range(10**6))
        requests = 1 + len(adds) + len(removes)
        return [
            measure(
                f"test run, {users:,} users, {requests} requests",
                lambda: users / executor_run(user, draft, users),
                lambda: users / bare_run(base, adds, removes, next(rounds)),
                rounds=runs,
                target_ratio=RATIO_TARGET,
                higher_is_better=True,
                unit="users/s",
                floor_name="bare httpx.Client, 4 threads, the same bodies pre-rendered, "
                "to the same demo partner",
            )
        ]
    finally:
        process.terminate()
        process.wait(timeout=10)
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    args = parser.parse_args()
    return report(run(args.users, args.runs))


if __name__ == "__main__":
    sys.exit(main())
