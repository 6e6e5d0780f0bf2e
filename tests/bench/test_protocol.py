"""The bench protocol: rounds interleave, the ratio is of medians, and a miss is a miss."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from protocol import Row, dump_rows, load_rows, measure, percentile, report


def test_rounds_alternate_which_side_goes_first():
    order: list[str] = []

    def side(name: str, figure: float):
        def go() -> float:
            order.append(name)
            return figure

        return go

    measure("x", side("A", 2), side("B", 1), rounds=4, target_ratio=3, warmup=0)
    assert order == ["A", "B", "B", "A", "A", "B", "B", "A"]


def test_the_ratio_is_of_medians_and_the_min_is_reported():
    ours = iter([10.0, 30.0, 20.0])
    floor = iter([5.0, 5.0, 100.0])
    row = measure("x", lambda: next(ours), lambda: next(floor), rounds=3, target_ratio=3, warmup=0)
    assert (row.ours_median, row.ours_min, row.floor_median, row.floor_min) == (20, 10, 5, 5)
    assert row.ratio == 4.0
    assert not row.met


@pytest.mark.parametrize(
    ("higher", "ours", "limit", "met"),
    [
        (False, 140.0, None, True),  # 1.4x the floor's time, target 1.5x
        (False, 160.0, None, False),
        (False, 140.0, 120.0, False),  # within the ratio, over the absolute limit
        (True, 60.0, None, True),  # 0.6x the floor's rate, target at least 0.5x
        (True, 40.0, None, False),
    ],
)
def test_a_target_is_met_only_on_its_side(higher, ours, limit, met):
    target = 0.5 if higher else 1.5
    row = Row("x", "ms", ours, ours, 100.0, 100.0, target, higher, 3, limit=limit)
    assert row.met is met


def test_the_table_has_one_line_per_row_and_the_status_says_whether_all_met():
    good = Row("fast thing", "ms", 1, 1, 1, 1, 1.5, False, 3, floor_name="nothing")
    bad = Row("slow thing", "ms", 9, 9, 1, 1, 1.5, False, 3)
    out = io.StringIO()
    assert report([good], out) == 0
    assert out.getvalue().startswith("| measure")
    out = io.StringIO()
    assert report([good, bad], out) == 1
    lines = out.getvalue().splitlines()
    assert any(
        line.startswith("| slow thing") and line.rstrip().endswith("| NO  |") for line in lines
    )
    assert "missed: slow thing" in out.getvalue()


def test_a_crashed_bench_is_a_missed_row_and_rows_survive_json():
    failed = Row.failed("broken_bench", "exit status 1")
    assert not failed.met
    row = Row("x", "users/s", 5, 4, 10, 9, 0.5, True, 3, limit=None)
    assert load_rows(dump_rows([row, failed])) == [row, failed]


def test_percentile_is_nearest_rank():
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.95) == 95.0
    assert percentile(samples, 0.05) == 6.0
