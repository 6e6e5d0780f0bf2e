"""The REST API of connections, cohort syncs and their delivery log: what the pages do, as
JSON. Secrets never come back; bad input names its field; plain members read and are
refused writes; another organisation's objects are 404 on every operation; every operation
is in the OpenAPI schema, tagged."""

from __future__ import annotations

import json

import pytest

from portal.api.schema import APP_TAGS
from syncengine.core.masking import MASK
from syncs.models import CohortSync, Connection
from tests.syncengine.conftest import TOKEN
from tests.syncs.builders import add_sync, cohort_of, connect, globex_world, released, synced

SECRET = "api-secret-token"


@pytest.fixture
def destination(cast):
    return released(cast)


@pytest.fixture
def alan_api(cast, api_for):
    return api_for(cast.alan, cast.acme)


def create(api, destination, cast, **changes):
    body = {
        "destination_id": destination.pk,
        "project_id": cast.acme_project.public_id,
        "name": "Acme lists",
        "values": {"bearer_token": SECRET, "region": "eu"},
        "mapping": {"user_id_field": "email"},
    } | changes
    return api.post("/api/v1/connections/", body, format="json")


def test_connecting_through_the_api_never_shows_the_secret_again(cast, alice_api, destination):
    created = create(alice_api, destination, cast)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["values"] == {"bearer_token": MASK, "region": "eu"}
    assert body["mapping"] == {"user_id_field": "email"}
    assert (body["display_name"], body["version_number"], body["channel"]) == (
        "Loopback Lists",
        1,
        "internal",
    )
    assert body["project_id"] == cast.acme_project.public_id
    listed = alice_api.get("/api/v1/connections/").json()
    assert listed["count"] == 1 and SECRET not in json.dumps(listed)
    # PATCH: a blank secret keeps the stored one.
    patched = alice_api.patch(
        body["url"],
        {"name": "Acme EU", "values": {"bearer_token": "", "region": "us"}},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["values"]["region"] == "us"
    assert Connection.objects.get().values == {"bearer_token": SECRET, "region": "us"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"values": {"region": "eu"}}, "values.bearer_token"),
        ({"values": {"bearer_token": SECRET, "region": "mars"}}, "values.region"),
        ({"destination_id": 987_654}, "destination_id"),
        ({"project_id": 987_654}, "project_id"),
        ({"name": ""}, "name"),
        ({"values": ["not", "an", "object"]}, "values"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(cast, alice_api, destination, changes, field):
    refused = create(alice_api, destination, cast, **changes)
    assert refused.status_code == 400, refused.content
    assert field in refused.json()["error"]["fields"]
    assert not Connection.objects.exists()


def test_syncs_through_the_api(cast, alice_api, destination):
    connection_id = create(alice_api, destination, cast).json()["id"]
    cohort = cohort_of(cast, "Power users", 3)
    url = f"/api/v1/connections/{connection_id}/syncs"
    bad = alice_api.post(url, {"cohort_id": cohort.public_id, "cadence": "daily"}, format="json")
    assert bad.status_code == 400 and "daily_hour" in bad.json()["error"]["fields"]
    made = alice_api.post(
        url, {"cohort_id": cohort.public_id, "cadence": "daily", "daily_hour": 5}, format="json"
    )
    assert made.status_code == 201, made.content
    sync = made.json()
    assert (sync["cohort_name"], sync["schedule"], sync["state"]) == (
        "Power users",
        "Every day at 05:00 UTC",
        "scheduled",
    )
    assert alice_api.get(url).json()["count"] == 1
    assert alice_api.get("/api/v1/syncs/").json()["results"][0]["id"] == sync["id"]
    manual = alice_api.patch(sync["url"], {"cadence": "manual"}, format="json").json()
    assert manual["next_run_at"] is None and manual["state"] == "manual"
    paused = alice_api.post(f"{sync['url']}/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert alice_api.post(f"{sync['url']}/pause").status_code == 409
    assert alice_api.post(f"{sync['url']}/resume").json()["paused"] is False
    started = alice_api.post(f"{sync['url']}/sync-now")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    busy = alice_api.post(f"{sync['url']}/sync-now")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "sync_busy"
    assert alice_api.get(sync["url"]).json()["state"] == "queued"
    runs = alice_api.get(f"{sync['url']}/runs").json()
    assert [r["id"] for r in runs["results"]] == [started.json()["id"]]
    detail = alice_api.get(started.json()["url"]).json()
    assert (detail["kind"], detail["started_by"]) == ("manual", "alice@acme.test")
    # A connection with syncs cannot go; its sync cannot either while a run is queued.
    assert alice_api.delete(f"/api/v1/connections/{connection_id}").status_code == 409
    assert alice_api.delete(sync["url"]).status_code == 409
    assert CohortSync.objects.count() == 1


def test_deleting_a_sync_and_its_connection(cast, alice_api, destination):
    connection = connect(cast, destination)
    sync = add_sync(cast, connection)
    CohortSync.objects.filter(pk=sync.pk).update(delivered_count=3, list_id="lst_9")
    emptying = alice_api.delete(f"/api/v1/syncs/{sync.pk}?empty_first=true")
    assert emptying.status_code == 202 and emptying.json()["kind"] == "empty"
    other = add_sync(cast, connection, cohort=cohort_of(cast, "Churn risk"))
    assert alice_api.delete(f"/api/v1/syncs/{other.pk}").status_code == 204
    assert list(CohortSync.objects.values_list("pk", flat=True)) == [sync.pk]


def test_plain_members_read_and_cannot_write(cast, alan_api, destination):
    connection = connect(cast, destination)
    sync = add_sync(cast, connection)
    assert alan_api.get("/api/v1/connections/").json()["count"] == 1
    assert alan_api.get(f"/api/v1/syncs/{sync.pk}").status_code == 200
    for method, path in [
        ("post", "/api/v1/connections/"),
        ("patch", f"/api/v1/connections/{connection.pk}"),
        ("delete", f"/api/v1/connections/{connection.pk}"),
        ("post", f"/api/v1/connections/{connection.pk}/syncs"),
        ("patch", f"/api/v1/syncs/{sync.pk}"),
        ("delete", f"/api/v1/syncs/{sync.pk}"),
        ("post", f"/api/v1/syncs/{sync.pk}/pause"),
        ("post", f"/api/v1/syncs/{sync.pk}/sync-now"),
        ("post", f"/api/v1/syncs/{sync.pk}/retry-failed"),
        ("post", f"/api/v1/syncs/{sync.pk}/full-resync"),
    ]:
        response = getattr(alan_api, method)(path, {}, format="json")
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
    assert not sync.runs.exists() and Connection.objects.count() == 1


def test_another_orgs_connections_syncs_and_runs_are_404(cast, alice_api):
    from syncs import runs

    globex = globex_world(cast)
    run = runs.run_create(globex["sync"], kind="manual", enqueue=False)
    connection, sync = globex["connection"], globex["sync"]
    for method, path in [
        ("get", f"/api/v1/connections/{connection.pk}"),
        ("patch", f"/api/v1/connections/{connection.pk}"),
        ("delete", f"/api/v1/connections/{connection.pk}"),
        ("get", f"/api/v1/connections/{connection.pk}/syncs"),
        ("post", f"/api/v1/connections/{connection.pk}/syncs"),
        ("get", f"/api/v1/syncs/{sync.pk}"),
        ("patch", f"/api/v1/syncs/{sync.pk}"),
        ("delete", f"/api/v1/syncs/{sync.pk}"),
        ("post", f"/api/v1/syncs/{sync.pk}/pause"),
        ("post", f"/api/v1/syncs/{sync.pk}/sync-now"),
        ("get", f"/api/v1/syncs/{sync.pk}/runs"),
        ("get", f"/api/v1/sync-runs/{run.pk}"),
        ("get", f"/api/v1/sync-runs/{run.pk}/batches"),
        ("get", f"/api/v1/sync-runs/{run.pk}/exchanges"),
    ]:
        response = getattr(alice_api, method)(path, {"cadence": "manual"}, format="json")
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
    # Nor does a Globex connection go to Acme's catalogue of destinations.
    assert alice_api.get("/api/v1/connections/").json()["count"] == 0
    assert alice_api.get("/api/v1/syncs/").json()["count"] == 0


def test_the_delivery_log_shows_batches_and_masked_exchanges(
    transactional_db, cast, api_for, partner
):
    sync = synced(cast, partner.url, members=5, batch_size=2)
    api = api_for(cast.alice, cast.acme)
    (run,) = api.get(f"/api/v1/syncs/{sync.pk}/runs").json()["results"]
    assert (run["status"], run["entered"], run["sent"], run["batches_total"]) == (
        "succeeded",
        5,
        5,
        3,
    )
    batches = api.get(f"/api/v1/sync-runs/{run['id']}/batches").json()["results"]
    assert [(b["sequence"], b["size"], b["status"]) for b in batches] == [
        (1, 2, "delivered"),
        (2, 2, "delivered"),
        (3, 1, "delivered"),
    ]
    exchanges = api.get(f"/api/v1/sync-runs/{run['id']}/exchanges").json()["results"]
    assert [e["step"] for e in exchanges] == ["create_list", "add_users", "add_users", "add_users"]
    # Batches go out side by side, so the log is in the order requests were sent.
    assert exchanges[0]["batch"] is None
    assert sorted(e["batch"] for e in exchanges[1:]) == [1, 2, 3]
    assert TOKEN not in json.dumps(exchanges)
    (first_batch,) = [e for e in exchanges if e["batch"] == 1]
    headers = dict(first_batch["request_headers"])
    assert headers["Authorization"] == f"Bearer {MASK}"
    one = api.get(f"/api/v1/sync-runs/{run['id']}/exchanges?batch=3").json()["results"]
    assert [e["item_count"] for e in one] == [1]
    assert api.get(f"/api/v1/sync-runs/{run['id']}/exchanges?batch=9").status_code == 404


def test_every_operation_is_in_the_schema_under_the_apps_tag(cast, alice_api):
    from django.test import Client

    client = Client()
    client.force_login(cast.alice)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    expected = {
        "/api/v1/connections/": {"get", "post"},
        "/api/v1/connections/{connection_id}": {"get", "patch", "delete"},
        "/api/v1/connections/{connection_id}/syncs": {"get", "post"},
        "/api/v1/syncs/": {"get"},
        "/api/v1/syncs/{sync_id}": {"get", "patch", "delete"},
        "/api/v1/syncs/{sync_id}/pause": {"post"},
        "/api/v1/syncs/{sync_id}/resume": {"post"},
        "/api/v1/syncs/{sync_id}/sync-now": {"post"},
        "/api/v1/syncs/{sync_id}/retry-failed": {"post"},
        "/api/v1/syncs/{sync_id}/full-resync": {"post"},
        "/api/v1/syncs/{sync_id}/runs": {"get"},
        "/api/v1/sync-runs/{sync_run_id}": {"get"},
        "/api/v1/sync-runs/{sync_run_id}/batches": {"get"},
        "/api/v1/sync-runs/{sync_run_id}/exchanges": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        operations = {
            m: op for m, op in paths[path].items() if m in {"get", "post", "patch", "delete", "put"}
        }
        assert set(operations) == methods, path
        for method, operation in operations.items():
            assert operation["tags"] == [APP_TAGS["syncs"]], f"{method} {path}"
            if "requestBody" in operation:
                assert set(operation["requestBody"]["content"]) == {"application/json"}
            assert operation.get("summary"), f"{method} {path} has no summary"
    assert "/api/v1/destinations/{destination_id}/visibility" in paths
    # A created connection leads to its syncs, a started run to its delivery log.
    created = paths["/api/v1/connections/"]["post"]["responses"]["201"]["links"]
    assert created["v1_connections_syncs_create"]["parameters"] == {
        "connection_id": "$response.body#/id"
    }
    started = paths["/api/v1/syncs/{sync_id}/sync-now"]["post"]["responses"]["202"]["links"]
    assert set(started) == {
        "v1_sync_runs_retrieve",
        "v1_sync_runs_batches_list",
        "v1_sync_runs_exchanges_list",
    }
