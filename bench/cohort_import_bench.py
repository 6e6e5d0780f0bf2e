"""Cohort CSV imports against a raw COPY of the same file, in the same run.

Ours is the import as the worker runs it for an upload from the cohort page (and as the
members API runs it for a `text/csv` snapshot): `portal.cohorts.load_csv` on the file
opened from disk, with its progress written to the cache, in a transaction that commits.
Two rows:

- **new cohort**: a 1,000,000-row file into an empty cohort (every member enters: a
  million members and a million change rows written);
- **1 % churn**: a cohort holding one of two files gets the other, where 1 % of the
  members left, 1 % are new and 1 % have another plan (the daily snapshot of a real
  cohort). Rounds alternate the two files, so each round is the same size of change.

The floor of each round is `COPY` of the same file, streamed the same way (1 MiB reads),
into a table of text columns of the file's shape — a logged table, as the members are:
the least any import that keeps the file's rows durably must do. Floor and ours
alternate (protocol.measure); target: ours at most TARGET_RATIO times the floor.

A third row checks that memory stays flat: the process's peak resident memory over an
import against its peak over the floor's COPY (both start from the same process, the
peak is reset before each round), at most MEMORY_TARGET times it.

Uses a throw-away database of its own (`<DATABASE_URL's name>_cohort_import_bench`).
Run from the repository root with the test environment (`make bench` sets it):
`python bench/cohort_import_bench.py`; COHORT_BENCH_ROWS and COHORT_BENCH_ROUNDS shrink
it for a quick look.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from protocol import Row, measure, report  # noqa: E402

from portal import cohorts  # noqa: E402
from portal.models import Cohort, CohortChange, CohortMember, Organization, Project  # noqa: E402

ROWS = int(os.environ.get("COHORT_BENCH_ROWS", "1000000"))
ROUNDS = int(os.environ.get("COHORT_BENCH_ROUNDS", "3"))
TARGET_RATIO = 3.0
# An import may hold at most this much more memory at its peak than a raw COPY does.
MEMORY_TARGET = 1.25
CHURN_EVERY = 100  # one member in a hundred leaves, one is updated, one new one enters
COPY_CHUNK = 1 << 20
HEADER = "user_id,amplitude_id,device_id,email,plan\n"
FLOOR_TABLE = "cohort_import_floor"
# Any number: the cache key the import writes its progress under.
PROGRESS_ID = 0


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


def peak_rss_mb() -> float:
    """This process's peak resident memory since the last `reset_peak_rss`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> None:
    # Writing 5 to clear_refs starts the peak (VmHWM) again from the current size.
    Path("/proc/self/clear_refs").write_text("5")


class Rounds:
    """Each round's time in ms and the process's peak memory while it ran."""

    def __init__(self) -> None:
        self.peaks: list[float] = []

    def timed(self, action: Callable[[], object], after: Callable[[], object]) -> float:
        """Run `action` (timed, peak memory recorded), then `after` (neither)."""
        reset_peak_rss()
        started = time.perf_counter()
        action()
        elapsed = (time.perf_counter() - started) * 1000
        self.peaks.append(peak_rss_mb())
        after()
        return elapsed


def copy_floor(path: Path) -> None:
    with transaction.atomic(), connection.cursor() as cursor, path.open("rb") as raw:
        copying = f"COPY {FLOOR_TABLE} FROM STDIN (FORMAT csv, HEADER)"
        with cursor.cursor.copy(copying) as copy:
            while chunk := raw.read(COPY_CHUNK):
                copy.write(chunk)


def import_file(cohort: Cohort, path: Path) -> cohorts.ChangeReport:
    with path.open("rb") as raw:
        result = cohorts.load_csv(cohort, raw, progress_id=PROGRESS_ID)
    assert result.ok, result.errors[:3]
    return result


def truncate(*tables: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")


def vacuum() -> None:
    with connection.cursor() as cursor:
        for table in (CohortMember._meta.db_table, CohortChange._meta.db_table, FLOOR_TABLE):
            cursor.execute(f"VACUUM ANALYZE {table}")


def measure_new(project: Project, first: Path, ours: Rounds, floor: Rounds) -> Row:
    member_tables = (CohortMember._meta.db_table, CohortChange._meta.db_table)
    made = 0

    def new_cohort() -> float:
        nonlocal made
        made += 1
        cohort = Cohort.objects.create(project=project, name=f"New {made}")

        def load() -> None:
            result = import_file(cohort, first)
            assert (result.entered, result.snapshot) == (ROWS, 1), result

        def clear() -> None:
            truncate(*member_tables)
            vacuum()

        return ours.timed(load, clear)

    return measure(
        f"cohort CSV import {ROWS:,} rows, new cohort",
        new_cohort,
        lambda: floor.timed(lambda: copy_floor(first), lambda: truncate(FLOOR_TABLE)),
        rounds=ROUNDS,
        target_ratio=TARGET_RATIO,
        floor_name="COPY of the same file into a table of its text columns",
    )


def measure_churn(project: Project, files: tuple[Path, Path], ours: Rounds, floor: Rounds) -> Row:
    cohort = Cohort.objects.create(project=project, name="Churning")
    import_file(cohort, files[0])
    vacuum()
    imports = copies = 0
    churned = ROWS // CHURN_EVERY

    def reimport() -> float:
        nonlocal imports
        imports += 1
        path = files[imports % 2]

        def load() -> None:
            result = import_file(cohort, path)
            assert (result.entered, result.left, result.updated) == (churned,) * 3, result

        return ours.timed(load, vacuum)

    def copy() -> float:
        nonlocal copies
        copies += 1
        path = files[copies % 2]
        return floor.timed(lambda: copy_floor(path), lambda: truncate(FLOOR_TABLE))

    return measure(
        f"cohort CSV re-import {ROWS:,} rows, 1 % churn",
        reimport,
        copy,
        rounds=ROUNDS,
        target_ratio=TARGET_RATIO,
        floor_name="COPY of the same file into a table of its text columns",
    )


def memory_row(ours: Rounds, floor: Rounds, size_mb: float) -> Row:
    return Row(
        measure=f"cohort CSV import peak memory (file {size_mb:.0f} MB)",
        unit="MB",
        ours_median=statistics.median(ours.peaks),
        ours_min=min(ours.peaks),
        floor_median=statistics.median(floor.peaks),
        floor_min=min(floor.peaks),
        target_ratio=MEMORY_TARGET,
        higher_is_better=False,
        rounds=len(ours.peaks),
        floor_name="peak resident memory of the same process over the COPY rounds",
    )


def run() -> list[Row]:
    setup_test_environment()
    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"{database['NAME']}_cohort_import_bench"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        org = Organization.objects.create(name="Bench")
        project = Project.objects.create(org=org, name="Bench")
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE {FLOOR_TABLE} (user_id text, amplitude_id text, "
                "device_id text, email text, plan text)"
            )
        with tempfile.TemporaryDirectory() as folder:
            files = write_files(Path(folder))
            size_mb = files[0].stat().st_size / 1e6
            ours, floor = Rounds(), Rounds()
            rows = [
                measure_new(project, files[0], ours, floor),
                measure_churn(project, files, ours, floor),
            ]
            rows.append(memory_row(ours, floor, size_mb))
        return rows
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    sys.exit(report(run()))
