"""The life cycle every job shares (portal/jobs.py): claiming with a conditional update,
the lease and its renewal, finishing only while the job is still ours, which jobs count as
lapsed, the LeaseKeeper thread, and the sweep over every app's jobs.

Cohort imports are the tenancy layer's own job; the sweep is shown on test runs too, since
it must find the jobs of the apps above through the app registry.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal import actions as portal_actions
from portal.jobs import LeaseKeeper, lease_length, queue_patience, sweep_lapsed_jobs
from portal.models import CohortImport
from syncengine import actions
from syncengine.models import TestRun
from tests.syncengine.conftest import list_manifest, make_draft, save_settings
from tests.waiting import wait_until

LONG_AGO = timedelta(days=1)


@pytest.fixture
def cohort(cast):
    return portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Jobs"
    )


def new_job(cohort, **fields) -> CohortImport:
    return CohortImport.objects.create(cohort=cohort, **fields)


def claimed(job) -> str:
    token = type(job).claim(job.pk)
    assert token
    return token


def lapse(job) -> None:
    type(job).objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def reloaded(job: CohortImport) -> CohortImport:
    return CohortImport.objects.get(pk=job.pk)


# --- claim ------------------------------------------------------------------------------


def test_claiming_a_queued_job_starts_it_under_a_lease_only_the_claimant_knows(cohort):
    job = new_job(cohort)
    before = timezone.now()

    token = CohortImport.claim(job.pk)

    job = reloaded(job)
    assert token and len(token) == 32 and job.lease_token == token
    assert job.status == "running"
    assert before <= job.started_at <= timezone.now()
    assert job.lease_expires_at - job.started_at == lease_length()


def test_of_two_claims_of_the_same_job_only_the_first_gets_it(cohort):
    job = new_job(cohort)
    first = CohortImport.claim(job.pk)

    assert CohortImport.claim(job.pk) is None
    assert reloaded(job).lease_token == first


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_finished_job_cannot_be_claimed(cohort, status):
    job = new_job(cohort, status=status)

    assert CohortImport.claim(job.pk, from_statuses=("queued", "running")) is None
    assert reloaded(job).status == status


def test_a_running_job_is_claimed_again_only_when_asked_and_only_once_its_lease_lapsed(cohort):
    job = new_job(cohort)
    first = claimed(job)
    started_at = reloaded(job).started_at

    assert CohortImport.claim(job.pk) is None  # only queued jobs, by default
    assert CohortImport.claim(job.pk, from_statuses=("queued", "running")) is None  # leased
    lapse(job)
    resumed = CohortImport.claim(job.pk, from_statuses=("queued", "running"))

    job = reloaded(job)
    assert resumed and resumed != first and job.lease_token == resumed
    assert job.lease_expires_at > timezone.now()
    assert job.started_at == started_at  # a resumed job keeps when it first started


def test_a_running_job_without_a_lease_may_be_resumed(cohort):
    job = new_job(cohort, status="running", started_at=timezone.now())

    assert CohortImport.claim(job.pk, from_statuses=("running",))
    assert reloaded(job).lease_expires_at is not None


# --- renew_lease ------------------------------------------------------------------------


def test_renewing_extends_the_lease_of_the_token_holder_only(cohort):
    job = new_job(cohort)
    token = claimed(job)
    CohortImport.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    short = reloaded(job).lease_expires_at

    assert not CohortImport.renew_lease(job.pk, "0" * 32)
    assert reloaded(job).lease_expires_at == short
    assert CohortImport.renew_lease(job.pk, token)
    extended = reloaded(job).lease_expires_at - short
    assert extended.total_seconds() == pytest.approx(lease_length().total_seconds(), abs=1)


def test_a_finished_job_has_no_lease_to_renew(cohort):
    job = new_job(cohort)
    token = claimed(job)
    assert CohortImport.finish(job.pk, token, status="succeeded")

    assert not CohortImport.renew_lease(job.pk, token)
    assert reloaded(job).lease_expires_at is None


# --- finish -----------------------------------------------------------------------------


def test_finishing_records_the_end_and_releases_the_lease(cohort):
    job = new_job(cohort)
    token = claimed(job)

    assert CohortImport.finish(job.pk, token, status="succeeded", rows_read=3, rows_loaded=2)

    job = reloaded(job)
    assert (job.status, job.rows_read, job.rows_loaded) == ("succeeded", 3, 2)
    assert job.finished_at is not None and job.lease_expires_at is None
    assert job.is_finished


def test_a_job_taken_over_is_not_finished_by_its_first_worker(cohort):
    job = new_job(cohort)
    lost = claimed(job)
    lapse(job)
    claimed_again = CohortImport.claim(job.pk, from_statuses=("running",))

    assert not CohortImport.finish(job.pk, lost, status="failed")
    job = reloaded(job)
    assert (job.status, job.finished_at) == ("running", None)
    assert CohortImport.finish(job.pk, claimed_again, status="succeeded")


def test_without_a_token_only_an_active_job_is_finished(cohort):
    queued = new_job(cohort)
    done = new_job(cohort)
    CohortImport.finish(done.pk, claimed(done), status="succeeded")
    finished_at = reloaded(done).finished_at

    assert CohortImport.finish(queued.pk, None, status="failed")
    assert reloaded(queued).status == "failed"
    # A job that ended stays as it ended: a late close does not rewrite it.
    assert not CohortImport.finish(done.pk, None, status="failed")
    assert (reloaded(done).status, reloaded(done).finished_at) == ("succeeded", finished_at)


# --- lapsed() and looks_abandoned --------------------------------------------------------


def test_lapsed_finds_expired_leases_leaseless_old_runs_and_jobs_no_worker_took(cohort):
    now = timezone.now()
    expired = new_job(cohort, status="running", started_at=now, lease_expires_at=now)
    leaseless = new_job(cohort, status="running", started_at=now - lease_length() * 2)
    forgotten = new_job(cohort, created_at=now - queue_patience() - timedelta(seconds=1))
    # Still in the hands of a worker, or waiting within the patience, or finished:
    leased = new_job(cohort, status="running", started_at=now, lease_expires_at=now + LONG_AGO)
    starting = new_job(cohort, status="running", started_at=now)
    waiting = new_job(cohort, created_at=now - queue_patience() + timedelta(seconds=30))
    ended = new_job(cohort, status="failed", created_at=now - LONG_AGO, lease_expires_at=now)

    lapsed = set(CohortImport.objects.lapsed(now=now + timedelta(seconds=1)))

    assert lapsed == {expired, leaseless, forgotten}
    assert all(job.looks_abandoned for job in lapsed)
    assert not any(job.looks_abandoned for job in (leased, starting, waiting, ended))


def test_closing_if_abandoned_leaves_a_job_whose_worker_holds_its_lease(cohort):
    job = new_job(cohort)
    claimed(job)

    assert not CohortImport.close_if_abandoned(job.pk)
    assert reloaded(job).status == "running"
    # The message handed out again means the worker died, lease or not.
    assert CohortImport.close_if_abandoned(job.pk, worker_lost=True)
    assert reloaded(job).status == "failed"


# --- LeaseKeeper ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_lease_keeper_renews_the_lease_while_the_work_goes_on(cast, cohort):
    job = new_job(cohort)
    token = claimed(job)
    CohortImport.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    first = reloaded(job).lease_expires_at

    with LeaseKeeper(CohortImport, job.pk, token, every=0.05) as lease:
        renewed = wait_until(
            lambda: reloaded(job).lease_expires_at > first, 10, "the lease was never renewed"
        )
        assert not lease.lost

    assert renewed
    assert reloaded(job).lease_expires_at - first > lease_length() / 2


@pytest.mark.django_db(transaction=True)
def test_the_lease_keeper_reports_a_lease_lost_to_a_close_and_stops_renewing(cast, cohort):
    job = new_job(cohort)
    token = claimed(job)

    with LeaseKeeper(CohortImport, job.pk, token, every=0.05) as lease:
        assert CohortImport.close_if_abandoned(job.pk, worker_lost=True)
        wait_until(lambda: lease.lost, 10, "the keeper never noticed the job was closed")

    assert lease.lost
    job = reloaded(job)
    assert job.status == "failed" and job.lease_expires_at is None


@pytest.mark.django_db(transaction=True)
def test_the_lease_keeper_reports_a_lease_taken_over_by_another_worker(cast, cohort):
    job = new_job(cohort)
    token = claimed(job)

    with LeaseKeeper(CohortImport, job.pk, token, every=0.05) as lease:
        lapse(job)
        taken = CohortImport.claim(job.pk, from_statuses=("running",))
        assert taken
        wait_until(lambda: lease.lost, 10, "the keeper never noticed the job was taken over")

    assert reloaded(job).lease_token == taken


# --- the sweep --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_closes_work_whose_lease_lapsed_and_leaves_the_rest(cast, silent_partner):
    draft = make_draft(cast, list_manifest(silent_partner.url))
    save_settings(cast, draft)
    stale_run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    claimed(stale_run)
    lapse(stale_run)
    # A second run of the same draft would close the first on start: made directly.
    never_taken = TestRun.objects.create(
        integration=draft,
        manifest=stale_run.manifest,
        fingerprint=stale_run.fingerprint,
        kind="full",
        created_at=timezone.now() - queue_patience() - timedelta(seconds=1),
    )
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Lost"
    )
    lost_import = CohortImport.objects.create(cohort=cohort)
    claimed(lost_import)
    lapse(lost_import)
    live_import = CohortImport.objects.create(cohort=cohort)
    claimed(live_import)

    assert sweep_lapsed_jobs() == {"syncengine.TestRun": 2, "portal.CohortImport": 1}

    stale_run.refresh_from_db()
    assert stale_run.status == "error"
    assert "stopped before it finished" in stale_run.summary
    never_taken.refresh_from_db()
    assert never_taken.summary == "No worker picked this test up. Run it again."
    lost_import.refresh_from_db()
    assert lost_import.status == "failed"
    assert lost_import.errors[0]["message"].startswith("the worker loading this file stopped")
    live_import.refresh_from_db()
    assert live_import.status == "running"
