"""`manage.py integration test`: its throughput and its start-up, each against a floor.

Against the demo partner, started in its own process on loopback:

- throughput, for batch sizes 10,000 and 1,000 (100,000 users) and 10 (10,000 users): the
  command's test (`syncengine.cli.run_cli_test` with users from `users_from_options`, what
  `integration test --users N` runs once Django is set up and its heap settled
  (`portal.heap`); every exchange printed, to
  /dev/null) against bare httpx posting the same bodies, rendered beforehand, from 4
  threads. Target: at least half the floor's rate.
- start-up: from starting `python manage.py integration test … --only create_list` to its
  first request reaching a loopback server, against `python -c "import httpx;
  httpx.post(…)"` posting the same request. Target: at most 1 s (on an idle machine) and
  at most 4× the floor.

Run from the repository root with the test environment (`make bench` sets it):
`python bench/cli_bench.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from protocol import Row, measure, report  # noqa: E402
from testrun_bench import CONCURRENCY, SHAPES, TOKEN, bare_bodies, bare_run  # noqa: E402
from throughput_bench import start_partner  # noqa: E402

from demo_partner import manifests as demo_manifests  # noqa: E402

DEFAULT_ROUNDS = 5
STARTUP_ROUNDS = 7
RATIO_TARGET = 0.5
STARTUP_LIMIT_MS = 1000.0
STARTUP_RATIO_TARGET = 4.0
PACKAGES = ["portal", "integrations", "syncengine", "reviews", "syncs", "demo_partner"]
MAPPING = {"user_id_field": "user_id"}


def cli_test(manifest: dict[str, Any], users: int) -> float:
    """The command's test of `users` generated users, printed to /dev/null; its seconds."""
    from syncengine import cli

    started = time.perf_counter()
    with open(os.devnull, "w") as out:
        chosen = cli.users_from_options(manifest, users=users, csv_path=None, mapping=MAPPING)
        passed = cli.run_cli_test(
            manifest,
            values={"bearer_token": TOKEN},
            mapping=MAPPING,
            users=chosen,
            only=None,
            list_id=None,
            no_retries=False,
            project_label=None,
            out=out,
            err=out,
        )
    elapsed = time.perf_counter() - started
    if not passed:
        raise SystemExit("the command's test did not pass")
    return elapsed


class _FirstRequest(BaseHTTPRequestHandler):
    """Answers create_list and notes when the first request of a round arrived."""

    arrived: list[float] = []

    def do_POST(self) -> None:
        _FirstRequest.arrived.append(time.perf_counter())
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"data": {"id": "lst_bench"}}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def time_to_first_request(command: list[str]) -> float:
    """Milliseconds from starting `command` to its first request arriving."""
    _FirstRequest.arrived.clear()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, check=False, timeout=60)
    if not _FirstRequest.arrived:
        raise SystemExit(f"{command[:4]} sent nothing: {result.stderr.decode()[-500:]}")
    return (_FirstRequest.arrived[0] - started) * 1000


def startup_row(rounds: int) -> Row:
    # Installed code runs from compiled bytecode; a checkout under PYTHONDONTWRITEBYTECODE
    # would compile every module on every start, which is not what is measured here.
    for folder in [*(ROOT / name for name in PACKAGES), Path(sysconfig.get_paths()["purelib"])]:
        compileall.compile_dir(folder, quiet=2)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FirstRequest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    manifest = demo_manifests.list_manifest(base, name="Bench CLI")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.json"
        path.write_text(json.dumps(manifest))
        ours = [sys.executable, "manage.py", "integration", "test", str(path)]
        ours += ["--var", f"bearer_token={TOKEN}", "--only", "create_list", "--no-retries"]
        floor = [
            sys.executable,
            "-c",
            "import httpx; httpx.post("
            f"{base + '/v1/lists'!r}, headers={{'Authorization': 'Bearer {TOKEN}'}}, "
            "json={'name': 'Bench'})",
        ]
        try:
            return measure(
                "integration test: start to first request",
                lambda: time_to_first_request(ours),
                lambda: time_to_first_request(floor),
                rounds=rounds,
                target_ratio=STARTUP_RATIO_TARGET,
                limit=STARTUP_LIMIT_MS,
                floor_name="python -c 'import httpx; httpx.post(...)' sending the same request",
            )
        finally:
            server.shutdown()


def run(rounds: int = DEFAULT_ROUNDS) -> list[Row]:
    import django

    django.setup()
    rows = [startup_row(STARTUP_ROUNDS)]
    from portal import heap

    heap.settle()  # as the command does before its test (both sides run in this process)
    partner, base = start_partner()
    try:
        for batch_size, users in SHAPES:
            manifest = demo_manifests.list_manifest(
                base,
                name=f"Bench CLI {batch_size}",
                batch_size=batch_size,
                delivery={"max_concurrency": CONCURRENCY},
            )
            adds, removes = bare_bodies(manifest, users)
            requests = 1 + len(adds) + len(removes)
            rows.append(
                measure(
                    f"integration test, {users:,} users, batch {batch_size:,} "
                    f"({requests:,} requests)",
                    lambda manifest=manifest, users=users: users / cli_test(manifest, users),
                    lambda adds=adds, removes=removes, users=users: (
                        users / bare_run(base, adds, removes)
                    ),
                    rounds=rounds,
                    target_ratio=RATIO_TARGET,
                    higher_is_better=True,
                    unit="users/s",
                    floor_name="bare httpx.Client, 4 threads, the same bodies pre-rendered, "
                    "to the same demo partner",
                )
            )
    finally:
        partner.terminate()
        partner.wait(timeout=10)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    return report(run(args.rounds))


if __name__ == "__main__":
    sys.exit(main())
