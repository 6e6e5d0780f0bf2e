"""Operations metrics of cohort syncs, for Prometheus (`GET /metrics`, bearer token).

Workers count what they do in Redis (one hash, so that every worker and process adds to
the same numbers and the web process can read them); the gauges are read from the
database when Prometheus scrapes:

| metric | type | labels |
|---|---|---|
| `cohort_sync_runs_finished_total` | counter | status |
| `cohort_sync_runs_active` | gauge | status (queued, running) |
| `cohort_sync_batches_total` | counter | destination, endpoint, status |
| `cohort_sync_users_sent_total` | counter | destination, endpoint |
| `cohort_sync_failures_total` | counter | destination, kind |
| `cohort_sync_partner_latency_seconds` | histogram | destination |
| `cohort_sync_queue_lag_seconds` | gauge | destination: how long the oldest due run waits |
| `cohort_sync_paused_syncs` | gauge | |

`destination` is the destination's id (the number in its URLs). Without Redis (`make
run` on the embedded broker) the counters are kept per process.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Min, Q
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from syncs.models import CohortSync, RunStatus, SyncRun

logger = logging.getLogger("syncs")

HASH_KEY = "syncs:metrics"
# Partner latency buckets, in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_lock = threading.Lock()
_local: dict[str, float] = {}
_client: Any = None


def _redis() -> Any:
    global _client
    with _lock:
        if _client is None:
            import redis

            _client = redis.Redis.from_url(str(settings.REDIS_URL), socket_timeout=2)
        return _client


def _add(increments: dict[str, float]) -> None:
    """Add to the shared counters; a metrics store that is down never stops a sync."""
    if not increments:
        return
    if not settings.REDIS_URL:
        with _lock:
            for name, amount in increments.items():
                _local[name] = _local.get(name, 0.0) + amount
        return
    try:
        pipe = _redis().pipeline(transaction=False)
        for name, amount in increments.items():
            if float(amount).is_integer():
                pipe.hincrby(HASH_KEY, name, int(amount))
            else:
                pipe.hincrbyfloat(HASH_KEY, name, amount)
        pipe.execute()
    except Exception as error:  # redis.RedisError, OSError: counting is best effort
        logger.warning("sync metrics not recorded: %s", error)


def _read() -> dict[str, float]:
    if not settings.REDIS_URL:
        with _lock:
            return dict(_local)
    raw = _redis().hgetall(HASH_KEY)
    return {key.decode(): float(value) for key, value in raw.items()}


def reset() -> None:
    """Forget every counter (tests)."""
    with _lock:
        _local.clear()
    if settings.REDIS_URL:
        _redis().delete(HASH_KEY)


def _bucket(seconds: float) -> str:
    for bound in LATENCY_BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


def record_batch(
    *,
    destination: int,
    endpoint: str,
    status: str,
    users: int,
    latencies_ms: Sequence[float],
    error_kind: str | None,
) -> None:
    """Count one settled (or deferred) batch, its users and its requests' latencies."""
    increments: dict[str, float] = {f"batch|{destination}|{endpoint}|{status}": 1}
    if users:
        increments[f"users|{destination}|{endpoint}"] = users
    if error_kind and status in ("failed", "partial"):
        increments[f"fail|{destination}|{error_kind}"] = 1
    for latency in latencies_ms:
        seconds = latency / 1000
        key = f"lat|{destination}|{_bucket(seconds)}"
        increments[key] = increments.get(key, 0) + 1
        increments[f"latsum|{destination}"] = increments.get(f"latsum|{destination}", 0) + seconds
    _add(increments)


def record_run(status: str) -> None:
    """Count one finished run."""
    _add({f"run|{status}": 1})


# --- exposition ---------------------------------------------------------------------------


class SyncCollector(Collector):
    """The metrics of the module docstring, read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        counts = _read()
        runs = CounterMetricFamily(
            "cohort_sync_runs_finished", "Sync runs that ended, by status", labels=["status"]
        )
        batches = CounterMetricFamily(
            "cohort_sync_batches",
            "Batches settled (or deferred) by status",
            labels=["destination", "endpoint", "status"],
        )
        users = CounterMetricFamily(
            "cohort_sync_users_sent",
            "Users the partner acknowledged",
            labels=["destination", "endpoint"],
        )
        failures = CounterMetricFamily(
            "cohort_sync_failures",
            "Batches that failed for good, by kind of failure",
            labels=["destination", "kind"],
        )
        latency: dict[str, dict[str, float]] = {}
        for key, value in sorted(counts.items()):
            kind, *labels = key.split("|")
            if kind == "run":
                runs.add_metric(labels, value)
            elif kind == "batch":
                batches.add_metric(labels, value)
            elif kind == "users":
                users.add_metric(labels, value)
            elif kind == "fail":
                failures.add_metric(labels, value)
            elif kind == "lat":
                latency.setdefault(labels[0], {})[labels[1]] = value
            elif kind == "latsum":
                latency.setdefault(labels[0], {})["sum"] = value
        yield from (runs, batches, users, failures)
        histogram = HistogramMetricFamily(
            "cohort_sync_partner_latency_seconds",
            "Partner response time per request attempt",
            labels=["destination"],
        )
        for destination, buckets in sorted(latency.items()):
            cumulative, rows = 0.0, []
            for bound in (*map(repr, LATENCY_BUCKETS), "+Inf"):
                cumulative += buckets.get(bound, 0.0)
                rows.append((bound, cumulative))
            histogram.add_metric([destination], rows, sum_value=buckets.get("sum", 0.0))
        yield histogram
        yield from _database_gauges()


def _database_gauges() -> Iterator[Metric]:
    active = GaugeMetricFamily(
        "cohort_sync_runs_active", "Runs queued or running now", labels=["status"]
    )
    by_status = dict(
        SyncRun.objects.active().values_list("status").annotate(n=Count("id")).order_by()
    )
    for status in (RunStatus.QUEUED, RunStatus.RUNNING):
        active.add_metric([status], by_status.get(status, 0))
    yield active
    now = timezone.now()
    lag = GaugeMetricFamily(
        "cohort_sync_queue_lag_seconds",
        "How long the oldest run that could start has waited for a worker",
        labels=["destination"],
    )
    waiting = (
        SyncRun.objects.filter(status=RunStatus.QUEUED)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .values(destination=F("sync__connection__destination_id"))
        .annotate(since=Min(Greatest("queued_at", Coalesce("not_before", "queued_at"))))
        .order_by()
    )
    for row in waiting:
        lag.add_metric([str(row["destination"])], (now - row["since"]).total_seconds())
    yield lag
    yield GaugeMetricFamily(
        "cohort_sync_paused_syncs",
        "Syncs paused (by people or by repeated failures)",
        value=CohortSync.objects.filter(paused=True).count(),
    )


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SyncCollector())
    return bytes(generate_latest(registry))


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape: only with `Authorization: Bearer <METRICS_TOKEN>`; without a
    token configured the endpoint does not exist."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        response = HttpResponse(
            "Send Authorization: Bearer <METRICS_TOKEN>.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
