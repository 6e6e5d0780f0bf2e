"""Pages partners wait on, served by gunicorn as the Dockerfile runs it, against a trivial view.

Creates a throw-away test database with the test suite's cast; Acme gets 20 drafts (one
with 20 custom fields, 5 mapping fields and 3 endpoints, its test settings saved and ten
finished test runs). gunicorn is started as the Dockerfile runs it (`bench/server.py`,
DEBUG=false), alice signs in through the sign-in form, and 4 client threads with her
session request each page as fast as it answers, in interleaved rounds with the floor:
`/healthz` (a view that does nothing, through the same middleware) on the same server.

Rows (requests per second): the dashboard (where `/` lands), the Developer Portal home
(the list of the org's integrations), the configuration editor and the test page. Target:
each at least 40 % of the floor's rate.

Run from the repository root with the test environment (`make bench` sets it):
`python bench/pages_bench.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from preview_bench import bench_manifest  # noqa: E402
from protocol import Row, measure, report  # noqa: E402
from server import portal_server, signed_in  # noqa: E402

DEFAULT_ROUNDS = 5
THREADS = 4
REQUESTS_PER_ROUND = 60
RATIO_TARGET = 0.4
DRAFTS = 20
RUNS = 10


def seed() -> tuple[object, int]:
    """The cast, Acme's drafts and the editor's draft with settings and finished runs."""
    from django.utils import timezone

    from integrations import actions as integration_actions
    from syncengine import actions
    from syncengine.models import TestRun
    from tests.conftest import build_cast

    cast = build_cast()
    draft = integration_actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=bench_manifest()
    )
    for number in range(DRAFTS - 1):
        manifest = bench_manifest() | {"display_name": f"Bench Draft {number}"}
        integration_actions.integration_import(
            acting_user=cast.alice, org=cast.acme, manifest=manifest
        )
    actions.test_settings_save(
        acting_user=cast.alice,
        integration=draft,
        project_id=cast.acme_project.public_id,
        api_key=cast.acme_project.api_key,
        values={"bearer_token": "bench-token", "region": "us"}
        | {f"setting_{n}": f"value {n}" for n in range(17)},
        mapping={f"id_{n}": "user_id" for n in range(5)},
        users_source="generated",
        users_count=25,
    )
    for _ in range(RUNS):
        run = actions.test_run_start(acting_user=cast.alice, integration=draft)
        TestRun.objects.filter(pk=run.pk).update(
            status="passed", started_at=timezone.now(), finished_at=timezone.now()
        )
    return cast, draft.pk


def rate_of(client: httpx.Client, path: str) -> Callable[[], float]:
    """A round: THREADS threads share REQUESTS_PER_ROUND requests of `path`; req/s."""
    headers = dict(client.headers)
    cookies = dict(client.cookies)
    base = str(client.base_url)

    def round_rate() -> float:
        left = iter(range(REQUESTS_PER_ROUND))
        lock = threading.Lock()
        failures: list[int] = []

        def work() -> None:
            with httpx.Client(base_url=base, headers=headers, cookies=cookies) as own:
                while True:
                    with lock:
                        if next(left, None) is None:
                            return
                    status = own.get(path).status_code
                    if status != 200:
                        failures.append(status)

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{path} answered {failures[:3]}")
        return REQUESTS_PER_ROUND / elapsed

    return round_rate


def run(rounds: int = DEFAULT_ROUNDS) -> list[Row]:
    from tests.conftest import PASSWORD

    setup_test_environment()
    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}_pages_bench"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        cast, draft_id = seed()
        connection.close()
        pages = [
            ("dashboard (where / lands)", "/dashboard/"),
            ("Developer Portal home (20 integrations)", "/portal/"),
            ("configuration editor (20 fields)", f"/portal/integrations/{draft_id}/configure"),
            ("test page (10 runs)", f"/portal/integrations/{draft_id}/test/"),
        ]
        rows = []
        with portal_server() as base, signed_in(base, cast.alice.email, PASSWORD) as client:
            for name, path in pages:
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
                rows.append(
                    measure(
                        f"page: {name}",
                        rate_of(client, path),
                        rate_of(client, "/healthz"),
                        rounds=rounds,
                        target_ratio=RATIO_TARGET,
                        higher_is_better=True,
                        unit="req/s",
                        floor_name=f"/healthz on the same gunicorn; {THREADS} client threads, "
                        f"{REQUESTS_PER_ROUND} requests a round",
                    )
                )
        return rows
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    return report(run(args.rounds))


if __name__ == "__main__":
    sys.exit(main())
