"""`/healthz` and `/readyz` (portal/views/health.py): what a load balancer, docker compose
and `make run` poll."""

from __future__ import annotations

import socket

import orjson
import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from portal.views import health


@pytest.fixture
def fresh_broker_client():
    health._redis_client.cache_clear()
    yield
    health._redis_client.cache_clear()


def test_liveness_answers_without_the_database_or_the_broker(db, monkeypatch):
    def unreachable() -> str:
        raise AssertionError("liveness must not check the broker")

    monkeypatch.setattr(health, "_broker", unreachable)
    with CaptureQueriesContext(connection) as queries:
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert "no-cache" in response["Cache-Control"]


def test_readiness_reports_database_and_broker(db, fresh_broker_client):
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_readiness_reuses_one_broker_connection(db, fresh_broker_client):
    client = Client()
    assert client.get("/readyz").status_code == 200
    redis = health._redis_client()
    first = redis.client_id()
    for _ in range(20):
        assert client.get("/readyz").status_code == 200
    # The same server-side connection answered all along: no connection per call.
    assert redis.client_id() == first
    assert len(redis.connection_pool._available_connections) == 1


def test_readiness_is_503_when_the_broker_is_down(db, settings, fresh_broker_client):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
    # Liveness does not care.
    assert Client().get("/healthz").status_code == 200


def test_readiness_is_503_when_the_database_is_down(db, monkeypatch, fresh_broker_client):
    class Unreachable:
        def cursor(self):
            raise OSError("connection refused")

    monkeypatch.setattr(health, "connection", Unreachable())
    response = health.readyz(RequestFactory().get("/readyz"))
    assert response.status_code == 503
    assert orjson.loads(response.content) == {
        "status": "error",
        "database": "error: OSError",
        "broker": "ok",
    }
