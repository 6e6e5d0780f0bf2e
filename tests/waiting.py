"""Waiting for something that happens elsewhere — in a worker, a server, another process or
the browser's backend — with a deadline.

A test that needs something to have happened waits for proof of it; it never sleeps a
while and then checks that nothing changed, which would pass just as well if nothing had
happened at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_SECONDS = 0.05


def wait_until[T](
    predicate: Callable[[], T],
    timeout: float,
    message: str | Callable[[], str],
    *,
    every: float = POLL_SECONDS,
) -> T:
    """Call `predicate` until it returns something true, and return that.

    After `timeout` seconds the test fails with `message` (a callable is asked for the
    message then, so that it can show the state things were left in). An exception raised
    by `predicate` fails the test at once: a predicate that may fail on the way (a server
    not listening yet) catches what it expects itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(every)
