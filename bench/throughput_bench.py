"""Sync throughput: the protocol and our client against a bare httpx.Client.

Starts the demo partner in its own process on loopback (so that it does not compete with
the client for this interpreter's GIL), then, several times each:

- protocol: `run_sync` adding 100,000 users to a new list through the compiled manifest
  and `OutboundClient` (create_list, rendering, batching, retries bookkeeping, the SSRF
  guard's resolver, response capping) with the default concurrency of 4;
- bare: the same request bodies, rendered beforehand, POSTed with a plain
  `httpx.Client` from 4 threads.

One row: users per second of both (median and min of interleaved rounds), target: the
protocol at least half the bare client's rate. Only loopback traffic.
Run: `python bench/throughput_bench.py [--users N] [--runs N]` (`make bench` runs it too).
"""

from __future__ import annotations

import argparse
import re
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

from protocol import Row, measure, report  # noqa: E402

from demo_partner import manifests as demo_manifests  # noqa: E402
from syncengine.core.compiler import compile_manifest  # noqa: E402
from syncengine.core.http import OutboundClient  # noqa: E402
from syncengine.core.protocol import plan_batches, run_sync  # noqa: E402
from syncengine.core.types import RenderContext  # noqa: E402

DEFAULT_USERS = 100_000
DEFAULT_RUNS = 5
BATCH_SIZE = 10_000
CONCURRENCY = 4
TOKEN = "demo-token"
STARTUP_TIMEOUT = 15.0
RATIO_TARGET = 0.5


def manifest(base: str) -> dict[str, Any]:
    return demo_manifests.list_manifest(
        base, name="Bench Lists", batch_size=BATCH_SIZE, delivery={"max_concurrency": CONCURRENCY}
    )


def start_partner() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "demo_partner", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            break
    process.terminate()
    raise SystemExit("the demo partner did not start")


def protocol_run(integration: Any, users: dict[str, dict[str, str]], run: int) -> float:
    context = RenderContext(
        values={"bearer_token": TOKEN},
        mapping={"user_id_field": "user_id"},
        cohort_id="bench",
        cohort_name=f"Bench {run}",
    )
    with OutboundClient(allow_private_networks=True) as client:
        started = time.perf_counter()
        result = run_sync(integration, client, context=context, scope=f"bench:{run}", to_add=users)
        elapsed = time.perf_counter() - started
    if not result.ok or result.delivered_users.get("add_users") != len(users):
        raise SystemExit(f"protocol run failed: {result.error!r}")
    return elapsed


def bare_run(base: str, integration: Any, users: dict[str, dict[str, str]], run: int) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(headers=headers, timeout=60) as client:
        created = client.post(f"{base}/v1/lists", json={"name": f"Bare {run}"})
        created.raise_for_status()
        list_id = created.json()["data"]["id"]
        context = RenderContext(
            values={"bearer_token": TOKEN},
            mapping={"user_id_field": "user_id"},
            list_id=list_id,
        )
        bodies = [
            integration.build_request(
                "add_users", context=context, users=batch.users, batch_id=batch.batch_id
            ).body
            for batch in plan_batches("add_users", users, size=BATCH_SIZE, scope=f"bare:{run}")
        ]
        url = f"{base}/v1/lists/{list_id}/members"

        def post(body: bytes) -> None:
            client.post(url, content=body).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(post, bodies))
        return time.perf_counter() - started


def run(users_count: int = DEFAULT_USERS, runs: int = DEFAULT_RUNS) -> list[Row]:
    users = {f"user{i:07d}": {"user_id": f"user{i:07d}"} for i in range(users_count)}
    process, base = start_partner()
    try:
        integration = compile_manifest(manifest(base))
        rounds = iter(range(10**6))
        return [
            measure(
                f"sync protocol, {users_count:,} users in batches of {BATCH_SIZE:,}",
                lambda: users_count / protocol_run(integration, users, next(rounds)),
                lambda: users_count / bare_run(base, integration, users, next(rounds)),
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    args = parser.parse_args()
    return report(run(args.users, args.runs))


if __name__ == "__main__":
    sys.exit(main())
