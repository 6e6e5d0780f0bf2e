"""The cookbook's manifests (docs/cookbook/) tested end to end against fakes of the
vendors' APIs (tests/fakes/): `manage.py integration test`, and a test run on a real
Celery worker. Each test points the manifest's vendor origin at the fake, and checks the
fake's state afterwards (who is on the list, which property is set), not only statuses.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from syncengine import actions
from syncengine.models import TestRun
from syncengine.testusers import generated_users
from tests.fakes import hubspot, intercom, klaviyo, sendgrid
from tests.fakes.base import FakeApi
from tests.syncengine.conftest import make_draft, save_settings

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "cookbook"
RUN_TIMEOUT = 60.0
USERS = 10


def cookbook(name: str, fake: FakeApi, origin: str) -> dict[str, Any]:
    """The cookbook manifest with the vendor's origin pointed at the fake."""
    return json.loads((COOKBOOK / f"{name}.json").read_text().replace(origin, fake.base_url))


def cli_test(tmp_path: Path, manifest: dict[str, Any], *args: str) -> str:
    """Run `manage.py integration test` on the manifest; its output (it must pass)."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("integration", "test", str(path), *args, stdout=out, stderr=err)
    except SystemExit as failed:
        raise AssertionError(f"the test failed:\n{out.getvalue()}\n{err.getvalue()}") from failed
    return out.getvalue()


def worker_run(cast, manifest: dict[str, Any], **settings: Any) -> TestRun:
    """A full test run of the manifest as a draft, performed by the Celery worker."""
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, **settings)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run.pk} still {run.status}: {run.steps}")


def emails(count: int = USERS) -> list[str]:
    return [str(user["email"]) for user in generated_users(count).to_add.values()]


def kept_after_test(count: int = USERS) -> set[str]:
    """The users still in the cohort after a full test: added, minus the removed ones."""
    users = generated_users(count)
    return {str(u["email"]) for key, u in users.to_add.items() if key not in users.to_remove}


# --- Klaviyo ---------------------------------------------------------------------------------


@pytest.fixture
def klaviyo_api():
    with klaviyo.KlaviyoApi() as api:
        yield api


def klaviyo_manifest(api: FakeApi) -> dict[str, Any]:
    return cookbook("klaviyo-lists", api, "https://a.klaviyo.com")


def test_klaviyo_lists_from_the_command_line(tmp_path, klaviyo_api):
    known = {email: klaviyo_api.add_profile(email) for email in emails()[:4]}

    out = cli_test(
        tmp_path,
        klaviyo_manifest(klaviyo_api),
        "--var",
        f"api_key={klaviyo.API_KEY}",
        "--users",
        "10",
    )

    (list_id,) = klaviyo_api.lists
    assert klaviyo_api.members_by_email(list_id) == kept_after_test()
    # Known profiles were found, the others created once; lookups are printed exchanges.
    assert {klaviyo_api.profile_by_email(email) for email in known} == set(known.values())
    assert len(klaviyo_api.profiles) == USERS
    assert "/api/profiles?filter=any(email," in out
    assert "Passed:" in out


def test_klaviyo_lists_skip_users_without_an_email_and_say_so(tmp_path, klaviyo_api):
    csv = tmp_path / "users.csv"
    csv.write_text(
        "operation,email\nadd,ann@example.test\nadd,\nadd,BOB@example.test\nremove,bob@example.test\n"
    )
    out = cli_test(
        tmp_path,
        klaviyo_manifest(klaviyo_api),
        "--var",
        f"api_key={klaviyo.API_KEY}",
        "--csv",
        str(csv),
    )
    (list_id,) = klaviyo_api.lists
    assert klaviyo_api.members_by_email(list_id) == {"ann@example.test"}
    assert "1 skipped (1 missing value)" in out
    assert "no value for $email" in out


def test_klaviyo_lists_on_the_worker(cast, celery_worker, klaviyo_api):
    klaviyo_api.add_profile(emails()[0].upper())  # found whatever its case
    run = worker_run(
        cast,
        klaviyo_manifest(klaviyo_api),
        values={"api_key": klaviyo.API_KEY},
        mapping={"email": "email"},
        users_count=USERS,
    )

    assert run.status == "passed", run.summary
    assert klaviyo_api.members_by_email(run.list_id) == kept_after_test()
    steps = [e.step for e in run.exchanges.order_by("sequence")]
    assert steps[:2] == ["create_list.find", "create_list"]
    assert steps.count("add_users.create") == USERS - 1
    assert {"add_users.lookup", "add_users", "remove_users.lookup", "remove_users"} <= set(steps)


def test_klaviyo_finds_the_list_of_the_cohort_instead_of_making_another(tmp_path, klaviyo_api):
    csv = tmp_path / "users.csv"
    csv.write_text(
        'operation,email,cohort_name\nadd,ann@example.test,"Fans, loyal & ""true"""\n'
        'remove,ann@example.test,"Fans, loyal & ""true"""\n'
    )
    arguments = ("--var", f"api_key={klaviyo.API_KEY}", "--csv", str(csv))
    cli_test(tmp_path, klaviyo_manifest(klaviyo_api), *arguments)
    out = cli_test(tmp_path, klaviyo_manifest(klaviyo_api), *arguments)

    (list_id,) = klaviyo_api.lists
    assert klaviyo_api.lists[list_id]["name"] == 'Fans, loyal & "true"'
    assert f"list id: {list_id}" in out
    finds = klaviyo_api.calls_to("GET", "/api/lists")
    assert [call.query["filter"] for call in finds] == [
        ['equals(name,"Fans, loyal & \\"true\\"")']
    ] * 2


