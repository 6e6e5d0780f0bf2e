"""`make bench`: every benchmark, one table, a non-zero exit status when a target is missed.

Each bench module in `BENCHES` exposes `run() -> list[protocol.Row]` (see
`bench/protocol.py`). This runner runs each module in a process of its own, one after the
other, so that their timings do not disturb each other and each may set Django up its own
way; the rows come back as JSON and are printed as one table:

    measure | ours | floor | ratio | target | met

Run from the repository root with the test environment (`make bench` sets it):

    python bench/run.py                  # every bench
    python bench/run.py render preview   # only those whose module name starts so

A module without `run()` (a script that prints its own figures) is still run, as a script,
but its row is never met: a figure without a floor measured beside it cannot be judged.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from protocol import Row, dump_rows, load_rows, report  # noqa: E402

# In the order they are reported. Add a bench by adding its module name here.
BENCHES = [
    "render_bench",
    "preview_bench",
    "pages_bench",
    "testrun_bench",
    "cli_bench",
    "throughput_bench",
    "cohort_import_bench",
    "sync_bench",
]


def run_one(name: str) -> list[Row]:
    """Run one bench module in a child process and return its rows."""
    script = BENCH_DIR / f"{name}.py"
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        rows_path = Path(handle.name)
    try:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(Path(__file__)), "--child", name, "--rows", str(rows_path)],
            cwd=ROOT,
            check=False,
        )
        print(f"   ({name}: {time.monotonic() - started:.1f} s)\n", flush=True)
        text = rows_path.read_text() if rows_path.exists() else ""
    finally:
        rows_path.unlink(missing_ok=True)
    if text:
        return load_rows(text)
    if not _has_run(script):
        return [Row.failed(name, f"a script without run(), no floor; exit {result.returncode}")]
    return [Row.failed(name, f"exit status {result.returncode}")]


def _has_run(script: str | Path) -> bool:
    return "\ndef run(" in Path(script).read_text()


def child(name: str, rows_path: Path) -> int:
    """In the child process: run the module's `run()`, or the module as a script."""
    script = BENCH_DIR / f"{name}.py"
    if not _has_run(script):
        return subprocess.run([sys.executable, str(script)], cwd=ROOT, check=False).returncode
    module = importlib.import_module(name)
    rows = module.run()
    rows_path.write_text(dump_rows(rows))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only the benches whose name starts so")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.rows)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    chosen = [
        name
        for name in BENCHES
        if (BENCH_DIR / f"{name}.py").exists()
        and (not args.only or any(name.startswith(prefix) for prefix in args.only))
    ]
    if not chosen:
        parser.error(f"no bench matches {' '.join(args.only)}; they are: {', '.join(BENCHES)}")
    rows: list[Row] = []
    for name in chosen:
        print(f"== {name}", flush=True)
        rows.extend(run_one(name))
    print()
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
