"""Cohort syncs at scale: the diff of a big cohort, and a first sync of a million members.

Measures, in interleaved rounds (floor, ours, floor, ours, ...), each against a floor
measured in the same run on the same data:

1. **diff (1 % churn)**: a 2,000,000-member cohort whose sync delivered it exactly, then
   10,000 members leave and 10,000 enter. Ours: planning a run (`syncs.planning`: the
   incremental diff from the change log, the batches with their users and ids written
   in one transaction). Floor: one bare SQL query counting the same entering and leaving
   keys. Target: ours <= 2 s.
2. **diff (whole cohort)**: the same, when the change log cannot be used (the sync's
   last run failed): the whole cohort against the whole delivered state. Reported for
   information (no target: it is the fallback, not the path of every run).
3. **first sync of 1,000,000 members** at batch size 10,000 to a loopback sink (a small
   HTTP server in its own process that reads each body and answers 200). Ours: the whole
   run on a worker-like process (plan, create the list, render, send 4 at a time, settle
   the delivered state), from claim to end, as members per second. Two floors, measured
   in the same rounds:
   - **bare httpx**: a bare `httpx.Client` posting the same bodies (rendered beforehand)
     from 4 threads to the same sink, no database at all. Target (the requirement's):
     ours >= 0.5 of its rate. It cannot be met by any implementation that keeps the
     delivered state (see docs/performance.md), and is reported as missed;
   - **crash-safe**: the least any crash-safe first sync must do: COPY the members out of
     PostgreSQL, the same bare httpx posts, and COPY one delivered row per member (the
     delivered state's columns and primary key) into PostgreSQL, committed. Target:
     ours >= 0.5 of its rate.
   Two rows for information set parts of a first sync against the bare httpx posts:
   rendering the same bodies from users already in memory (our renderer, no database, no
   network), and writing the delivered state alone (the COPY of one delivered row per
   member, committed, as the crash-safe floor does). The second alone takes many times
   the posts' time, so no sync that records what the partner acknowledged per member can
   reach half their rate.
4. **worker peak RSS**: the peak resident memory of the process that ran the 2,000,000-
   member diff run and of the one that ran the million-member first sync. Floor: the
   same process with Django loaded and nothing run. Target: <= 300 MB.

`run()` returns the rows for `bench/run.py` (`python bench/run.py sync` prints them in
the common table); run as a script it prints the same table and exits non-zero when a
target is missed. Rounds: `--rounds N` or SYNC_BENCH_ROUNDS (3); a few minutes.
SYNC_BENCH_FIRST_ONLY=1 measures only the first sync (its two rows and its worker's
memory), without building the 2,000,000-member cohort. Uses its own throw-away database
(`<configured name>_sync_bench`). SYNC_PROFILE=path makes the worker process of the first
sync write a cProfile of the run there.

Run from the repository root with the test environment (`make bench` sets it):
`python bench/run.py sync` or `python bench/sync_bench.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from protocol import Row, report  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

BIG_COHORT = 2_000_000
CHURN = 10_000  # leave, and as many enter: 1 % of the cohort changes
FIRST_SYNC = 1_000_000
BATCH_SIZE = 10_000
CONCURRENCY = 4
DIFF_TARGET_SECONDS = 2.0
THROUGHPUT_TARGET = 0.5
RSS_TARGET_MB = 300.0
ROUNDS = int(os.environ.get("SYNC_BENCH_ROUNDS", "3"))
FIRST_ONLY = os.environ.get("SYNC_BENCH_FIRST_ONLY", "") == "1"
TOKEN = "bench-token"


# --- the sink (its own process) -----------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    ANSWER = b'{"data": {"id": "bench-list"}}'

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.ANSWER)))
        self.end_headers()
        self.wfile.write(self.ANSWER)

    do_POST = do_DELETE = do_PUT = _answer


def serve_sink() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def start_sink() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


# --- the worker-like child process -------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it starts again at
    exec, so a child does not inherit the bench's own peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(run_id: int | None) -> None:
    """Run one sync run as a worker would (or, without a run, only load Django), then
    print its duration and this process's peak memory as JSON."""
    import django

    django.setup()
    from portal import heap

    heap.settle()  # as a worker does before its pool starts
    seconds = plan_seconds = 0.0
    if run_id is not None:
        from syncs import engine, planning
        from syncs.models import SyncRun

        profile = os.environ.get("SYNC_PROFILE")
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        # What the worker does first (execute_run plans an unplanned run itself), timed
        # apart to show where the time goes.
        version = SyncRun.objects.select_related("version").get(pk=run_id).version
        planning.plan_run(run_id, engine.compile_version(version))
        plan_seconds = time.perf_counter() - started
        run = engine.execute_run(run_id)
        seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        assert run is not None and run.status == "succeeded", run and run.summary
    result = {"seconds": seconds, "plan_seconds": plan_seconds, "rss_mb": peak_rss_mb()}
    print(json.dumps(result), flush=True)


