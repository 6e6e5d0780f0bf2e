"""Worker tasks of the engine: test runs against partners' endpoints."""

from __future__ import annotations

from portal.celery import app
from syncengine import testruns


@app.task(name="syncengine.test_run_execute")
def test_run_execute(run_id: int) -> None:
    """Perform one queued test run. The id is the only argument: the run's credentials
    are reloaded from the database (encrypted there) by the executor, which also claims
    the run so that a redelivered message does nothing."""
    testruns.execute_test_run(run_id)


test_run_execute.__test__ = False  # a Celery task, not a pytest test
