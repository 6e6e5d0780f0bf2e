"""The reviewer's checks against the partner's endpoint: conformance (a compliant and a
non-compliant loopback partner) and the re-run of the full test, with shared or entered
credentials. The conformance task runs on a real Celery worker."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.errors import ActionError
from reviews import submissions
from reviews.checks import conformance_start, review_rerun_test
from reviews.models import ConformanceRun
from reviews.tasks import conformance_run_execute
from syncengine import actions as test_actions
from syncengine import testruns
from tests.integrations.conftest import png_bytes
from tests.syncengine.conftest import TOKEN, list_manifest, make_draft, save_settings
from tests.waiting import wait_until

WORKER_TIMEOUT = 60


def submitted(cast, base_url: str, *, share: bool):
    manifest = list_manifest(base_url, name="Checked Lists")
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=5, share_with_reviewers=share)
    return draft


def pass_and_submit(cast, draft, *, worker: bool = False):
    """A passed full test, then the submission. With a worker running, the run it picks up
    from the broker is awaited (running it here as well would race the worker for it)."""
    run = test_actions.test_run_start(acting_user=cast.alice, integration=draft)
    if worker:

        def finished():
            run.refresh_from_db()
            return run.is_finished

        wait_until(finished, WORKER_TIMEOUT, "the worker never finished the test run")
    else:
        run = testruns.execute_test_run(run.pk)
    assert run.status == "passed", run.summary
    return submissions.integration_submit(acting_user=cast.alice, integration=draft)


def statuses(run: ConformanceRun) -> dict[str, str]:
    return {result["key"]: result["status"] for result in run.results}


def test_a_compliant_partner_passes_every_check(cast, partner):
    version = pass_and_submit(cast, submitted(cast, partner.url, share=True))
    # Shared credentials: the checks were started by the submission itself.
    run = version.conformance_runs.get()
    assert run.started_by is None and run.status == "queued"
    conformance_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "done"
    assert statuses(run) == {
        "list_id_at_path": "passed",
        "full_batch_accepted": "passed",
        "unknown_users_accepted": "passed",
        "bad_credentials_refused": "passed",
        "repeated_idempotency_key_accepted": "passed",
        "latency_within_limit": "passed",
    }
    assert TOKEN not in str(run.results)


def test_a_non_compliant_partner_fails_with_reasons(cast, httpserver, partner):
    # Answers 200 to everything, without a list id, and never checks credentials.
    httpserver.expect_request("/v1/lists", method="POST").respond_with_json({"ok": True})
    httpserver.expect_request("/v1/lists/x/members").respond_with_json({"ok": True})
    base = httpserver.url_for("").rstrip("/")
    draft = submitted(cast, partner.url, share=False)
    version = pass_and_submit(cast, draft)
    # The reviewer checks the same configuration against the misbehaving server.
    version.config = list_manifest(base, name="Checked Lists")
    version.save(update_fields=["config"])
    run = conformance_start(acting_user=cast.rita, version=version, values={"bearer_token": TOKEN})
    conformance_run_execute(run.pk)
    run.refresh_from_db()
    results = {r["key"]: r for r in run.results}
    assert results["list_id_at_path"]["status"] == "failed"
    assert "data.id" in results["list_id_at_path"]["detail"]
    assert results["full_batch_accepted"]["status"] == "failed"


def test_without_shared_credentials_the_reviewer_must_enter_them(cast, partner):
    version = pass_and_submit(cast, submitted(cast, partner.url, share=False))
    # Nothing runs by itself without the partner's consent to use their credentials.
    assert not version.conformance_runs.exists()
    with pytest.raises(ActionError, match="did not share test credentials"):
        conformance_start(acting_user=cast.rita, version=version)
    with pytest.raises(ActionError, match="did not share test credentials"):
        review_rerun_test(acting_user=cast.rita, version=version)
    run = review_rerun_test(acting_user=cast.rita, version=version, values={"bearer_token": TOKEN})
    finished = testruns.execute_test_run(run.pk)
    assert finished.status == "passed"
    assert finished.version_id == version.pk and finished.started_by == cast.rita
    # A reviewer's re-run is not the partner's evidence for submitting.
    assert not finished.from_test_settings


def test_partners_cannot_run_reviewer_checks(cast, alice_api, partner):
    version = pass_and_submit(cast, submitted(cast, partner.url, share=False))
    with pytest.raises(ActionError, match="Only reviewers"):
        conformance_start(acting_user=cast.alice, version=version)
    response = alice_api.post(f"/api/v1/reviews/{version.pk}/conformance", {}, format="json")
    assert response.status_code == 403
    assert (
        alice_api.post(f"/api/v1/reviews/{version.pk}/rerun-test", {}, format="json").status_code
        == 403
    )
    assert not ConformanceRun.objects.exists()


@pytest.mark.worker
def test_conformance_runs_on_submission_and_waits_on_the_review_page(
    cast, celery_worker, client_for, api_for, partner
):
    version = pass_and_submit(cast, submitted(cast, partner.url, share=True), worker=True)
    wait_until(
        lambda: ConformanceRun.objects.get().is_finished,
        WORKER_TIMEOUT,
        "the worker never finished the checks started by the submission",
    )
    page = client_for(cast.rita).get(f"/review/{version.pk}/")
    assert page.content.count(b'data-status="passed"') >= 6
    assert b"ran by itself on submission" in page.content
    latest = api_for(cast.alice, cast.acme).get(f"/api/v1/reviews/{version.pk}/conformance")
    assert latest.status_code == 200 and latest.json()["status"] == "done"

    # The reviewer may run them again.
    started = api_for(cast.rita, None).post(
        f"/api/v1/reviews/{version.pk}/conformance", {}, format="json"
    )
    assert started.status_code == 201
    wait_until(
        lambda: ConformanceRun.objects.filter(started_by=cast.rita, status="done").exists(),
        WORKER_TIMEOUT,
        "the worker never finished the reviewer's checks",
    )


def test_the_review_page_shows_the_evidence_and_the_controls(cast, client_for, partner):
    version = pass_and_submit(cast, submitted(cast, partner.url, share=False))
    rita = client_for(cast.rita).get(f"/review/{version.pk}/")
    assert b"Full test that passed on this exact configuration" in rita.content
    assert b"Run conformance checks" in rita.content
    assert b"did not share test credentials" in rita.content
    alice = client_for(cast.alice).get(f"/review/{version.pk}/")
    assert alice.status_code == 200
    assert b"Run conformance checks" not in alice.content
    assert b"Approve and deploy" not in alice.content


@pytest.mark.django_db
def test_a_conformance_run_left_by_a_dead_worker_gives_the_reviewer_the_checks_back(
    cast, submitted_version
):
    run = ConformanceRun.objects.create(version=submitted_version)
    assert ConformanceRun.claim(run.pk)  # by the worker that then died
    with pytest.raises(ActionError, match="already running"):
        conformance_start(acting_user=cast.rita, version=submitted_version)

    conformance_run_execute(run.pk)  # the message handed out again after the worker died

    run.refresh_from_db()
    assert run.status == "error" and "stopped before they finished" in run.error
    # One whose lease lapsed is closed by the next start.
    stuck = ConformanceRun.objects.create(version=submitted_version)
    assert ConformanceRun.claim(stuck.pk)
    ConformanceRun.objects.filter(pk=stuck.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert ConformanceRun.close_if_abandoned(stuck.pk) is True
    assert not ConformanceRun.close_if_abandoned(run.pk)


def test_the_partner_is_told_what_sharing_credentials_does(cast, client_for, partner):
    shared = submitted(cast, partner.url, share=True)
    alice = client_for(cast.alice)
    panel = alice.get(f"/portal/integrations/{shared.pk}/test/").content.decode()
    assert "Share these test credentials with reviewers" in panel
    assert "the conformance checks run at once against your endpoint with them" in panel
    submit = alice.get(f"/portal/integrations/{shared.pk}/submit").content.decode()
    assert "The conformance checks run against your endpoint as soon as you submit" in submit

    save_settings(cast, shared, share_with_reviewers=False)
    submit = alice.get(f"/portal/integrations/{shared.pk}/submit").content.decode()
    assert "You did not share test credentials with reviewers" in submit