# --- HubSpot lists ---------------------------------------------------------------------------


@pytest.fixture
def hubspot_api():
    with hubspot.HubSpotApi() as api:
        yield api


def hubspot_lists(api: FakeApi) -> dict[str, Any]:
    return cookbook("hubspot-lists", api, "https://api.hubapi.com")


def test_hubspot_lists_from_the_command_line(tmp_path, hubspot_api):
    for email in emails()[3:6]:
        hubspot_api.add_contact(email)

    out = cli_test(
        tmp_path,
        hubspot_lists(hubspot_api),
        "--var",
        f"access_token={hubspot.TOKEN}",
        "--users",
        "10",
    )

    (list_id,) = hubspot_api.lists
    assert hubspot_api.members_by_email(list_id) == kept_after_test()
    assert len(hubspot_api.contacts) == USERS
    assert "batch/upsert" in out and "Passed:" in out


def test_hubspot_lists_on_the_worker(cast, celery_worker, hubspot_api):
    run = worker_run(
        cast,
        hubspot_lists(hubspot_api),
        values={"access_token": hubspot.TOKEN},
        mapping={"email": "email"},
        users_count=USERS,
    )
    assert run.status == "passed", run.summary
    assert hubspot_api.members_by_email(run.list_id) == kept_after_test()
    # The find request's 404 ("no list of that name") was classified ignore, then created.
    first = run.exchanges.order_by("sequence").first()
    assert (first.step, first.response_status, first.outcome) == (
        "create_list.find",
        404,
        "ignored",
    )


# --- HubSpot contact property ---------------------------------------------------------------


def hubspot_property(api: FakeApi) -> dict[str, Any]:
    return cookbook("hubspot-contact-property", api, "https://api.hubapi.com")


def property_state(api: hubspot.HubSpotApi) -> dict[str, dict[str, str]]:
    return {c["email"]: c for c in api.contacts.values()}


def test_hubspot_contact_property_from_the_command_line(tmp_path, hubspot_api):
    hubspot_api.defined_properties.add("amplitude_cohort_member")
    known = emails()[:8]
    for email in known:
        hubspot_api.add_contact(email)

    out = cli_test(
        tmp_path,
        hubspot_property(hubspot_api),
        "--var",
        f"access_token={hubspot.TOKEN}",
        "--users",
        "10",
    )

    state = property_state(hubspot_api)
    staying = kept_after_test()
    for email in known:
        expected = "true" if email in staying else "false"
        assert state[email]["amplitude_cohort_member"] == expected
        assert state[email]["amplitude_id"].isdigit()  # a number, sent as the text HubSpot wants
    assert len(state) == 8  # the two users HubSpot does not know were skipped, not created
    assert "skipped (2 not found by the lookup)" in out


def test_hubspot_contact_property_on_the_worker(cast, celery_worker, hubspot_api):
    hubspot_api.defined_properties.add("cohort_flag")
    users = generated_users(USERS)
    leaving = [str(users.to_add[key]["email"]) for key in users.to_remove]
    # HubSpot knows neither the first user nor one of those leaving the cohort.
    unknown = {emails()[0], leaving[0]}
    known = [email for email in emails() if email not in unknown]
    for email in known:
        hubspot_api.add_contact(email)

    run = worker_run(
        cast,
        hubspot_property(hubspot_api),
        values={"access_token": hubspot.TOKEN, "property_name": "cohort_flag"},
        mapping={"email": "email", "amplitude_id": "amplitude_id"},
        users_count=USERS,
    )

    assert run.status == "passed", run.summary
    state = property_state(hubspot_api)
    assert {email for email, c in state.items() if c["cohort_flag"] == "true"} == (
        kept_after_test() & set(known)
    )
    sent = [json.loads(e.request_body) for e in run.exchanges.filter(step="update_users")]
    values = [i["properties"]["cohort_flag"] for body in sent for i in body["inputs"]]
    assert set(values) == {"true", "false"}
    # The two users HubSpot does not know are counted in the steps and the summary.
    enter, leave = run.steps
    assert (enter["users_done"], enter["users_skipped"]) == (8, 2)
    assert enter["skip_reasons"] == {"not_found": 2}
    assert "2 skipped (2 not found by the lookup)" in enter["note"]
    assert "2 skipped (2 not found by the lookup)" in run.summary
    assert (leave["users_done"], leave["users_skipped"]) == (1, 1)


