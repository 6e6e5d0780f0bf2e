"""Every process that hands work to a worker does so through the project's Celery app,
whichever tasks module it imports first: the app is not loaded with the settings
(portal/__init__.py), so a task declared elsewhere would fall back to Celery's default
app and its default broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django, sys
django.setup()
assert "celery" not in sys.modules, "Celery was loaded with the settings"
from importlib import import_module
from celery import current_app
task = getattr(import_module({module!r}), {task!r})
print(task.app.main, current_app.main, current_app.conf.broker_url, task.name in current_app.tasks)
"""


@pytest.mark.parametrize(
    ("module", "task"),
    [
        ("portal.tasks", "send_mail"),
        ("syncengine.tasks", "test_run_execute"),
        ("reviews.tasks", "conformance_run_execute"),
        ("syncs.tasks", "sync_run_execute"),
    ],
)
def test_a_tasks_module_brings_the_projects_app_and_its_broker(module, task):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(module=module, task=task)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    main, current, broker, registered = result.stdout.split()
    assert (main, current, registered) == ("portal", "portal", "True")
    from django.conf import settings

    assert broker == settings.CELERY_BROKER_URL
