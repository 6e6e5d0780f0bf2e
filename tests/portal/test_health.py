"""`/healthz` (portal/views/health.py): what a load balancer or `make run` polls."""

from django.test import Client


def test_healthz_reports_database_and_broker(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
