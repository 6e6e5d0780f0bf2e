"""Health checks for load balancers and orchestrators.

- `/healthz` (liveness): the process answers requests. It touches neither the database
  nor the broker, so it stays cheap however often it is polled, and a database outage does
  not get every web process restarted.
- `/readyz` (readiness): this process can do its work: the database and the broker answer.
  Both checks reuse connections: the database's is Django's own (kept for
  `DB_CONN_MAX_AGE` seconds), the broker's comes from one Redis connection pool per
  process, so polling opens no connection per call.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

BROKER_TIMEOUT_SECONDS = 2


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


@functools.cache
def _redis_client() -> Any:
    """One client per process: its pool keeps the connection between checks."""
    import redis

    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_timeout=BROKER_TIMEOUT_SECONDS,
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        max_connections=2,
    )


def _broker() -> str:
    if not settings.REDIS_URL:
        # The embedded broker (make run): a folder this process must be able to write to.
        folder = settings.BROKER_DIR / "queue"
        return "ok" if os.access(folder, os.W_OK) else "error: broker folder not writable"
    try:
        _redis_client().ping()
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "error", **checks}, status=200 if ready else 503
    )