def in_child(run_id: int | None) -> dict[str, float]:
    from django.db import connection

    database = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=(
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        LOG_LEVEL="WARNING",
    )
    arguments = [sys.executable, __file__, "--child"] + ([str(run_id)] if run_id else [])
    done = subprocess.run(arguments, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the worker process failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- data ----------------------------------------------------------------------------------


def sql(statement: str, params: Any = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def add_members(cohort_id: int, first: int, last: int, *, where: str = "") -> None:
    sql(
        "INSERT INTO portal_cohortmember (cohort_id, member_key, user_id, amplitude_id, "
        "device_id, email, properties) SELECT %s, 'u:user-' || lpad(g::text, 8, '0'), "
        "'user-' || lpad(g::text, 8, '0'), NULL, '', 'user' || g || '@example.com', "
        f'\'{{"plan": "pro"}}\'::jsonb FROM generate_series(%s, %s) AS g {where}',
        [cohort_id, first, last],
    )


def build(sink: str, *, churned_too: bool = True) -> tuple[Any, Any]:
    """Two syncs on one connection to the sink: the churned 2M cohort (delivered exactly
    at snapshot 1, now at snapshot 2; empty without `churned_too`) and a fresh 1M
    cohort."""
    from demo_partner.manifests import list_manifest
    from integrations.models import Destination, Integration, IntegrationVersion
    from portal.models import Cohort, Organization, Project
    from syncs.models import CohortSync, Connection

    manifest = list_manifest(sink, name="Bench Sink", batch_size=BATCH_SIZE)
    org = Organization.objects.create(name="Bench")
    project = Project.objects.create(org=org, name="Bench")
    integration = Integration.objects.create(
        org=org, display_name="Bench Sink", integration_type="list", config=manifest
    )
    version = IntegrationVersion.objects.create(
        integration=integration,
        number=1,
        kind="internal",
        state="internal",
        display_name="Bench Sink",
        integration_type="list",
        config=manifest,
        fingerprint="bench",
    )
    destination = Destination.objects.create(
        org=org, integration=integration, channel="internal", version=version
    )
    connection_row = Connection.objects.create(
        org=org,
        project=project,
        destination=destination,
        version=version,
        name="Bench",
        values={"bearer_token": TOKEN},
        mapping={"user_id_field": "user_id"},
    )
    big = Cohort.objects.create(project=project, name="Two million", snapshot=1)
    first = Cohort.objects.create(project=project, name="One million", snapshot=1)
    add_members(first.pk, 0, FIRST_SYNC - 1)
    if not churned_too:
        sql("ANALYZE portal_cohortmember")
        return None, CohortSync.objects.create(
            connection=connection_row, cohort=first, cadence="manual"
        )
    add_members(big.pk, 0, BIG_COHORT - 1)
    churned = CohortSync.objects.create(
        connection=connection_row, cohort=big, cadence="manual", list_id="bench-list"
    )
    fresh = CohortSync.objects.create(connection=connection_row, cohort=first, cadence="manual")
    sql(
        "INSERT INTO syncs_deliveredmember (sync_id, member_key, partner_id, user_id, "
        "amplitude_id, device_id, email, properties) SELECT %s, member_key, '', user_id, "
        "amplitude_id, device_id, email, properties FROM portal_cohortmember "
        "WHERE cohort_id = %s",
        [churned.pk, big.pk],
    )
    # 1 % churn as one new snapshot: every 200th member leaves, as many new ones enter.
    sql(
        "DELETE FROM portal_cohortmember WHERE cohort_id = %s "
        "AND (substr(member_key, 8)::int %% 200) = 0",
        [big.pk],
    )
    add_members(big.pk, BIG_COHORT, BIG_COHORT + CHURN - 1)
    sql(
        "INSERT INTO portal_cohortchange (cohort_id, snapshot, member_key, entered) "
        "SELECT %s, 2, 'u:user-' || lpad(g::text, 8, '0'), false "
        "FROM generate_series(0, %s, 200) AS g",
        [big.pk, BIG_COHORT - 1],
    )
    sql(
        "INSERT INTO portal_cohortchange (cohort_id, snapshot, member_key, entered) "
        "SELECT %s, 2, 'u:user-' || lpad(g::text, 8, '0'), true "
        "FROM generate_series(%s, %s) AS g",
        [big.pk, BIG_COHORT, BIG_COHORT + CHURN - 1],
    )
    Cohort.objects.filter(pk=big.pk).update(snapshot=2)
    CohortSync.objects.filter(pk=churned.pk).update(delivered_snapshot=1)
    for table in ("portal_cohortmember", "portal_cohortchange", "syncs_deliveredmember"):
        sql(f"ANALYZE {table}")
    churned.refresh_from_db()
    return churned, fresh


# --- measures ------------------------------------------------------------------------------


def floor_diff(sync: Any, *, incremental: bool) -> float:
    """The bare SQL: count the keys that entered and left, nothing else."""
    started = time.perf_counter()
    if incremental:
        sql(
            "SELECT COUNT(*) FILTER (WHERE c.entered AND d.member_key IS NULL), "
            "COUNT(*) FILTER (WHERE NOT c.entered AND d.member_key IS NOT NULL) "
            "FROM portal_cohortchange c LEFT JOIN syncs_deliveredmember d "
            "ON d.sync_id = %s AND d.member_key = c.member_key "
            "WHERE c.cohort_id = %s AND c.snapshot > 1",
            [sync.pk, sync.cohort_id],
        )
    else:
        sql(
            "SELECT (SELECT COUNT(*) FROM (SELECT member_key FROM portal_cohortmember "
            "WHERE cohort_id = %s EXCEPT SELECT member_key FROM syncs_deliveredmember "
            "WHERE sync_id = %s) e), (SELECT COUNT(*) FROM (SELECT member_key FROM "
            "syncs_deliveredmember WHERE sync_id = %s EXCEPT SELECT member_key FROM "
            "portal_cohortmember WHERE cohort_id = %s) l)",
            [sync.cohort_id, sync.pk, sync.pk, sync.cohort_id],
        )
    return time.perf_counter() - started


def ours_diff(sync: Any, integration: Any, *, incremental: bool) -> float:
    from syncs import planning, runs
    from syncs.models import CohortSync, SyncRun

    CohortSync.objects.filter(pk=sync.pk).update(delivered_snapshot=1 if incremental else None)
    sync.refresh_from_db()
    run = runs.run_create(sync, kind="manual", enqueue=False)
    started = time.perf_counter()
    plan = planning.plan_run(run.pk, integration)
    seconds = time.perf_counter() - started
    assert plan is not None and (plan.entered, plan.left) == (CHURN, CHURN), plan
    assert plan.incremental is incremental
    SyncRun.objects.filter(pk=run.pk).delete()
    return seconds


def planned_users(run_id: int) -> list[tuple[str, list[Any]]]:
    """Each batch of a planned run: its id and its users, in order."""
    from syncs.models import SyncBatch

    return [
        (batch.batch_id, [planned.user for planned in batch.planned_users()])
        for batch in SyncBatch.objects.filter(run_id=run_id).order_by("sequence")
    ]


def render_bodies(
    integration: Any, batches: list[tuple[str, list[Any]]]
) -> list[tuple[str, bytes, dict[str, str]]]:
    """The add_users requests of planned batches, as our client sends them."""
    from syncengine.core.types import RenderContext

    context = RenderContext(
        values={"bearer_token": TOKEN},
        mapping={"user_id_field": "user_id"},
        cohort_id="bench",
        cohort_name="Bench",
        list_id="bench-list",
    )
    requests = []
    for batch_id, users in batches:
        prepared = integration.build_request(
            "add_users", context=context, users=users, batch_id=batch_id
        )
        requests.append((prepared.url, prepared.body or b"", dict(prepared.headers)))
    return requests


def render_alone(integration: Any, batches: list[tuple[str, list[Any]]]) -> float:
    """Seconds to render every body of a first sync from users already in memory: no
    database, no network. What any sync of templated bodies must spend at least."""
    started = time.perf_counter()
    render_bodies(integration, batches)
    return time.perf_counter() - started


def floor_send(requests: list[tuple[str, bytes, dict[str, str]]]) -> float:
    import httpx

    with httpx.Client(timeout=60) as client:

        def post(request: tuple[str, bytes, dict[str, str]]) -> None:
            url, body, headers = request
            client.post(url, content=body, headers=headers).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            list(pool.map(post, requests))
        return time.perf_counter() - started


def floor_table() -> None:
    """A table with the delivered state's columns and primary key, for the floor."""
    sql("DROP TABLE IF EXISTS floor_delivered")
    sql("CREATE TABLE floor_delivered (LIKE syncs_deliveredmember INCLUDING ALL)")


def delivered_rows(sync: Any, path: Path) -> None:
    """The delivered rows of a first sync, as COPY text, in a file (written beforehand:
    producing them is not part of the floor)."""
    from django.db import connection

    with connection.cursor() as cursor, path.open("wb") as out:
        copying = (
            "COPY (SELECT %s::bigint, member_key, '', user_id, amplitude_id, device_id, "
            "email, properties FROM portal_cohortmember WHERE cohort_id = %s) TO STDOUT"
        )
        with cursor.cursor.copy(copying, (sync.pk, sync.cohort_id)) as copy:
            for chunk in copy:
                out.write(chunk)


def floor_crash_safe(
    sync: Any, requests: list[tuple[str, bytes, dict[str, str]]], rows_path: Path
) -> tuple[float, float]:
    """The least any crash-safe first sync must do: read the members out of PostgreSQL
    (COPY), post the bodies (bare httpx, as `floor_send`), and write one delivered row
    per member (COPY into a table with the delivered state's columns and primary key),
    committed. Seconds in all, and of the last part alone."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with connection.cursor() as cursor:
        copying = (
            "COPY (SELECT member_key, user_id, amplitude_id, device_id, email, properties "
            "FROM portal_cohortmember WHERE cohort_id = %s) TO STDOUT"
        )
        with cursor.cursor.copy(copying, (sync.cohort_id,)) as copy:
            for _chunk in copy:
                pass
    floor_send(requests)
    writing = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor, rows_path.open("rb") as rows:
        copying = (
            "COPY floor_delivered (sync_id, member_key, partner_id, user_id, amplitude_id, "
            "device_id, email, properties) FROM STDIN"
        )
        with cursor.cursor.copy(copying) as copy:
            while chunk := rows.read(1 << 20):
                copy.write(chunk)
    ended = time.perf_counter()
    sql("TRUNCATE floor_delivered")
    return ended - started, ended - writing


def reset_first_sync(sync: Any) -> None:
    from syncs.models import CohortSync, SyncRun

    SyncRun.objects.filter(sync=sync).delete()
    sql("DELETE FROM syncs_deliveredmember WHERE sync_id = %s", [sync.pk])
    CohortSync.objects.filter(pk=sync.pk).update(list_id="", delivered_snapshot=None)
    sql("VACUUM ANALYZE syncs_deliveredmember")


# --- the report ------------------------------------------------------------------------------


def seconds_row(
    measure: str,
    ours: list[float],
    floor: list[float],
    *,
    floor_name: str,
    unit: str = "s",
    limit: float | None = None,
) -> Row:
    """A row whose figure is a time (or a size): lower is better; only `limit` is a
    target (no ratio target: `inf`)."""
    return Row(
        measure=measure,
        unit=unit,
        ours_median=statistics.median(ours),
        ours_min=min(ours),
        floor_median=statistics.median(floor),
        floor_min=min(floor),
        target_ratio=float("inf"),
        higher_is_better=False,
        rounds=len(ours),
        floor_name=floor_name,
        limit=limit,
    )


def rate_row(
    measure: str,
    ours: list[float],
    floor: list[float],
    *,
    floor_name: str,
    target: float = THROUGHPUT_TARGET,
) -> Row:
    """A first sync as members per second: ours / floor >= `target` (the same as floor
    time / our time >= `target`; 0: information). The min column holds the slowest round."""
    ours_rates = [FIRST_SYNC / seconds for seconds in ours]
    floor_rates = [FIRST_SYNC / seconds for seconds in floor]
    return Row(
        measure=measure,
        unit="members/s",
        ours_median=statistics.median(ours_rates),
        ours_min=min(ours_rates),
        floor_median=statistics.median(floor_rates),
        floor_min=min(floor_rates),
        target_ratio=target,
        higher_is_better=True,
        rounds=len(ours),
        floor_name=floor_name,
    )


def run(rounds: int = ROUNDS) -> list[Row]:
    """Build the data in a throw-away database, measure in interleaved rounds, and return
    the rows (see the module docstring)."""
    import django
    from django.conf import settings

    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"{database['NAME']}_sync_bench"
    settings.LOGGING = {"version": 1, "disable_existing_loggers": False}
    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from syncs import engine, planning, runs
    from syncs.models import CohortSync

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    sink, sink_url = start_sink()
    folder = tempfile.TemporaryDirectory()
    try:
        print(
            f"building: a {BIG_COHORT:,}-member cohort delivered and churned by "
            f"{2 * CHURN:,}, a {FIRST_SYNC:,}-member cohort ..."
            if not FIRST_ONLY
            else f"building: a {FIRST_SYNC:,}-member cohort ...",
            file=sys.stderr,
            flush=True,
        )
        churned, fresh = build(sink_url, churned_too=not FIRST_ONLY)
        integration = engine.compile_version(fresh.connection.version)

        diff: dict[str, list[float]] = {"ours": [], "floor": []}
        full: dict[str, list[float]] = {"ours": [], "floor": []}
        worker_rss: list[float] = []
        idle = [in_child(None)["rss_mb"]]
        if not FIRST_ONLY:
            for _ in range(rounds):
                diff["floor"].append(floor_diff(churned, incremental=True))
                diff["ours"].append(ours_diff(churned, integration, incremental=True))
                full["floor"].append(floor_diff(churned, incremental=False))
                full["ours"].append(ours_diff(churned, integration, incremental=False))

            # The worker that runs the 2M diff: its peak memory.
            CohortSync.objects.filter(pk=churned.pk).update(delivered_snapshot=1)
            churned.refresh_from_db()
            diff_run = runs.run_create(churned, kind="manual", enqueue=False)
            worker_rss.append(in_child(diff_run.pk)["rss_mb"])

        # The floors' inputs, made beforehand: the rendered bodies, the delivered rows.
        reset_first_sync(fresh)
        run_row = runs.run_create(fresh, kind="manual", enqueue=False)
        planning.plan_run(run_row.pk, integration)
        batches = planned_users(run_row.pk)
        requests = render_bodies(integration, batches)
        rows_path = Path(folder.name) / "delivered.tsv"
        delivered_rows(fresh, rows_path)
        floor_table()

        bare: list[float] = []
        safe: list[float] = []
        rendering: list[float] = []
        writing: list[float] = []
        ours: list[float] = []
        plans: list[float] = []
        first_rss: list[float] = []

        def ours_round() -> None:
            reset_first_sync(fresh)
            run = runs.run_create(fresh, kind="manual", enqueue=False)
            result = in_child(run.pk)
            ours.append(result["seconds"])
            plans.append(result["plan_seconds"])
            first_rss.append(result["rss_mb"])

        def floor_round() -> None:
            bare.append(floor_send(requests))
            whole, written = floor_crash_safe(fresh, requests, rows_path)
            safe.append(whole)
            writing.append(written)
            rendering.append(render_alone(integration, batches))

        for number in range(rounds):
            for action in (
                (floor_round, ours_round) if number % 2 == 0 else (ours_round, floor_round)
            ):
                action()
            idle.append(in_child(None)["rss_mb"])
            print(
                f"  round {number + 1}: first sync {ours[-1]:.2f} s (planning "
                f"{plans[-1]:.2f} s of it), crash-safe floor {safe[-1]:.2f} s, bare httpx "
                f"{bare[-1]:.2f} s, rendering alone {rendering[-1]:.2f} s, writing the "
                f"delivered state alone {writing[-1]:.2f} s",
                file=sys.stderr,
                flush=True,
            )
        first = f"first sync of {FIRST_SYNC:,} members, batch {BATCH_SIZE:,}"
        diff_rows = (
            []
            if FIRST_ONLY
            else [
                seconds_row(
                    f"sync diff of {BIG_COHORT:,} members, 1 % churn (plan)",
                    diff["ours"],
                    diff["floor"],
                    floor_name="one SQL query counting the same entering and leaving keys",
                    limit=DIFF_TARGET_SECONDS,
                ),
                seconds_row(
                    f"sync diff of {BIG_COHORT:,} members, whole cohort (plan; information)",
                    full["ours"],
                    full["floor"],
                    floor_name="one SQL query counting the keys of both differences",
                ),
            ]
        )
        return [
            *diff_rows,
            rate_row(
                f"{first} vs bare httpx",
                ours,
                bare,
                floor_name=(
                    f"bare httpx posting the same pre-rendered bodies, {CONCURRENCY} threads, "
                    "no database"
                ),
            ),
            rate_row(
                f"{first}: rendering the bodies alone vs bare httpx (information)",
                rendering,
                bare,
                floor_name=(
                    "bare httpx posting the bodies; ours here is only rendering them from "
                    "users in memory, the least any sync of templated bodies does"
                ),
                target=0.0,
            ),
            rate_row(
                f"{first}: writing the delivered state alone vs bare httpx (information)",
                writing,
                bare,
                floor_name=(
                    "bare httpx posting the bodies; ours here is only the COPY of one "
                    "delivered row per member, committed, which the bare-httpx target leaves "
                    "no time for"
                ),
                target=0.0,
            ),
            rate_row(
                f"{first} vs crash-safe floor",
                ours,
                safe,
                floor_name=(
                    "COPY the members out + the bare httpx posts + COPY the delivered rows "
                    "in (delivered-state columns and key), committed"
                ),
            ),
            seconds_row(
                "sync worker peak RSS (1M first sync)"
                if FIRST_ONLY
                else "sync worker peak RSS (2M diff run, 1M first sync)",
                [*worker_rss, *first_rss],
                idle,
                unit="MB",
                floor_name="the same process with Django loaded and nothing run",
                limit=RSS_TARGET_MB,
            ),
        ]
    finally:
        folder.cleanup()
        sink.terminate()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sink"]:
        serve_sink()
    elif sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]) if len(sys.argv) > 2 else None)
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--rounds", type=int, default=ROUNDS)
        sys.exit(report(run(parser.parse_args().rounds)))
