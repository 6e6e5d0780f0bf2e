"""The testing actions: saving test settings and starting runs refuse bad input with a
clear, specific error and change nothing; runs started here are executed in-process by
the same executor the worker uses (the Celery path has its own tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.manifests import config_fingerprint
from portal import actions as portal_actions
from portal import cohorts
from portal.errors import ActionError
from portal.models import AuditEvent
from syncengine import actions, selectors, testruns
from syncengine.core import signing
from syncengine.models import TestRun, TestSettings
from tests.syncengine.conftest import (
    BASE,
    TOKEN,
    list_manifest,
    make_draft,
    property_manifest,
    save_settings,
)


def refused(call, **kwargs) -> ActionError:
    with pytest.raises(ActionError) as caught:
        call(**kwargs)
    return caught.value


def start(cast, integration, **kwargs) -> TestRun:
    return actions.test_run_start(acting_user=cast.alice, integration=integration, **kwargs)


# --- test settings -----------------------------------------------------------------------


def test_settings_are_saved_with_the_key_verified_and_secrets_encrypted(cast, draft):
    settings = save_settings(cast, draft, values={"bearer_token": TOKEN, "region": "eu"})

    assert settings.project == cast.acme_project
    assert settings.values == {"bearer_token": TOKEN, "region": "eu"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT values, project_api_key FROM syncengine_testsettings WHERE id = %s",
            [settings.pk],
        )
        raw_values, raw_key = cursor.fetchone()
    assert TOKEN not in raw_values and cast.acme_project.api_key not in raw_key
    event = AuditEvent.objects.filter(action="test_settings.saved").get()
    assert TOKEN not in str(event.after) and cast.acme_project.api_key not in str(event.after)
    assert "values.bearer_token" in event.after["changed"]


def test_a_wrong_api_key_is_refused_and_nothing_is_saved(cast, draft):
    error = refused(save_settings, cast=cast, integration=draft, api_key="not-the-key")
    assert error.field == "api_key"
    assert "is not the API key of Acme Web" in error.message
    assert not TestSettings.objects.exists()


def test_another_orgs_project_is_unknown(cast, draft):
    error = refused(
        save_settings,
        cast=cast,
        integration=draft,
        project=cast.globex_project,
    )
    assert error.field == "project_id"
    assert f"no project with Project ID {cast.globex_project.public_id}" in error.message


def test_blank_key_and_blank_secret_keep_the_stored_ones(cast, draft):
    save_settings(cast, draft)
    settings = actions.test_settings_save(
        acting_user=cast.alice,
        integration=draft,
        project_id=cast.acme_project.public_id,
        api_key="",
        values={"bearer_token": "", "region": "us"},
    )
    assert settings.project_api_key == cast.acme_project.api_key
    assert settings.values == {"bearer_token": TOKEN, "region": "us"}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"values": {"region": "mars"}}, "values.region", "Region must be one of us, eu"),
        ({"values": {"nope": "x"}}, "values.nope", "'nope' is not a field"),
        ({"values": {"bearer_token": "a\nb"}}, "values.bearer_token", "must be on one line"),
        ({"values": {"bearer_token": 42}}, "values.bearer_token", "must be text"),
        (
            {"values": {"bearer_token": "k"}},
            "values.bearer_token",
            "Bearer Token is a secret: it must be at least 8 characters",
        ),
        ({"mapping": {"user_id_field": "phone"}}, "mapping.user_id_field", "must be one of"),
        ({"users_count": 0}, "users_count", "between 1 and 100,000"),
        ({"users_count": "ten"}, "users_count", "whole number"),
        ({"users_source": "magic"}, "users_source", "Test users come from one of"),
        ({"users_source": "cohort"}, "cohort_id", "Choose the cohort"),
        ({"users_source": "csv"}, "csv", "Upload a CSV"),
        ({"cohort_id": "zz-nope"}, "cohort_id", "There is no cohort"),
        ({"list_id": "a\tb"}, "list_id", "one line"),
    ],
)
def test_bad_settings_name_the_field_and_change_nothing(cast, draft, changes, field, words):
    save_settings(cast, draft)
    before = TestSettings.objects.get().values

    error = refused(save_settings, cast=cast, integration=draft, **changes)

    assert error.field == field
    assert words in error.message
    assert TestSettings.objects.get().values == before


def test_a_cohort_must_belong_to_the_chosen_project(cast, draft):
    other = portal_actions.project_create(acting_user=cast.alice, org=cast.acme, name="Other")
    cohort = portal_actions.cohort_create(acting_user=cast.alice, project=other, name="VIPs")
    error = refused(
        save_settings,
        cast=cast,
        integration=draft,
        users_source="cohort",
        cohort_id=cohort.public_id,
    )
    assert error.field == "cohort_id" and "not in the project Acme Web" in error.message
    globex = portal_actions.cohort_create(
        acting_user=cast.bob, project=cast.globex_project, name="Theirs"
    )
    error = refused(
        save_settings,
        cast=cast,
        integration=draft,
        users_source="cohort",
        cohort_id=globex.public_id,
    )
    assert "There is no cohort" in error.message


def test_a_bad_csv_is_refused_with_every_line_at_fault(cast, draft):
    error = refused(
        save_settings,
        cast=cast,
        integration=draft,
        users_source="csv",
        csv_data=b"operation,user_id_field\nadd,a\nzap,b\nremove,\n",
    )
    assert error.code == "invalid_csv" and error.field == "csv"
    assert error.details == [
        {"line": 3, "message": "operation is 'zap'; use add or remove"},
        {"line": 4, "message": "user_id_field is empty"},
    ]
    assert not TestSettings.objects.exists()


# --- starting runs ----------------------------------------------------------------------


def test_a_run_needs_saved_settings(cast, draft):
    error = refused(start, cast=cast, integration=draft)
    assert "Save the test settings first" in error.message


def test_a_configuration_with_errors_cannot_be_tested(cast):
    from integrations import actions as integration_actions

    draft = integration_actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Half typed", integration_type="list"
    )
    save_settings(cast, draft, values={}, mapping={})
    error = refused(start, cast=cast, integration=draft)
    assert (error.status, error.code) == (409, "invalid_manifest")
    assert error.message.startswith("Fix the configuration before testing: endpoints.")


def test_a_missing_required_value_is_named_before_anything_is_queued(cast, draft):
    save_settings(cast, draft, values={"bearer_token": ""})
    error = refused(start, cast=cast, integration=draft)
    assert error.code == "cannot_render"
    assert "$bearer_token is a required field but has no value" in error.message
    assert not TestRun.objects.exists()


def test_a_regenerated_project_key_invalidates_the_settings(cast, draft):
    save_settings(cast, draft)
    portal_actions.project_regenerate_key(acting_user=cast.alice, project=cast.acme_project)
    error = refused(start, cast=cast, integration=draft)
    assert error.field == "api_key" and "has changed" in error.message


def test_an_endpoint_test_must_exist_for_the_type(cast, draft):
    save_settings(cast, draft)
    error = refused(start, cast=cast, integration=draft, kind="update_users")
    assert "no update_users endpoint" in error.message
    error = refused(start, cast=cast, integration=draft, kind="delete_everything")
    assert error.field == "kind"


def test_add_users_alone_needs_a_list(cast, draft):
    save_settings(cast, draft)
    error = refused(start, cast=cast, integration=draft, kind="add_users")
    assert error.field == "list_id" and "run the create_list test first" in error.message
    run = start(cast, draft, kind="add_users", list_id="lst_given")
    assert run.list_id == "lst_given"


def test_a_full_test_from_a_csv_needs_add_and_remove_rows(cast, draft):
    save_settings(
        cast, draft, users_source="csv", csv_data=b"operation,user_id_field\nadd,a\nadd,b\n"
    )
    error = refused(start, cast=cast, integration=draft)
    assert "needs at least one remove row" in error.message
    assert start(cast, draft, kind="add_users", list_id="L1").kind == "add_users"


def test_one_run_at_a_time_but_an_abandoned_one_does_not_block(cast, draft):
    save_settings(cast, draft)
    first = start(cast, draft)
    error = refused(start, cast=cast, integration=draft)
    assert (error.status, error.code) == (409, "test_running")

    TestRun.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=1))
    second = start(cast, draft)

    first.refresh_from_db()
    assert first.status == "error" and "No worker picked this test up" in first.summary
    assert second.status == "queued"


def test_runs_record_their_inputs_and_the_fingerprint(cast, draft):
    save_settings(cast, draft, users_count=7)
    run = start(cast, draft, no_retries=True)
    assert run.fingerprint == config_fingerprint(draft)
    assert run.values == {"bearer_token": TOKEN}
    assert run.users == {"source": "generated", "count": 7}
    assert (run.cohort_name, run.cohort_id) == (
        f"Cohort Portal test #{run.pk}",
        f"test-run-{run.pk}",
    )
    assert "logo_png_base64" not in run.manifest
    event = AuditEvent.objects.filter(action="test_run.started").get()
    assert event.after["run"] == run.pk and TOKEN not in str(event.after)


# --- executing in-process (the same executor the worker runs) ------------------------------


def test_create_list_alone_keeps_the_list_id_for_add_and_remove(cast, partner):
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft, users_count=3)
    created = testruns.execute_test_run(start(cast, draft, kind="create_list").pk)
    assert created.status == "passed" and created.list_id
    assert selectors.test_settings_for(draft).list_id == created.list_id

    added = testruns.execute_test_run(start(cast, draft, kind="add_users").pk)
    removed = testruns.execute_test_run(start(cast, draft, kind="remove_users").pk)

    assert (added.status, removed.status) == ("passed", "passed")
    assert added.list_id == removed.list_id == created.list_id
    assert partner.state.members_of(created.list_id) == {"alice-1", "bob-2"}
    # Only a passed full test counts for submitting.
    assert selectors.passing_full_test(draft) is None


def test_a_cohort_is_sampled_and_names_the_list(cast, partner):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Power users"
    )
    rows = [(i + 2, {"user_id": f"u{i:03d}", "email": f"u{i}@example.com"}) for i in range(30)]
    assert cohorts.load_members(cohort, rows).ok
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft, users_source="cohort", cohort_id=cohort.public_id, users_count=10)
    run = testruns.execute_test_run(start(cast, draft).pk)
    assert run.status == "passed", run.summary
    (created,) = partner.state.list_summaries()
    assert created["name"] == "Power users"
    assert run.cohort_id == cohort.public_id
    assert run.users_to_add == 10 and run.users_to_remove == 2
    assert created["member_count"] == 8


def test_an_empty_cohort_is_refused(cast, draft):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Empty"
    )
    save_settings(cast, draft, users_source="cohort", cohort_id=cohort.public_id)
    error = refused(start, cast=cast, integration=draft)
    assert "has no members" in error.message


def test_signed_requests_carry_a_signature_the_partner_verifies(cast, start_partner):
    partner = start_partner(signing_secret="placeholder")
    manifest = list_manifest(partner.url)
    manifest["delivery"] = {"sign_requests": True}
    draft = make_draft(cast, manifest)
    save_settings(cast, draft)
    error = refused(start, cast=cast, integration=draft)
    assert error.code == "signing_secret_missing"

    secret = actions.signing_secret_rotate(acting_user=cast.alice, integration=draft)
    partner.signing_secret = secret
    run = testruns.execute_test_run(start(cast, draft).pk)

    assert run.status == "passed", run.summary
    entries = partner.state.log_entries()
    assert {entry["signature"] for entry in entries} == {"valid"}
    header = dict(run.exchanges.first().request_headers)[signing.SIGNATURE_HEADER]
    assert header.startswith("t=") and ",v1=" in header
    stored = str(list(run.exchanges.values()))
    assert secret not in stored
    assert secret not in str(AuditEvent.objects.filter(action__startswith="signing").values())


def test_reviewer_credentials_run_without_touching_the_partners_settings(cast, partner):
    draft = make_draft(cast, property_manifest(partner.url))
    credentials = actions.TestCredentials(
        values={"bearer_token": TOKEN}, mapping={"user_id_field": "user_id"}, users_count=3
    )
    run = start(cast, draft, credentials=credentials, version_id=99)
    run = testruns.execute_test_run(run.pk)
    assert run.status == "passed" and run.version_id == 99 and not run.from_test_settings
    assert not TestSettings.objects.exists()
    # A reviewer's run is not the partner's evidence.
    assert selectors.passing_full_test(draft) is None


def test_a_run_whose_cohort_vanished_ends_as_an_error(cast):
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Fleeting"
    )
    cohorts.load_members(cohort, [(2, {"user_id": "a"})])
    draft = make_draft(cast, list_manifest(BASE))
    save_settings(cast, draft, users_source="cohort", cohort_id=cohort.public_id)
    run = start(cast, draft)
    cohort.delete()

    run = testruns.execute_test_run(run.pk)

    assert run.status == "error"
    assert "the cohort chosen for the test users no longer exists" in run.summary


def test_a_run_is_claimed_once(cast, draft):
    """A message handed out again finds its run running only when the worker that had it
    died (the visibility timeout outlasts the hard time limit): the run is closed at once.
    A finished run is left as it is."""
    save_settings(cast, draft)
    run = start(cast, draft)
    assert TestRun.claim(run.pk)
    assert testruns.execute_test_run(run.pk) is None
    run.refresh_from_db()
    assert run.status == "error" and "worker running this test stopped" in run.summary
    TestRun.objects.filter(pk=run.pk).update(status="passed", summary="Passed.")
    assert testruns.execute_test_run(run.pk) is None
    run.refresh_from_db()
    assert (run.status, run.summary) == ("passed", "Passed.")


def test_after_a_rotation_both_secrets_sign_until_the_window_closes(cast, start_partner):
    from datetime import timedelta

    from django.utils import timezone

    from syncengine.models import SigningSecret

    partner = start_partner(signing_secret="placeholder")
    manifest = list_manifest(partner.url)
    manifest["delivery"] = {"sign_requests": True}
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=3)
    old = actions.signing_secret_rotate(acting_user=cast.alice, integration=draft)
    partner.signing_secret = old

    # Rotated: the partner still verifies with the old secret, and nothing is refused.
    new = actions.signing_secret_rotate(acting_user=cast.alice, integration=draft)
    run = testruns.execute_test_run(start(cast, draft).pk)
    assert run.status == "passed", run.summary
    header = dict(run.exchanges.first().request_headers)[signing.SIGNATURE_HEADER]
    assert header.count("v1=") == 2
    stored = str(list(run.exchanges.values()))
    assert old not in stored and new not in stored
    rotated = AuditEvent.objects.filter(action="signing_secret.rotated").latest("id")
    assert rotated.after["previous_signs_until"]

    # The partner switches: the new secret's signature is accepted as well.
    partner.signing_secret = new
    assert testruns.execute_test_run(start(cast, draft).pk).status == "passed"

    # Once the window closed, only the new secret signs: the old one is refused.
    SigningSecret.objects.filter(integration=draft).update(
        previous_until=timezone.now() - timedelta(seconds=1)
    )
    partner.signing_secret = old
    closed = testruns.execute_test_run(start(cast, draft).pk)
    assert closed.status == "failed"
    assert closed.exchanges.first().response_status == 401
    header = dict(closed.exchanges.first().request_headers)[signing.SIGNATURE_HEADER]
    assert header.count("v1=") == 1
