"""Test runs through the broker and a real worker, against bare httpx posting the same bodies.

Starts the demo partner in its own process on loopback and a Celery worker in its own
process (prefork, one child, as production runs it, on the configured Redis with a queue of
its own), then for each batch size (10,000 and 1,000 with 100,000 users; 10 with 10,000
users, 1,201 requests), in interleaved rounds:

- ours: `syncengine.actions.test_run_start` for a full test of a list-based draft with
  generated users, from the action's commit through the broker to the worker: the claim,
  the users, the plan, the sync protocol and `OutboundClient`, the recording of every
  exchange and step in PostgreSQL, until the run is finished (its `finished_at`);
- floor: the same request bodies, rendered beforehand, POSTed (and DELETEd) with a plain
  `httpx.Client` from 4 threads (the test's concurrency), create_list included, to the
  same demo partner.

Target: ours at least half the floor's rate (users per second). Uses its own throw-away
database (`<name>_testrun_bench`, after the configured database's name, on the same
PostgreSQL server, so that benches run beside each other never share one) and only
loopback traffic.
Run from the repository root with the test environment (`make bench` sets it):
`python bench/testrun_bench.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
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
from throughput_bench import start_partner  # noqa: E402

from demo_partner import manifests as demo_manifests  # noqa: E402

# (batch size, users): 13, 121 and 1,201 requests a run.
SHAPES = [(10_000, 100_000), (1_000, 100_000), (10, 10_000)]
DEFAULT_ROUNDS = 5
CONCURRENCY = 4
TOKEN = "demo-token"
RATIO_TARGET = 0.5
QUEUE = "bench-testrun"
RUN_TIMEOUT = 300.0
WORKER_TIMEOUT = 60.0


def setup_django() -> Any:
    import django
    from django.conf import settings

    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"{database['NAME']}_testrun_bench"
    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from portal.celery import app

    setup_test_environment()
    logging.getLogger("syncengine").setLevel(logging.WARNING)
    # A queue of its own: another worker on the same Redis never takes the bench's runs.
    app.conf.task_default_queue = QUEUE
    return connection


def start_worker() -> subprocess.Popen[bytes]:
    """A Celery worker as production runs it (prefork), on the bench's database."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    env = dict(os.environ)
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    env["DATABASE_URL"] = (
        f"postgres://{database['USER']}{password}@"
        f"{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--queues",
            QUEUE,
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # its banner; errors go to stderr
    )


def prepare(base: str, batch_size: int, users: int) -> tuple[Any, Any]:
    from integrations import actions as integration_actions
    from portal.models import MemberRole, Membership, Organization, Project, User
    from syncengine import actions

    email = f"bench-{batch_size}@example.com"
    user = User.objects.create_user(email, "bench-password-2026")
    org = Organization.objects.create(name=f"Bench {batch_size}")
    Membership.objects.create(user=user, org=org, role=MemberRole.ADMIN, is_developer=True)
    project = Project.objects.create(org=org, name="Bench")
    manifest = demo_manifests.list_manifest(
        base,
        name=f"Bench Lists {batch_size}",
        batch_size=batch_size,
        delivery={"max_concurrency": CONCURRENCY},
    )
    draft = integration_actions.integration_import(acting_user=user, org=org, manifest=manifest)
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


def test_run(user: Any, draft: Any, users: int, worker: subprocess.Popen[bytes]) -> float:
    """One test run from the action to its end on the worker; its seconds."""
    from syncengine import actions
    from syncengine.models import TestRun

    started = time.time()
    run = actions.test_run_start(acting_user=user, integration=draft)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        finished = TestRun.objects.filter(pk=run.pk, finished_at__isnull=False).first()
        if finished is not None:
            break
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited with status {worker.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"test run {run.pk} did not finish in {RUN_TIMEOUT:.0f} s")
        time.sleep(0.05)  # the run's own finished_at is the measure, not this poll
    assert finished.finished_at is not None
    elapsed = finished.finished_at.timestamp() - started
    if finished.status != "passed" or finished.delivered.get("add_users") != users:
        raise SystemExit(f"the test run did not pass: {finished.status} {finished.summary}")
    if finished.exchanges.count() != finished.exchange_count or finished.exchange_count < 3:
        raise SystemExit("the exchanges were not all recorded")
    return elapsed


def bare_bodies(manifest: dict[str, Any], users: int) -> tuple[list[bytes], list[bytes]]:
    """The add and remove bodies a full test of `users` generated users sends."""
    from syncengine.core.compiler import compile_manifest
    from syncengine.core.protocol import plan_batches
    from syncengine.core.types import RenderContext
    from syncengine.testusers import generated_users

    integration = compile_manifest(manifest)
    chosen = generated_users(users)
    context = RenderContext(
        values={"bearer_token": TOKEN}, mapping={"user_id_field": "user_id"}, list_id="bare"
    )

    def bodies(endpoint: str, members: dict[str, Any]) -> list[bytes]:
        size = integration.batch_size(endpoint)
        rendered = []
        for batch in plan_batches(endpoint, members, size=size, scope="bare"):
            request = integration.build_request(
                endpoint, context=context, users=batch.users, batch_id=batch.batch_id
            )
            assert request.body is not None
            rendered.append(request.body)
        return rendered

    return bodies("add_users", chosen.to_add), bodies("remove_users", chosen.to_remove)


def bare_run(base: str, adds: list[bytes], removes: list[bytes]) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with (
        httpx.Client(headers=headers, timeout=60) as client,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        started = time.perf_counter()
        created = client.post(f"{base}/v1/lists", json={"name": "Bare"})
        created.raise_for_status()
        url = f"{base}/v1/lists/{created.json()['data']['id']}/members"

        def send(method: str, body: bytes) -> None:
            client.request(method, url, content=body).raise_for_status()

        list(pool.map(lambda body: send("POST", body), adds))
        list(pool.map(lambda body: send("DELETE", body), removes))
        return time.perf_counter() - started


def run(rounds: int = DEFAULT_ROUNDS) -> list[Row]:
    connection = setup_django()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    partner, base = start_partner()
    worker = start_worker()
    try:
        rows = []
        for batch_size, users in SHAPES:
            user, draft = prepare(base, batch_size, users)
            adds, removes = bare_bodies(draft.config, users)
            requests = 1 + len(adds) + len(removes)
            rows.append(
                measure(
                    f"test run on a worker, {users:,} users, batch {batch_size:,} "
                    f"({requests:,} requests)",
                    lambda user=user, draft=draft, users=users: (
                        users / test_run(user, draft, users, worker)
                    ),
                    lambda adds=adds, removes=removes, users=users: (
                        users / bare_run(base, adds, removes)
                    ),
                    rounds=rounds,
                    target_ratio=RATIO_TARGET,
                    higher_is_better=True,
                    unit="users/s",
                    # The first round of the first shape also waits for the worker.
                    floor_name="bare httpx.Client, 4 threads, the same bodies pre-rendered, "
                    "to the same demo partner",
                )
            )
        return rows
    finally:
        worker.terminate()
        worker.wait(timeout=WORKER_TIMEOUT)
        partner.terminate()
        partner.wait(timeout=10)
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    return report(run(args.rounds))


if __name__ == "__main__":
    sys.exit(main())
