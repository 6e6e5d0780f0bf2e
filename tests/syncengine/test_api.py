"""The testing REST API: test settings (masked), test runs (JSON or multipart CSV), run
detail with exchanges, signing secret; permissions and another org's objects."""

from __future__ import annotations

from portal.models import Membership
from syncengine import testruns
from syncengine.core.masking import MASK
from syncengine.models import TestRun, TestSettings
from tests.syncengine.conftest import BASE, TOKEN, list_manifest, make_draft, save_settings


def settings_url(draft) -> str:
    return f"/api/v1/integrations/{draft.pk}/test-settings"


def runs_url(draft) -> str:
    return f"/api/v1/integrations/{draft.pk}/test-runs"


def test_get_settings_before_any_save_gives_the_defaults(alice_api, draft):
    response = alice_api.get(settings_url(draft))
    assert response.status_code == 200
    body = response.json()
    assert body["project_id"] is None and body["values"] == {}
    assert body["users"]["source"] == "generated" and body["users"]["count"] == 25


def test_put_settings_then_get_shows_secrets_masked(cast, alice_api, draft):
    response = alice_api.put(
        settings_url(draft),
        {
            "project_id": cast.acme_project.public_id,
            "api_key": cast.acme_project.api_key,
            "values": {"bearer_token": TOKEN, "region": "eu"},
            "mapping": {"user_id_field": "email"},
            "users_source": "generated",
            "users_count": 40,
            "share_with_reviewers": True,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    shown = alice_api.get(settings_url(draft)).json()
    assert shown["values"] == {"bearer_token": MASK, "region": "eu"}
    assert shown["api_key"].startswith("••••••") and cast.acme_project.api_key not in str(shown)
    assert shown["api_key_valid"] is True
    assert (shown["users"]["count"], shown["share_with_reviewers"]) == (40, True)
    assert TOKEN not in response.content.decode()


def test_a_wrong_key_is_a_400_naming_the_field(cast, alice_api, draft):
    response = alice_api.put(
        settings_url(draft),
        {"project_id": cast.acme_project.public_id, "api_key": "nope"},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "api_key" in error["fields"]
    assert not TestSettings.objects.exists()


def test_csv_errors_come_back_with_their_lines(cast, alice_api, draft):
    response = alice_api.put(
        settings_url(draft),
        {"users_source": "csv", "csv_text": "operation,user_id_field\nadd,a\nmaybe,b\n"},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_csv"
    assert error["details"] == [{"line": 3, "message": "operation is 'maybe'; use add or remove"}]


def test_a_run_starts_with_a_csv_sent_as_multipart(cast, alice_api, draft, tmp_path):
    save_settings(cast, draft)
    upload = tmp_path / "users.csv"
    upload.write_text("operation,user_id_field\nadd,alice\nadd,bob\nremove,bob\n")
    with upload.open("rb") as handle:
        response = alice_api.post(runs_url(draft), {"kind": "full", "csv": handle})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["kind"] == "full"
    assert body["users"] == {"source": "csv", "csv_name": "users.csv", "add": 2, "remove": 1}
    assert TestSettings.objects.get().users_source == "csv"


def test_a_bad_csv_with_a_run_starts_nothing_and_saves_nothing(cast, alice_api, draft, tmp_path):
    save_settings(cast, draft)
    upload = tmp_path / "users.csv"
    upload.write_text("operation\nadd\n")
    with upload.open("rb") as handle:
        response = alice_api.post(runs_url(draft), {"csv": handle})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"line": 1, "message": "missing column: user_id_field"}
    ]
    assert not TestRun.objects.exists()
    assert TestSettings.objects.get().users_source == "generated"


def test_a_second_run_while_one_is_queued_is_a_409(cast, alice_api, draft):
    save_settings(cast, draft)
    assert alice_api.post(runs_url(draft), {}, format="json").status_code == 202
    response = alice_api.post(runs_url(draft), {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "test_running"


def test_run_list_and_detail_show_steps_exchanges_and_staleness(cast, alice_api, partner):
    from integrations import actions as integration_actions

    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    run_id = alice_api.post(runs_url(draft), {}, format="json").json()["id"]
    testruns.execute_test_run(run_id)

    listed = alice_api.get(runs_url(draft)).json()
    assert listed["count"] == 1
    assert listed["results"][0]["status"] == "passed" and listed["results"][0]["stale"] is False

    detail = alice_api.get(f"/api/v1/test-runs/{run_id}").json()
    assert [step["status"] for step in detail["steps"]] == ["passed"] * 3
    assert [e["step"] for e in detail["exchanges"]] == ["create_list", "add_users", "remove_users"]
    assert detail["exchanges"][0]["response_status"] == 201
    assert ["Authorization", "Bearer ••••••"] in detail["exchanges"][0]["request_headers"]
    assert TOKEN not in str(detail)
    paged = alice_api.get(detail["exchanges_url"]).json()
    assert paged["count"] == 3

    integration_actions.integration_save(
        acting_user=cast.alice, integration=draft, manifest=list_manifest(partner.url, batch_size=9)
    )
    assert alice_api.get(runs_url(draft)).json()["results"][0]["stale"] is True
    assert alice_api.get(f"/api/v1/test-runs/{run_id}").json()["stale"] is True


def test_the_signing_secret_is_shown_once_then_masked(alice_api, draft):
    url = f"/api/v1/integrations/{draft.pk}/signing-secret"
    assert alice_api.get(url).json() == {
        "exists": False,
        "secret": None,
        "created_at": None,
        "previous_signs_until": None,
        "header": "X-Signature",
    }
    created = alice_api.post(url)
    assert created.status_code == 201
    clear = created.json()["secret"]
    assert clear.startswith("whsec_") and len(clear) > 40
    shown = alice_api.get(url).json()
    assert shown["exists"] and shown["secret"].startswith("••••••") and clear not in str(shown)
    assert shown["previous_signs_until"] is None
    # Rotated, the replaced secret keeps signing for a while: the answer says until when.
    alice_api.post(url)
    assert alice_api.get(url).json()["previous_signs_until"] is not None


def test_another_orgs_integration_and_runs_are_404(cast, alice_api, api_for):
    theirs = make_draft(
        cast, list_manifest(BASE, name="Globex Lists"), org=cast.globex, user=cast.bob
    )
    save_settings(cast, theirs, user=cast.bob, project=cast.globex_project)
    from syncengine import actions

    run = actions.test_run_start(acting_user=cast.bob, integration=theirs)
    for path in (
        settings_url(theirs),
        runs_url(theirs),
        f"/api/v1/integrations/{theirs.pk}/signing-secret",
        f"/api/v1/test-runs/{run.pk}",
        f"/api/v1/test-runs/{run.pk}/exchanges",
    ):
        assert alice_api.get(path).status_code == 404, path
    assert alice_api.post(runs_url(theirs), {}, format="json").status_code == 404
    assert alice_api.put(settings_url(theirs), {}, format="json").status_code == 404
    assert TestRun.objects.filter(integration=theirs).count() == 1


def test_a_member_without_the_developer_permission_is_refused(cast, api_for, draft):
    alan = api_for(cast.alan, cast.acme)
    response = alan.get(settings_url(draft))
    assert response.status_code == 403
    assert "developer permission" in response.json()["error"]["message"]
    Membership.objects.filter(user=cast.alan).update(is_developer=True)
    assert alan.get(settings_url(draft)).status_code == 200


def test_the_schema_documents_the_testing_endpoints(client):
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/integrations/{integration_id}/test-settings",
        "/api/v1/integrations/{integration_id}/test-runs",
        "/api/v1/test-runs/{run_id}",
        "/api/v1/test-runs/{run_id}/exchanges",
        "/api/v1/integrations/{integration_id}/signing-secret",
    ):
        assert path in schema
