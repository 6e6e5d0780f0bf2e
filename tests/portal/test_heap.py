"""A command-line worker settles its heap before bulk work (`portal.heap`), and a settled
heap still frees reference cycles: each checked in a process of its own, so that the test
process keeps its own collector's settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]

# Prints the collector's state before and after a command-line worker's setup signal.
WORKER_SETUP = """
import gc, json
from celery.signals import celeryd_after_setup
from portal.celery import app
before = (gc.get_threshold()[0], gc.get_freeze_count())
celeryd_after_setup.send(sender="worker@test", instance=None, conf=app.conf)
print(json.dumps({"before": before, "after": (gc.get_threshold()[0], gc.get_freeze_count())}))
"""


def _run(code: str) -> Any:
    """What `code`, run in a new interpreter, printed last, read as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPOSITORY,
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="portal.settings"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_command_line_worker_freezes_its_start_up_and_collects_the_young_less_often():
    state = _run(WORKER_SETUP)
    threshold, frozen_before = state["before"]
    assert threshold == 700  # CPython's default until the worker's setup
    threshold, frozen = state["after"]
    assert threshold == 50_000
    # The modules, classes and settings loaded at start-up.
    assert frozen > frozen_before + 10_000


def test_settle_keeps_collecting_cycles():
    left = _run(
        "import gc, json\n"
        "from portal import heap\n"
        "heap.settle()\n"
        "class Node: pass\n"
        "for _ in range(60_000):\n"
        "    a, b = Node(), Node(); a.other, b.other = b, a\n"
        "print(json.dumps(sum(1 for o in gc.get_objects() if type(o) is Node)))\n"
    )
    # 120,000 objects in cycles were made; no more than one young generation's worth is
    # left uncollected.
    assert left <= 50_000
