"""The fakes refuse what the vendors' references refuse, and answer as documented.

Each test sends one request a careless manifest could send and checks the vendor's
answer: a test of the cookbook that passes against a fake this strict says something.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes import hubspot, intercom, klaviyo, sendgrid
from tests.fakes.base import FakeApi


def send(
    api: FakeApi, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = None if body is None else json.dumps(body).encode()
    return httpx.request(method, api.base_url + path, content=content, headers=headers or {})


@pytest.fixture
def klaviyo_api() -> Iterator[klaviyo.KlaviyoApi]:
    with klaviyo.KlaviyoApi() as api:
        yield api  # type: ignore[misc]


@pytest.fixture
def hubspot_api() -> Iterator[hubspot.HubSpotApi]:
    with hubspot.HubSpotApi() as api:
        yield api  # type: ignore[misc]


@pytest.fixture
def sendgrid_api() -> Iterator[sendgrid.SendGridApi]:
    with sendgrid.SendGridApi() as api:
        yield api  # type: ignore[misc]


@pytest.fixture
def intercom_api() -> Iterator[intercom.IntercomApi]:
    with intercom.IntercomApi() as api:
        yield api  # type: ignore[misc]


# --- Klaviyo ------------------------------------------------------------------------------

KLAVIYO = {
    "Authorization": f"Klaviyo-API-Key {klaviyo.API_KEY}",
    "revision": "2024-10-15",
    "Content-Type": klaviyo.JSON_API,
}


def profiles(*ids: str) -> dict[str, Any]:
    return {"data": [{"type": "profile", "id": profile_id} for profile_id in ids]}


def test_klaviyo_needs_the_revision_header_and_its_key(klaviyo_api):
    no_revision = {k: v for k, v in KLAVIYO.items() if k != "revision"}
    assert send(klaviyo_api, "GET", "/api/lists", headers=no_revision).status_code == 400
    wrong_key = {**KLAVIYO, "Authorization": "Klaviyo-API-Key nope"}
    refused = send(klaviyo_api, "GET", "/api/lists", headers=wrong_key)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "not_authenticated"


def test_klaviyo_takes_json_api_documents_only(klaviyo_api):
    body = {"data": {"type": "list", "attributes": {"name": "x"}}}
    plain = {**KLAVIYO, "Content-Type": "application/json"}
    assert send(klaviyo_api, "POST", "/api/lists", body=body, headers=plain).status_code == 415
    wrong_type = {"data": {"type": "segment", "attributes": {"name": "x"}}}
    assert (
        send(klaviyo_api, "POST", "/api/lists", body=wrong_type, headers=KLAVIYO).status_code == 400
    )
    created = send(klaviyo_api, "POST", "/api/lists", body=body, headers=KLAVIYO)
    assert created.status_code == 201 and created.json()["data"]["type"] == "list"


def test_klaviyo_relationships_take_issued_ids_up_to_a_thousand(klaviyo_api):
    klaviyo_api.lists["L1"] = {"name": "x", "members": set()}
    known = klaviyo_api.add_profile("a@example.test")
    path = "/api/lists/L1/relationships/profiles"
    assert (
        send(klaviyo_api, "POST", path, body=profiles("nope"), headers=KLAVIYO).status_code == 400
    )
    too_many = profiles(*([known] * 1001))
    assert send(klaviyo_api, "POST", path, body=too_many, headers=KLAVIYO).status_code == 400
    assert (
        send(
            klaviyo_api,
            "POST",
            "/api/lists/L9/relationships/profiles",
            body=profiles(known),
            headers=KLAVIYO,
        ).status_code
        == 404
    )
    assert send(klaviyo_api, "POST", path, body=profiles(known), headers=KLAVIYO).status_code == 204
    assert klaviyo_api.lists["L1"]["members"] == {known}


def test_klaviyo_profile_filters_have_limits(klaviyo_api):
    many = json.dumps([f"u{i}@example.test" for i in range(101)])
    query = {"filter": f"any(email,{many})"}
    response = httpx.get(klaviyo_api.base_url + "/api/profiles", params=query, headers=KLAVIYO)
    assert response.status_code == 400
    response = httpx.get(
        klaviyo_api.base_url + "/api/profiles", params={"page[size]": "101"}, headers=KLAVIYO
    )
    assert response.status_code == 400


# --- HubSpot -------------------------------------------------------------------------------

HUBSPOT = {"Authorization": f"Bearer {hubspot.TOKEN}", "Content-Type": "application/json"}


def test_hubspot_batch_read_reports_missing_contacts_with_207(hubspot_api):
    record = hubspot_api.add_contact("a@example.test")
    body = {"idProperty": "email", "inputs": [{"id": "A@example.test"}, {"id": "b@example.test"}]}
    answer = send(
        hubspot_api, "POST", "/crm/v3/objects/contacts/batch/read", body=body, headers=HUBSPOT
    )
    assert answer.status_code == 207
    assert [r["id"] for r in answer.json()["results"]] == [record]
    assert answer.json()["errors"][0]["context"]["ids"] == ["b@example.test"]
    body["inputs"] = [{"id": f"u{i}@example.test"} for i in range(101)]
    assert (
        send(
            hubspot_api, "POST", "/crm/v3/objects/contacts/batch/read", body=body, headers=HUBSPOT
        ).status_code
        == 400
    )


def test_hubspot_property_values_are_strings_and_records_must_exist(hubspot_api):
    record = hubspot_api.add_contact("a@example.test")
    path = "/crm/v3/objects/contacts/batch/update"
    boolean = {"inputs": [{"id": record, "properties": {"amplitude_id": True}}]}
    refused = send(hubspot_api, "POST", path, body=boolean, headers=HUBSPOT)
    assert refused.status_code == 400 and "must be strings" in refused.json()["message"]
    unknown = {"inputs": [{"id": "999999", "properties": {"amplitude_id": "1"}}]}
    assert send(hubspot_api, "POST", path, body=unknown, headers=HUBSPOT).status_code == 404
    undefined = {"inputs": [{"id": record, "properties": {"no_such": "1"}}]}
    assert send(hubspot_api, "POST", path, body=undefined, headers=HUBSPOT).status_code == 400
    assert hubspot_api.contacts[record] == {"email": "a@example.test"}


def test_hubspot_list_names_are_unique_and_found_by_name(hubspot_api):
    body = {"name": "Fans", "objectTypeId": "0-1", "processingType": "MANUAL"}
    created = send(hubspot_api, "POST", "/crm/v3/lists/", body=body, headers=HUBSPOT)
    assert created.status_code == 200
    assert (
        send(hubspot_api, "POST", "/crm/v3/lists/", body=body, headers=HUBSPOT).status_code == 400
    )
    found = send(hubspot_api, "GET", "/crm/v3/lists/object-type-id/0-1/name/Fans", headers=HUBSPOT)
    assert found.json()["list"]["listId"] == created.json()["list"]["listId"]
    assert (
        send(
            hubspot_api, "GET", "/crm/v3/lists/object-type-id/0-1/name/Other", headers=HUBSPOT
        ).status_code
        == 404
    )
    assert (
        send(
            hubspot_api, "PUT", "/crm/v3/lists/42/memberships/add", body=["1"], headers=HUBSPOT
        ).status_code
        == 404
    )


# --- SendGrid ------------------------------------------------------------------------------

SENDGRID = {"Authorization": f"Bearer {sendgrid.API_KEY}", "Content-Type": "application/json"}


def test_sendgrid_removal_needs_issued_contact_ids_in_the_query(sendgrid_api):
    sendgrid_api.lists["L1"] = "x"
    contact = sendgrid_api.add_contact("a@example.test", "L1")
    path = "/v3/marketing/lists/L1/contacts"
    assert send(sendgrid_api, "DELETE", path, headers=SENDGRID).status_code == 400
    assert (
        send(
            sendgrid_api, "DELETE", f"{path}?contact_ids={contact},nope", headers=SENDGRID
        ).status_code
        == 404
    )
    assert sendgrid_api.members_by_email("L1") == {"a@example.test"}
    assert (
        send(sendgrid_api, "DELETE", f"{path}?contact_ids={contact}", headers=SENDGRID).status_code
        == 202
    )
    assert sendgrid_api.members_by_email("L1") == set()


def test_sendgrid_search_by_email_answers_404_when_nobody_is_found(sendgrid_api):
    path = "/v3/marketing/contacts/search/emails"
    nobody = send(sendgrid_api, "POST", path, body={"emails": ["x@example.test"]}, headers=SENDGRID)
    assert nobody.status_code == 404
    assert (
        send(
            sendgrid_api, "POST", path, body={"emails": ["not an email"]}, headers=SENDGRID
        ).status_code
        == 400
    )
    contact = sendgrid_api.add_contact("a@example.test")
    found = send(
        sendgrid_api,
        "POST",
        path,
        body={"emails": ["A@example.test", "x@example.test"]},
        headers=SENDGRID,
    )
    assert found.json()["result"] == {
        "a@example.test": {"contact": {"id": contact, "email": "a@example.test", "list_ids": []}},
        "x@example.test": {"error": "contact not found"},
    }


# --- Intercom -------------------------------------------------------------------------------

INTERCOM = {
    "Authorization": f"Bearer {intercom.TOKEN}",
    "Content-Type": "application/json",
    "Intercom-Version": "2.11",
}


def test_intercom_refuses_unknown_versions_contacts_and_page_sizes(intercom_api):
    bad_version = {**INTERCOM, "Intercom-Version": "1.0"}
    assert (
        send(intercom_api, "POST", "/tags", body={"name": "x"}, headers=bad_version).status_code
        == 400
    )
    tagged = send(
        intercom_api,
        "POST",
        "/tags",
        body={"name": "x", "users": [{"id": "nope"}]},
        headers=INTERCOM,
    )
    assert tagged.status_code == 404 and intercom_api.tags == {}
    search = {
        "query": {"field": "email", "operator": "IN", "value": []},
        "pagination": {"per_page": 151},
    }
    assert (
        send(intercom_api, "POST", "/contacts/search", body=search, headers=INTERCOM).status_code
        == 400
    )


def test_intercom_contacts_are_unique_by_email_and_untagged_one_by_one(intercom_api):
    created = send(
        intercom_api,
        "POST",
        "/contacts",
        body={"role": "user", "email": "a@x.test"},
        headers=INTERCOM,
    )
    assert created.status_code == 200
    assert (
        send(
            intercom_api,
            "POST",
            "/contacts",
            body={"role": "user", "email": "A@x.test"},
            headers=INTERCOM,
        ).status_code
        == 409
    )
    contact = created.json()["id"]
    tag = send(
        intercom_api,
        "POST",
        "/tags",
        body={"name": "Fans", "users": [{"id": contact}]},
        headers=INTERCOM,
    ).json()["id"]
    assert intercom_api.tagged_emails(tag) == {"a@x.test"}
    assert (
        send(intercom_api, "DELETE", f"/contacts/nope/tags/{tag}", headers=INTERCOM).status_code
        == 404
    )
    assert (
        send(
            intercom_api, "DELETE", f"/contacts/{contact}/tags/{tag}", headers=INTERCOM
        ).status_code
        == 200
    )
    assert intercom_api.tagged_emails(tag) == set()
