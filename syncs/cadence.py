"""When a sync runs next: its cadence as a grid of times, in UTC.

- hourly: every hour at the sync's own minute (its id modulo 60), so that a thousand
  hourly syncs do not all start at :00;
- daily: every day at the chosen hour, on the hour;
- manual: never by itself.

The next run time is the first point of the grid strictly after a given moment. Missed
points (beat was down, the workers were busy) are not run one by one: the scheduler runs
the sync once and moves it to the next point after now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncs.models import Cadence, CohortSync


def next_run_at(sync: CohortSync, after: datetime) -> datetime | None:
    """The first scheduled time after `after`; None for a manual or paused sync."""
    if sync.paused or sync.cadence == Cadence.MANUAL:
        return None
    after = after.astimezone(UTC)
    if sync.cadence == Cadence.HOURLY:
        minute = (sync.pk or 0) % 60
        candidate = after.replace(minute=minute, second=0, microsecond=0)
        step = timedelta(hours=1)
    else:
        hour = sync.daily_hour if sync.daily_hour is not None else 0
        candidate = after.replace(hour=hour, minute=0, second=0, microsecond=0)
        step = timedelta(days=1)
    while candidate <= after:
        candidate += step
    return candidate


def describe(sync: CohortSync) -> str:
    """The cadence in words: "every hour at :17", "every day at 06:00 UTC", "manual only"."""
    if sync.cadence == Cadence.HOURLY:
        return f"every hour at :{(sync.pk or 0) % 60:02d}"
    if sync.cadence == Cadence.DAILY:
        hour = sync.daily_hour if sync.daily_hour is not None else 0
        return f"every day at {hour:02d}:00 UTC"
    return "manual only"
