"""The Prometheus endpoint: protected by a bearer token, counting what workers did."""

from __future__ import annotations

import pytest
from django.test import Client

from syncs import engine, metrics, runs
from tests.syncs.conftest import list_manifest, make_sync

TOKEN = "scrape-me-please"


@pytest.fixture
def clean_metrics(settings):
    settings.METRICS_TOKEN = TOKEN
    metrics.reset()
    yield settings
    metrics.reset()


def scrape(token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get("/metrics", **headers)


@pytest.mark.django_db
def test_metrics_answer_only_with_the_token(settings):
    settings.METRICS_TOKEN = ""
    assert scrape().status_code == 404  # no token configured: no endpoint

    settings.METRICS_TOKEN = TOKEN
    assert scrape(None).status_code == 401
    assert scrape("wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
    answer = scrape()
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")


@pytest.mark.django_db(transaction=True)
def test_metrics_count_runs_batches_users_latency_and_queue_lag(cast, partner, clean_metrics):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(25))
    engine.execute_run(runs.run_create(sync, kind="manual", enqueue=False).pk)
    partner.state.set_faults(fail_next=10, status=400)
    failing = make_sync(
        cast, list_manifest(partner.url, name="Other"), members=range(2), cohort_name="Few"
    )
    engine.execute_run(runs.run_create(failing, kind="manual", enqueue=False).pk)
    runs.run_create(sync, kind="manual", enqueue=False)  # waiting for a worker

    text = scrape().content.decode()

    destination = sync.connection.destination_id
    other = failing.connection.destination_id
    assert 'cohort_sync_runs_finished_total{status="succeeded"} 1.0' in text
    assert 'cohort_sync_runs_finished_total{status="failed"} 1.0' in text
    assert (
        f'cohort_sync_batches_total{{destination="{destination}",endpoint="add_users",'
        'status="delivered"} 3.0'
    ) in text
    assert (
        f'cohort_sync_users_sent_total{{destination="{destination}",endpoint="add_users"}} 25.0'
    ) in text
    assert f'cohort_sync_partner_latency_seconds_count{{destination="{destination}"}} 3.0' in text
    assert (
        f'cohort_sync_partner_latency_seconds_bucket{{destination="{destination}",le="+Inf"}}'
        in text
    )
    assert 'cohort_sync_runs_active{status="queued"} 1.0' in text
    assert f'cohort_sync_queue_lag_seconds{{destination="{destination}"}}' in text
    assert f'destination="{other}"' not in text.split("cohort_sync_queue_lag_seconds")[-1]
    assert "cohort_sync_paused_syncs 0.0" in text
