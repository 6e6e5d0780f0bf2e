"""Cohort CSV imports against a raw COPY of the same file, in the same run.

Two imports of a 1,000,000-row file, each the way the worker loads an upload
(`portal.cohorts.load_csv`, committed, so deferred constraint checks count too):

- **new cohort**: every member enters (1,000,000 members and change rows written);
- **1 % churn**: a cohort holding those members gets a file where 1 % left, 1 % are new
  and 1 % have another plan (the daily snapshot of a real cohort).

The floor of each is `COPY` of the same file into a table of text columns, streamed the
same way. Rounds alternate floor and ours; the table shows the median and the best of
each, and the ratio of the medians must stay within TARGET_RATIO. The loader must also
keep the process's memory flat: peak RSS may grow by at most MEMORY_TARGET of the file
size. Exits 1 when a target is missed.

Uses a throw-away database next to the configured one. Run from the repository root
with the test environment (`make bench` sets it); COHORT_BENCH_ROWS and
COHORT_BENCH_ROUNDS shrink it for a quick look.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

ROWS = int(os.environ.get("COHORT_BENCH_ROWS", "1000000"))
ROUNDS = int(os.environ.get("COHORT_BENCH_ROUNDS", "3"))
TARGET_RATIO = 3.0
# Peak memory may grow by at most this fraction of the file size.
MEMORY_TARGET = 0.5
CHURN_EVERY = 100  # one member in a hundred leaves, one is updated, one new one enters
COPY_CHUNK = 1 << 20
HEADER = "user_id,amplitude_id,device_id,email,plan\n"


def row(index: int, plan: str | None = None) -> str:
    plan = plan or ("free", "pro")[index % 2]
    return f"user-{index:07d},{index},dev-{index:07x},u{index}@example.com,{plan}\n"


def write_files(folder: Path) -> tuple[Path, Path]:
    first, churned = folder / "members.csv", folder / "members-churned.csv"
    with first.open("w") as out:
        out.write(HEADER)
        out.writelines(row(index) for index in range(ROWS))
    with churned.open("w") as out:
        out.write(HEADER)
        for index in range(ROWS):
            if index % CHURN_EVERY == 0:
                continue  # left
            out.write(row(index, "enterprise" if index % CHURN_EVERY == 1 else None))
        out.writelines(row(index) for index in range(ROWS, ROWS + ROWS // CHURN_EVERY))
    return first, churned


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Measure:
    name: str
    ours: list[float]
    floor: list[float]

    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.floor)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    import django
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"{name}_cohort_bench"
    django.setup()
    from django.db import connection, transaction
    from django.test.utils import setup_test_environment

    from portal import cohorts
    from portal.models import Cohort, CohortChange, CohortMember, Organization, Project

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        org = Organization.objects.create(name="Bench")
        project = Project.objects.create(org=org, name="Bench")
        cursor = connection.cursor()
        cursor.execute(
            "CREATE UNLOGGED TABLE copy_floor (user_id text, amplitude_id text, "
            "device_id text, email text, plan text)"
        )

        def copy_floor(path: Path) -> None:
            with transaction.atomic(), path.open("rb") as raw:
                copying = "COPY copy_floor FROM STDIN (FORMAT csv, HEADER)"
                with cursor.cursor.copy(copying) as copy:
                    while chunk := raw.read(COPY_CHUNK):
                        copy.write(chunk)
            cursor.execute("TRUNCATE copy_floor")

        def load(cohort: Cohort, path: Path) -> cohorts.ChangeReport:
            with transaction.atomic(), path.open("rb") as raw:
                report = cohorts.load_csv(cohort, raw)
            assert report.ok, report.errors[:3]
            return report

        def vacuum() -> None:
            for model in (CohortMember, CohortChange):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")

        with tempfile.TemporaryDirectory() as folder:
            first, churned = write_files(Path(folder))
            size = first.stat().st_size
            new = Measure("new cohort", [], [])
            churn = Measure("1 % churn", [], [])
            memory_before = peak_rss_bytes()
            for round_number in range(ROUNDS):
                cohort = Cohort.objects.create(project=project, name=f"Round {round_number}")
                new.floor.append(timed(lambda: copy_floor(first)))
                new.ours.append(timed(lambda c=cohort: load(c, first)))
                churn.floor.append(timed(lambda: copy_floor(churned)))
                report = None

                def replace(c: Cohort = cohort) -> None:
                    nonlocal report
                    report = load(c, churned)

                churn.ours.append(timed(replace))
                assert report is not None
                assert (report.entered, report.left, report.updated) == (
                    ROWS // CHURN_EVERY,
                    ROWS // CHURN_EVERY,
                    ROWS // CHURN_EVERY,
                ), report
                cohort.delete()
                vacuum()
            growth = max(0, peak_rss_bytes() - memory_before)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    rows = []
    missed = False
    for measure in (new, churn):
        ratio = measure.ratio()
        met = ratio <= TARGET_RATIO
        missed |= not met
        rows.append(
            (
                f"cohort CSV import {ROWS:,} rows, {measure.name}",
                f"{statistics.median(measure.ours):.2f} s (min {min(measure.ours):.2f})",
                f"COPY {statistics.median(measure.floor):.2f} s (min {min(measure.floor):.2f})",
                f"{ratio:.2f}",
                f"<= {TARGET_RATIO:g}",
                "yes" if met else "NO",
            )
        )
    memory_ratio = growth / size
    memory_met = memory_ratio <= MEMORY_TARGET
    missed |= not memory_met
    rows.append(
        (
            "cohort CSV import peak memory growth",
            f"{growth / 1e6:.0f} MB",
            f"file {size / 1e6:.0f} MB",
            f"{memory_ratio:.2f}",
            f"<= {MEMORY_TARGET:g}",
            "yes" if memory_met else "NO",
        )
    )
    print("measure | ours | floor | ratio | target | met")
    for cells in rows:
        print(" | ".join(cells))
    print(f"({ROUNDS} rounds, floor and ours alternating; ratio of the medians)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
