"""Operations metrics of cohort syncs (filled in by the engine)."""

from __future__ import annotations

from collections.abc import Sequence


def record_batch(
    *,
    destination: int,
    endpoint: str,
    status: str,
    users: int,
    latencies_ms: Sequence[float],
    error_kind: str | None,
) -> None:
    """Count one settled batch."""


def record_run(status: str) -> None:
    """Count one finished run."""


def record_claim(run_id: int) -> None:
    """A worker took a run off the queue."""
