"""How every figure of `make bench` is measured and reported.

A figure is never a time on its own: absolute times on a shared machine move by a factor of
three between runs. Each figure is *ours* (the product's code path) next to a *floor* (the
least any implementation must do for the same result: bare httpx posting the same bodies,
`orjson.dumps` of the same objects, `/healthz` on the same server), measured in the same
run, in interleaved rounds (A B, B A, A B, ...), so that both share whatever else the
machine is doing. The ratio of their medians is compared with a target; some figures also
have an absolute limit (a p95 in milliseconds).

A bench module exposes `run() -> list[Row]` and is registered in `bench/run.py`:

    from protocol import Row, measure, timed

    def run() -> list[Row]:
        return [
            measure(
                "render add_users 10,000 items",
                timed(lambda: integration.build_request(...)),
                timed(lambda: orjson.dumps(...)),
                rounds=30,
                target_ratio=1.5,
                floor_name="orjson.dumps of the same objects",
            )
        ]

    if __name__ == "__main__":
        sys.exit(report(run()))

`ours` and `floor` are callables returning one round's figure in `unit`: `timed(fn)`
times `fn` in milliseconds, `rate(fn, count)` turns its time into `count` per second, and a
callable may also return a figure it computed itself (a p95 over many requests).
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

COLUMNS = ("measure", "ours", "floor", "ratio", "target", "met")


@dataclass(frozen=True)
class Row:
    """One figure of the table: ours and its floor (median and min of the rounds), the
    ratio of the medians and whether it meets its target."""

    measure: str
    unit: str
    ours_median: float
    ours_min: float
    floor_median: float
    floor_min: float
    target_ratio: float
    higher_is_better: bool
    rounds: int
    floor_name: str = ""
    # An absolute bound on ours (in `unit`): at most (lower is better) or at least it.
    limit: float | None = None
    # A row that could not be measured (the bench crashed): never met.
    error: str = ""

    @property
    def ratio(self) -> float:
        if self.floor_median <= 0:
            return float("inf")
        return self.ours_median / self.floor_median

    @property
    def met(self) -> bool:
        if self.error:
            return False
        if self.higher_is_better:
            ratio_ok = self.ratio >= self.target_ratio
            limit_ok = self.limit is None or self.ours_median >= self.limit
        else:
            ratio_ok = self.ratio <= self.target_ratio
            limit_ok = self.limit is None or self.ours_median <= self.limit
        return ratio_ok and limit_ok

    def cells(self) -> tuple[str, str, str, str, str, str]:
        if self.error:
            return (self.measure, "—", "—", "—", "—", f"NO ({self.error})")
        sign = "≥" if self.higher_is_better else "≤"
        target = f"{sign} {self.target_ratio:.2f}×"
        if self.limit is not None:
            target += f" and {sign} {_number(self.limit)} {self.unit}"
        return (
            self.measure,
            f"{_number(self.ours_median)} {self.unit} (min {_number(self.ours_min)})",
            f"{_number(self.floor_median)} {self.unit} (min {_number(self.floor_min)})",
            f"{self.ratio:.2f}×",
            target,
            "yes" if self.met else "NO",
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**data)

    @classmethod
    def failed(cls, measure: str, error: str) -> Row:
        return cls(measure, "", 0, 0, 0, 0, 0, False, 0, error=error)


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def timed(action: Callable[[], object]) -> Callable[[], float]:
    """A round that runs `action` once; its figure is the elapsed time in milliseconds."""

    def round_ms() -> float:
        started = time.perf_counter()
        action()
        return (time.perf_counter() - started) * 1000

    return round_ms


def rate(action: Callable[[], object], count: int) -> Callable[[], float]:
    """A round that runs `action` once; its figure is `count` per second of its time."""

    def per_second() -> float:
        started = time.perf_counter()
        action()
        return count / (time.perf_counter() - started)

    return per_second


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.95 for p95)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(
    name: str,
    ours_fn: Callable[[], float],
    floor_fn: Callable[[], float],
    rounds: int,
    target_ratio: float,
    higher_is_better: bool = False,
    *,
    unit: str = "ms",
    floor_name: str = "",
    limit: float | None = None,
    warmup: int = 1,
    pause_gc: bool = False,
) -> Row:
    """Measure ours and its floor in `rounds` interleaved rounds (after `warmup` rounds of
    each that are not counted), alternating which goes first, and return the row.

    `pause_gc` pauses the cyclic garbage collector while a round runs (as `timeit` does),
    for micro-benchmarks whose rounds would otherwise pay for each other's garbage.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    for _ in range(warmup):
        ours_fn()
        floor_fn()
    ours: list[float] = []
    floor: list[float] = []
    collecting = gc.isenabled()
    for index in range(rounds):
        pairs = ((ours_fn, ours), (floor_fn, floor))
        for action, samples in pairs if index % 2 == 0 else reversed(pairs):
            if pause_gc:
                gc.collect()
                gc.disable()
            try:
                samples.append(action())
            finally:
                if pause_gc and collecting:
                    gc.enable()
    row = Row(
        measure=name,
        unit=unit,
        ours_median=statistics.median(ours),
        ours_min=min(ours),
        floor_median=statistics.median(floor),
        floor_min=min(floor),
        target_ratio=target_ratio,
        higher_is_better=higher_is_better,
        rounds=rounds,
        floor_name=floor_name,
        limit=limit,
    )
    print(f"  {name}: {' | '.join(row.cells()[1:])}", file=sys.stderr, flush=True)
    return row


def print_table(rows: Sequence[Row], out: TextIO = sys.stdout) -> None:
    """The one table: measure | ours | floor | ratio | target | met, then what each floor
    is and how many rounds it took."""
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out.write(line(COLUMNS) + "\n")
    out.write("|" + "|".join("-" * (w + 2) for w in widths) + "|\n")
    for cells in table[1:]:
        out.write(line(cells) + "\n")
    out.write("\nours and floor: median of the rounds (min); ratio = ours / floor (medians)\n")
    for row in rows:
        if row.floor_name and not row.error:
            out.write(f"- {row.measure}: floor = {row.floor_name}; {row.rounds} rounds\n")
    out.flush()


def report(rows: Sequence[Row], out: TextIO = sys.stdout) -> int:
    """Print the table; the exit status: 0 when every row met its target, else 1."""
    print_table(rows, out)
    missed = [row.measure for row in rows if not row.met]
    if missed:
        out.write(f"\nmissed: {'; '.join(missed)}\n")
        return 1
    return 0


def dump_rows(rows: Sequence[Row]) -> str:
    return json.dumps([row.to_json() for row in rows])


def load_rows(text: str) -> list[Row]:
    return [Row.from_json(item) for item in json.loads(text)]
