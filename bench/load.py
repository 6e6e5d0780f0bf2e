"""`make load`: a bounded load test of the production server on loopback, with locust.

Seeds a throw-away database as the pages bench does (the cast; Acme with 20 drafts, one of
20 fields with test settings and runs), starts gunicorn as the Dockerfile runs it with
`DEBUG=false` (`bench/server.py`), and runs locust headless against it: `--users` partners
(default 8), each signed in, requesting the Developer Portal home, the configuration
editor, a live preview of an edit and the integrations API (`bench/locustfile.py`) with no
pause, for `--seconds` (default 30). It stops by itself and only ever talks to 127.0.0.1.

Prints requests per second, median, p95 and p99 per request, and exits non-zero if any
request failed. Run from the repository root with the test environment:
`python bench/load.py [--users N] [--seconds N]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from pages_bench import seed  # noqa: E402
from server import portal_server, signed_in  # noqa: E402

MAX_USERS = 64
MAX_SECONDS = 600
SHOWN = ["home", "editor", "preview", "integrations API", "Aggregated"]


def editor_state(base: str, email: str, password: str, draft_id: int) -> dict[str, str]:
    from tests.integrations.forms import form_values

    with signed_in(base, email, password) as client:
        page = client.get(f"/portal/integrations/{draft_id}/configure")
        page.raise_for_status()
        return form_values(page.text)


def run_locust(base: str, environment: dict[str, str], users: int, seconds: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        prefix = str(Path(folder) / "load")
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--host",
            base,
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--csv",
            prefix,
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        result = subprocess.run(
            command, cwd=ROOT, env=os.environ | environment, check=False, timeout=seconds + 120
        )
        with open(f"{prefix}_stats.csv", newline="") as stats:
            rows = {row["Name"]: row for row in csv.DictReader(stats)}
    print(f"\nlocust: {users} signed-in partners, no pause, {seconds} s, against {base}")
    print("| request | requests | failures | req/s | median ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for name in SHOWN:
        row = rows.get(name)
        if row is None:
            continue
        print(
            f"| {name} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} |"
        )
    failures = int(rows.get("Aggregated", {}).get("Failure Count", "0") or 0)
    return result.returncode or (1 if failures else 0)


def main() -> int:
    from portal import actions
    from tests.conftest import PASSWORD

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    if not 1 <= args.users <= MAX_USERS or not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--users 1..{MAX_USERS} and --seconds 1..{MAX_SECONDS}")

    setup_test_environment()
    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}_load"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        cast, draft_id = seed()
        _, token = actions.token_create(acting_user=cast.alice, org=cast.acme, name="load")
        connection.close()
        with portal_server() as base:
            assert base.startswith("http://127.0.0.1:"), base  # loopback only
            state = editor_state(base, cast.alice.email, PASSWORD, draft_id)
            environment = {
                "LOAD_EMAIL": cast.alice.email,
                "LOAD_PASSWORD": PASSWORD,
                "LOAD_API_TOKEN": token,
                "LOAD_DRAFT_ID": str(draft_id),
                "LOAD_EDITOR_STATE": json.dumps(state),
            }
            return run_locust(base, environment, args.users, args.seconds)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    sys.exit(main())
