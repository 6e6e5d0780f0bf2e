"""The Celery app for the worker and beat processes (`celery -A portal worker`)."""

import os

from celery import Celery
from celery.signals import celeryd_after_setup

from portal import heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_after_setup.connect
def _settle_worker_heap(**_: object) -> None:
    """A worker started from the command line (not one run inside the test process)
    settles its heap before its pool starts; forked children inherit the settings."""
    heap.settle()
