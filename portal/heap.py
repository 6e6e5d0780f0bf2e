"""The garbage collector's settings for the processes that do bulk work: the Celery worker
and `manage.py integration test`.

A test of 100,000 users or a sync of a million members allocates millions of small
objects in a few seconds (users, planned batches, rendered items), and at CPython's
defaults the collector runs after every 700 of them; its older passes walk every object
the process holds, the modules loaded at start-up included, none of which is ever garbage.
Measured on `manage.py integration test`'s path, 100,000 users in batches of 10,000: about
140 young, 13 middle and one full collection a run, 109–130 ms of its 0.45–0.48 s;
settled, about two, 7–9 ms (docs/performance.md).

`settle()`, once the process has loaded what it runs (the command: before its test; the
worker: before its pool starts):
- moves every object alive at that moment out of the collector's reach (`gc.freeze()`):
  modules, classes, settings and the app registry are never collected anyway; in a
  prefork worker, done before the pool forks, it also keeps the children from writing to
  pages they share with the parent (the use `gc.freeze`'s documentation gives);
- raises the youngest generation's threshold to `YOUNG_THRESHOLD` allocations: reference
  cycles are still found and freed (an HTTP exchange leaves a few dozen objects in
  cycles), only in fewer, larger passes, so that what lives for a few requests is freed
  by its reference count before any pass looks at it.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Freeze what is alive and collect the young generation less often."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
