"""Worker tasks of the tenancy side: cohort CSV imports, housekeeping, and the demo
cohorts' churn under `make run`."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from portal import cohorts, demo, jobs, mail
from portal.audit import audit_record
from portal.celery import app
from portal.jobs import LeaseKeeper
from portal.models import CohortImport, ImportStatus, Invitation

logger = logging.getLogger(__name__)

STALE_INVITATION_AGE = timedelta(days=30)
# Sent account mails are kept a while for the operator; their links expire within days.
STALE_MAIL_AGE = timedelta(days=7)
STORE_FAILED_MESSAGE = (
    "the members could not be stored, so nothing was changed: the database refused a "
    "value in the file. Check it for unusual characters or very long values and upload "
    "it again."
)


@app.task(name="portal.cohort_import_run")
def cohort_import_run(import_id: int) -> None:
    """Load one uploaded CSV. Claimed with a conditional update, so a redelivered message
    for an import already running or finished does nothing."""
    token = CohortImport.claim(import_id)
    if token is None:
        # Still running: the worker loading it died (the message is handed out again only
        # then) and its transaction was rolled back, so nothing was loaded.
        CohortImport.close_if_abandoned(import_id, worker_lost=True)
        return
    job = CohortImport.objects.select_related("cohort__project__org").get(pk=import_id)
    with LeaseKeeper(CohortImport, import_id, token):
        report = _load(job)
    with transaction.atomic():
        finished = CohortImport.finish(
            job.pk,
            token,
            status=ImportStatus.SUCCEEDED if report.ok else ImportStatus.FAILED,
            rows_read=report.rows_read,
            rows_loaded=report.rows_loaded,
            errors=report.errors,
        )
        if finished:
            audit_record(
                actor=job.uploaded_by,
                org=job.cohort.project.org,
                action="cohort.import_succeeded" if report.ok else "cohort.import_failed",
                target=job.cohort,
                after={
                    "rows": report.rows_read,
                    "members": report.rows_loaded,
                    "duplicates": report.duplicates,
                    "errors": len(report.errors),
                    "snapshot": report.snapshot,
                    "entered": report.entered,
                    "left": report.left,
                    "updated": report.updated,
                },
            )
    caches["progress"].delete(job.progress_cache_key)
    job.file.delete(save=False)


def _load(job: CohortImport) -> cohorts.ChangeReport:
    try:
        with job.file.open("rb") as raw:
            return cohorts.load_csv(job.cohort, raw, progress_id=job.pk)
    except cohorts.MemberError as error:
        return cohorts.ChangeReport(errors=[{"row": None, "message": str(error)}])
    except (UnicodeDecodeError, OSError) as error:
        return cohorts.ChangeReport(
            errors=[{"row": None, "message": f"the file could not be read: {error}"}]
        )
    except DatabaseError:
        # The load ran in one transaction, which was rolled back: nothing changed. Whatever
        # the database refused, the job must end failed rather than stay "running".
        logger.exception("cohort import %s failed in the database", job.pk)
        return cohorts.ChangeReport(errors=[{"row": None, "message": STORE_FAILED_MESSAGE}])


@app.task(name="portal.demo_churn")
def demo_churn() -> None:
    """Periodic under `make run` only (DEMO_CHURN): the demo cohorts drift a little."""
    for name, report in demo.churn_demo_cohorts().items():
        logger.info(
            "demo churn: %r is at snapshot %d (+%d -%d)",
            name,
            report.snapshot,
            report.entered,
            report.left,
        )


@app.task(name="portal.sweep_lapsed_jobs")
def sweep_lapsed_jobs() -> None:
    """Periodic (beat, every few seconds): close or requeue the jobs of every app whose
    worker went away (`portal.jobs`)."""
    counts = jobs.sweep_lapsed_jobs()
    if counts:
        logger.warning("jobs without a worker dealt with: %s", counts)


@app.task(name="portal.housekeeping")
def housekeeping() -> None:
    """Periodic (beat, hourly): remove invitations long expired or used, account mails
    long sent, and expired entries of the database cache (allauth's rate limits).

    The cohort change log (`CohortChange`) is not pruned here: rows stay until every sync
    of their cohort has delivered past them, which the syncs app decides."""
    cutoff = timezone.now() - STALE_INVITATION_AGE
    deleted, _ = Invitation.objects.filter(expires_at__lt=cutoff).delete()
    logger.info("housekeeping removed %d stale invitations", deleted)
    mail.delete_finished(STALE_MAIL_AGE)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(settings.ACCOUNTS_CACHE_TABLE)
        cursor.execute(f"DELETE FROM {table} WHERE expires < %s", [timezone.now()])  # noqa: S608


@app.task(name="portal.send_mail")
def send_mail(mail_id: int) -> None:
    """Send one stored account mail (`portal.mail`); given its id only."""
    mail.mail_send(mail_id)
