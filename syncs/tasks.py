"""Worker tasks of cohort syncs: running a sync run, dispatching due syncs, housekeeping."""

from __future__ import annotations

import logging

from portal.celery import app

logger = logging.getLogger("syncs")


@app.task(name="syncs.sync_run_execute", acks_late=True, reject_on_worker_lost=True)
def sync_run_execute(run_id: int) -> None:
    """Plan (if not yet planned) and send one sync run. The id is the only argument: the
    connection's credentials are read from the database inside the worker. A message
    for a run another worker holds, or one already finished, does nothing."""
    from syncs import engine

    engine.execute_run(run_id)


@app.task(name="syncs.dispatch_due")
def dispatch_due() -> None:
    """Periodic (beat): start a run of every sync whose next run time has come."""
    from syncs.schedule import dispatch_due as dispatch

    started = dispatch()
    if started:
        logger.info("dispatched %d due sync(s)", started)


@app.task(name="syncs.housekeeping")
def housekeeping() -> None:
    """Periodic (beat, hourly): prune old exchange bodies and cohort changes every sync
    has delivered past."""
    from syncs.housekeeping import run_housekeeping

    run_housekeeping()