def test_hubspot_refuses_a_number_where_a_string_is_required(tmp_path, hubspot_api):
    """Without the string modifier the fake refuses the batch, as HubSpot would."""
    hubspot_api.defined_properties.add("amplitude_cohort_member")
    for email in emails():
        hubspot_api.add_contact(email)
    manifest = hubspot_property(hubspot_api)
    update = manifest["endpoints"]["update_users"]
    update["item_template"] = update["item_template"].replace("${in_cohort:string}", "$in_cohort")
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit):
        call_command(
            "integration",
            "test",
            str(path),
            "--var",
            f"access_token={hubspot.TOKEN}",
            "--users",
            "3",
            "--no-retries",
            stdout=out,
            stderr=err,
        )
    assert "Property values must be strings" in out.getvalue() + err.getvalue()


# --- SendGrid ----------------------------------------------------------------------------------


@pytest.fixture
def sendgrid_api():
    with sendgrid.SendGridApi() as api:
        yield api


def sendgrid_manifest(api: FakeApi) -> dict[str, Any]:
    return cookbook("sendgrid-lists", api, "https://api.sendgrid.com")


def test_sendgrid_lists_from_the_command_line(tmp_path, sendgrid_api):
    out = cli_test(
        tmp_path,
        sendgrid_manifest(sendgrid_api),
        "--var",
        f"api_key={sendgrid.API_KEY}",
        "--users",
        "10",
    )

    (list_id,) = sendgrid_api.lists
    assert sendgrid_api.members_by_email(list_id) == kept_after_test()
    (removal,) = sendgrid_api.calls_to("DELETE", r"/v3/marketing/lists/.+/contacts")
    ids = removal.query["contact_ids"][0].split(",")
    assert len(ids) == 2 and all(i in sendgrid_api.contacts for i in ids)
    assert "contact_ids=" in out


def test_sendgrid_lists_on_the_worker(cast, celery_worker, sendgrid_api):
    run = worker_run(
        cast,
        sendgrid_manifest(sendgrid_api),
        values={"api_key": sendgrid.API_KEY},
        mapping={"email": "email"},
        users_count=USERS,
    )
    assert run.status == "passed", run.summary
    assert sendgrid_api.members_by_email(run.list_id) == kept_after_test()
    steps = [e.step for e in run.exchanges.order_by("sequence")]
    assert steps == [
        "create_list.find",
        "create_list",
        "add_users",
        "remove_users.lookup",
        "remove_users",
    ]


# --- Intercom ------------------------------------------------------------------------------------


@pytest.fixture
def intercom_api():
    with intercom.IntercomApi() as api:
        yield api


def intercom_manifest(api: FakeApi) -> dict[str, Any]:
    return cookbook("intercom-tags", api, "https://api.intercom.io")


def test_intercom_tags_from_the_command_line(tmp_path, intercom_api):
    for email in emails()[:5]:
        intercom_api.add_contact(email)

    out = cli_test(
        tmp_path,
        intercom_manifest(intercom_api),
        "--var",
        f"access_token={intercom.TOKEN}",
        "--users",
        "10",
    )

    (tag_id,) = intercom_api.tags
    assert intercom_api.tagged_emails(tag_id) == kept_after_test()
    untags = intercom_api.calls_to("DELETE", r"/contacts/.+/tags/.+")
    assert len(untags) == 2  # one request per user
    assert len({call.header("idempotency-key") for call in untags}) == 2
    assert "Passed:" in out


def test_intercom_tags_on_the_worker(cast, celery_worker, intercom_api):
    run = worker_run(
        cast,
        intercom_manifest(intercom_api),
        values={"access_token": intercom.TOKEN},
        mapping={"email": "email"},
        users_count=USERS,
    )
    assert run.status == "passed", run.summary
    assert intercom_api.tagged_emails(run.list_id) == kept_after_test()
    assert run.exchanges.filter(step="remove_users").count() == 2
    assert all(call.header("intercom-version") == "2.11" for call in intercom_api.calls)


def test_render_prints_the_lookup_before_the_request_it_serves(capsys):
    out = io.StringIO()
    call_command(
        "integration",
        "render",
        str(COOKBOOK / "sendgrid-lists.json"),
        "--endpoint",
        "remove_users",
        "--users",
        "3",
        "--var",
        "api_key=key",
        stdout=out,
    )
    requests = json.loads(out.getvalue())["requests"]
    assert [r.get("request", "remove_users") for r in requests] == [
        "remove_users.lookup",
        "remove_users",
    ]
    assert requests[1]["url"].endswith("?contact_ids=partner-id-1,partner-id-2,partner-id-3")
