"""The demo partner as its users see it: a real HTTP service on loopback."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo_partner import DEMO_API_KEY, DEMO_TOKEN
from demo_partner.state import MAX_LOG_ENTRIES

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


@pytest.fixture
def api(partner) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=partner.url, headers=AUTH, timeout=5) as client:
        yield client


def create_list(api: httpx.Client, name: str = "Power users") -> str:
    response = api.post("/v1/lists", json={"name": name})
    assert response.status_code == 201
    return response.json()["data"]["id"]


# --- lists ----------------------------------------------------------------------------


def test_creating_a_list_returns_its_id_nested_under_data(api):
    response = api.post("/v1/lists", json={"name": "Power users"})
    assert response.status_code == 201
    data = response.json()["data"]
    assert re.fullmatch(r"lst_[0-9a-f]{12}", data["id"])
    assert data["name"] == "Power users"


def test_a_jsonapi_list_name_is_accepted(api):
    response = api.post(
        "/v1/lists", json={"data": {"type": "list", "attributes": {"name": "Klaviyo style"}}}
    )
    assert response.status_code == 201
    assert response.json()["data"]["name"] == "Klaviyo style"


def test_a_list_needs_a_name(api):
    response = api.post("/v1/lists", json={"title": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "E_VALIDATION"


@pytest.mark.parametrize(
    "payload",
    [
        {"userIds": ["a", "b"]},
        {"members": ["a", "b"]},
        {"members": [{"id": "a"}, {"user_id": "b"}]},
        {"data": [{"type": "profile", "id": "a"}, {"type": "profile", "id": "b"}]},
        {"users": [{"attributes": {"email": "a"}}, {"email": "b"}]},
        ["a", "b"],
    ],
)
def test_members_are_added_from_every_common_shape(partner, api, payload):
    list_id = create_list(api)
    response = api.post(f"/v1/lists/{list_id}/members", json=payload)
    assert response.status_code == 200
    assert response.json()["data"]["member_count"] == 2
    assert partner.state.members_of(list_id) == {"a", "b"}


def test_members_are_removed_with_delete_and_a_body(partner, api):
    list_id = create_list(api)
    api.post(f"/v1/lists/{list_id}/members", json={"userIds": ["a", "b", "c"]})
    response = api.request("DELETE", f"/v1/lists/{list_id}/members", json={"userIds": ["a"]})
    assert response.status_code == 200
    assert response.json()["data"] == {
        "list_id": list_id,
        "received": 1,
        "removed": 1,
        "member_count": 2,
    }
    assert partner.state.members_of(list_id) == {"b", "c"}


def test_add_and_remove_aliases_work(partner, api):
    list_id = create_list(api)
    api.post(f"/v1/lists/{list_id}/add", json={"userIds": ["a", "b"]})
    api.post(f"/v1/lists/{list_id}/remove", json={"userIds": ["a"]})
    assert partner.state.members_of(list_id) == {"b"}


def test_lists_can_be_read_back(api):
    list_id = create_list(api)
    api.post(f"/v1/lists/{list_id}/members", json={"userIds": ["b", "a"]})
    assert api.get(f"/v1/lists/{list_id}").json()["data"]["member_count"] == 2
    assert api.get(f"/v1/lists/{list_id}/members").json()["data"]["members"] == ["a", "b"]
    assert [item["id"] for item in api.get("/v1/lists").json()["data"]] == [list_id]


def test_an_unknown_list_is_404(api):
    response = api.post("/v1/lists/lst_nope/members", json={"userIds": ["a"]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "E_LIST_NOT_FOUND"


def test_bad_json_is_400(api):
    response = api.post(
        "/v1/lists", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "E_BAD_JSON"


def test_a_bad_member_shape_is_400(api):
    list_id = create_list(api)
    response = api.post(f"/v1/lists/{list_id}/members", json={"userIds": [{"nothing": 1}]})
    assert response.status_code == 400
    assert "entry 0" in response.json()["error"]["message"]


def test_an_unknown_route_is_404(api):
    assert api.get("/v1/nothing").status_code == 404


# --- properties -----------------------------------------------------------------------


def test_property_updates_record_the_in_cohort_flag(partner, api):
    response = api.post(
        "/v1/users/properties",
        json={
            "users": [
                {"user_id": "a", "in_cohort": True, "plan": "pro"},
                {"user_id": "b", "properties": {"inCohort": False}},
            ]
        },
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"updated": 2}}
    assert partner.state.properties["a"] == {"plan": "pro", "in_cohort": True}
    assert partner.state.properties["b"] == {"in_cohort": False}
    assert partner.state.users_in_cohort() == ["a"]


def test_a_property_update_needs_the_flag(api):
    response = api.post("/v1/users/properties", json={"users": [{"user_id": "a"}]})
    assert response.status_code == 400
    assert "in_cohort" in response.json()["error"]["message"]


# --- auth -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {DEMO_TOKEN}"},
        {"X-API-Key": DEMO_API_KEY},
        {"Authorization": "Basic " + base64.b64encode(f"{DEMO_API_KEY}:".encode()).decode()},
        {"Authorization": "Basic " + base64.b64encode(f"{DEMO_API_KEY}:x".encode()).decode()},
    ],
)
def test_each_accepted_credential_works(partner, headers):
    response = httpx.post(f"{partner.url}/v1/lists", json={"name": "x"}, headers=headers)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "demo-token"},
        {"X-API-Key": "wrong"},
        {"Authorization": "Basic !!!"},
    ],
)
def test_missing_or_wrong_credentials_are_401_with_a_json_error(partner, headers):
    response = httpx.post(f"{partner.url}/v1/lists", json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "E_AUTH"
    assert partner.state.lists == {}


# --- idempotency ----------------------------------------------------------------------


def test_a_repeated_idempotency_key_replays_without_reapplying(partner, api):
    list_id = create_list(api)
    headers = {"Idempotency-Key": "batch-1"}
    first = api.post(f"/v1/lists/{list_id}/members", json={"userIds": ["a"]}, headers=headers)
    # Someone removes "a" in between: a replay must not add it back.
    partner.state.remove_members(list_id, ["a"])
    second = api.post(f"/v1/lists/{list_id}/members", json={"userIds": ["a"]}, headers=headers)
    assert second.status_code == first.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert partner.state.members_of(list_id) == set()
    assert [e["replayed"] for e in partner.state.log_entries()][-2:] == [False, True]


def test_a_reused_key_with_another_body_is_refused(api):
    list_id = create_list(api)
    headers = {"Idempotency-Key": "batch-2"}
    api.post(f"/v1/lists/{list_id}/members", json={"userIds": ["a"]}, headers=headers)
    response = api.post(f"/v1/lists/{list_id}/members", json={"userIds": ["b"]}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "E_IDEMPOTENCY_MISMATCH"


def test_a_failed_request_is_not_remembered(partner, api):
    list_id = create_list(api)
    partner.state.set_faults(fail_next=1, status=503)
    headers = {"Idempotency-Key": "batch-3"}
    assert (
        api.post(
            f"/v1/lists/{list_id}/members", json={"userIds": ["a"]}, headers=headers
        ).status_code
        == 503
    )
    assert (
        api.post(
            f"/v1/lists/{list_id}/members", json={"userIds": ["a"]}, headers=headers
        ).status_code
        == 200
    )
    assert partner.state.members_of(list_id) == {"a"}


# --- faults ---------------------------------------------------------------------------


def test_the_next_n_responses_fail_with_the_chosen_status(api):
    assert api.post("/_faults", json={"fail_next": 2, "status": 500}).status_code == 200
    statuses = [api.post("/v1/lists", json={"name": "x"}).status_code for _ in range(3)]
    assert statuses == [500, 500, 201]


def test_a_429_fault_carries_retry_after(api):
    api.post("/_faults", json={"fail_next": 1, "status": 429, "retry_after": "2"})
    response = api.post("/v1/lists", json={"name": "x"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "E_FAULT"


def test_slow_responses(api):
    api.post("/_faults", json={"delay_ms": 200})
    started = time.monotonic()
    api.post("/v1/lists", json={"name": "x"})
    assert time.monotonic() - started >= 0.2


def test_faults_can_be_set_from_the_page_form(api):
    response = api.post("/_faults", data={"fail_next": "1", "status": "502", "retry_after": ""})
    assert response.status_code == 303
    assert api.get("/_log").json()["faults"]["fail_next"] == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"fail_next": -1},
        {"status": 200},
        {"delay_ms": "soon"},
        {"retry_after": "1\r\nX: y"},
        {"bogus": 1},
    ],
)
def test_invalid_fault_settings_are_refused(api, settings):
    response = api.post("/_faults", json=settings)
    assert response.status_code == 400
    assert api.get("/_log").json()["faults"] == {
        "fail_next": 0,
        "status": 503,
        "retry_after": None,
        "delay_ms": 0,
    }


# --- the log, the page and reset --------------------------------------------------------


def test_the_log_records_requests_with_credentials_masked(api):
    api.post("/v1/lists", json={"name": "Logged"}, headers={"X-API-Key": "also-secret"})
    entry = api.get("/_log").json()["requests"][-1]
    headers = dict(entry["headers"])
    assert headers["Authorization"] == "Bearer ••••••"
    assert headers["X-API-Key"] == "••••••"
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1/lists"
    assert json.loads(entry["body"]) == {"name": "Logged"}
    assert entry["status"] == 201
    assert DEMO_TOKEN not in json.dumps(api.get("/_log").json())


def test_the_log_is_bounded(partner, api):
    for _ in range(MAX_LOG_ENTRIES + 5):
        api.get("/v1/lists")
    log = partner.state.log_entries()
    assert len(log) == MAX_LOG_ENTRIES
    assert log[-1]["seq"] == MAX_LOG_ENTRIES + 5


def test_the_log_can_include_members(api):
    list_id = create_list(api)
    api.post(f"/v1/lists/{list_id}/members", json={"userIds": ["a"]})
    lists = api.get("/_log", params={"members": "1"}).json()["lists"]
    assert lists == [{"id": list_id, "name": "Power users", "member_count": 1, "members": ["a"]}]


def test_the_page_shows_requests_lists_and_faults_escaped(api):
    create_list(api, name="<script>alert(1)</script>")
    api.post("/_faults", json={"delay_ms": 5})
    page = api.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "POST /v1/lists" in page.text
    assert 'name="delay_ms" type="number" min="0"\n value="5"' in page.text
    assert api.get("/style.css").headers["Content-Type"].startswith("text/css")


def test_reset_forgets_everything(partner, api):
    create_list(api)
    api.post("/_faults", json={"delay_ms": 1})
    assert api.post("/_reset").json() == {"reset": True}
    snapshot = api.get("/_log").json()
    assert snapshot["lists"] == []
    assert snapshot["requests"] == []
    assert snapshot["faults"]["delay_ms"] == 0


# --- the command line ---------------------------------------------------------------------


def test_the_command_line_serves_until_stopped():
    process = subprocess.Popen(
        [sys.executable, "-m", "demo_partner", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        line = process.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        response = httpx.get(f"{match.group(1)}/healthz", timeout=5)
        assert response.json() == {"ok": True}
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- the API as its page tells it ----------------------------------------------------------


def _keys(value):
    """The shape of a JSON value: its keys all the way down, not its ids."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys(item) for item in value[:1]]
    return type(value).__name__


def test_every_example_of_the_reference_is_what_the_partner_answers(api, partner):
    from demo_partner import reference

    list_id = None
    for op in reference.operations():
        path = op.path.replace("{list_id}", list_id or "")
        response = api.request(op.method, path, content=op.body)
        assert response.status_code == op.status, (op.path, response.text)
        assert _keys(response.json()) == _keys(json.loads(op.answer)), op.path
        if op.path == "/v1/lists":
            list_id = response.json()["data"]["id"]
    page = httpx.get(partner.url + "/").text
    assert "<h2>The API</h2>" in page
    assert "POST /v1/lists/{list_id}/members" in page
    assert "The new list&#x27;s id comes back at data.id" in page
