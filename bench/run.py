"""`make bench`: every benchmark in turn, each printing its figures and ratios.

Each benchmark is a script of its own (runnable alone from the repository root); this
runner executes them one after another so their timings do not disturb each other, and
exits non-zero if any of them missed its target or failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# In the order they are reported; a script that does not exist yet is skipped with a note.
BENCHMARKS = [
    "render_bench.py",
    "preview_bench.py",
    "cohort_import_bench.py",
    "throughput_bench.py",
    "testrun_bench.py",
    "sync_bench.py",
]


def main() -> int:
    failures = []
    for name in BENCHMARKS:
        script = BENCH_DIR / name
        if not script.exists():
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], cwd=ROOT, check=False)
        print(f"   ({time.monotonic() - started:.1f} s)\n", flush=True)
        if result.returncode != 0:
            failures.append(name)
    if failures:
        print(f"missed target or failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
