"""Cohort CSV import: a 1,000,000-row file, loaded the way the worker loads uploads.

Prints rows per second and the growth of the process's peak memory compared with the file
size: the loader streams, so memory must stay far below the file's size. Uses its own
throw-away database (`bench_portal` on the configured PostgreSQL server).

Run from the repository root with the test environment (`make bench` sets it).
"""

from __future__ import annotations

import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

ROWS = 1_000_000
# Peak memory may grow by at most this fraction of the file size.
MEMORY_TARGET = 0.5


def write_csv(path: Path) -> int:
    with path.open("w", encoding="utf-8") as out:
        out.write("user_id,amplitude_id,device_id,email,plan\n")
        for index in range(ROWS):
            out.write(
                f"user-{index:07d},{index},dev-{index:07x},u{index}@example.com,"
                f"{('free', 'pro')[index % 2]}\n"
            )
    return path.stat().st_size


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    import django
    from django.conf import settings

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_portal"
    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from portal import cohorts
    from portal.models import Cohort, Organization, Project

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        org = Organization.objects.create(name="Bench")
        project = Project.objects.create(org=org, name="Bench")
        cohort = Cohort.objects.create(project=project, name="Million")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "members.csv"
            size = write_csv(path)
            before = peak_rss_bytes()
            started = time.perf_counter()
            with path.open("rb") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                report = cohorts.load_members(cohort, cohorts.iter_csv_rows(text))
            elapsed = time.perf_counter() - started
            growth = max(0, peak_rss_bytes() - before)
        assert report.ok and report.rows_loaded == ROWS, report.errors[:3]
        ratio = growth / size
        print(
            f"cohort CSV import {ROWS:,} rows ({size / 1e6:.0f} MB): {elapsed:.1f} s, "
            f"{ROWS / elapsed:,.0f} rows/s"
        )
        print(
            f"peak memory growth {growth / 1e6:.0f} MB = {ratio:.2f} of the file size "
            f"(target <= {MEMORY_TARGET})"
        )
        return 0 if ratio <= MEMORY_TARGET else 1
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
