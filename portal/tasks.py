"""Worker tasks of the tenancy side: cohort CSV imports and housekeeping."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone

from portal import cohorts
from portal.audit import audit_record
from portal.lost_work import lost_work
from portal.models import CohortImport, ImportStatus, Invitation

logger = logging.getLogger(__name__)

STALE_INVITATION_AGE = timedelta(days=30)
STORE_FAILED_MESSAGE = (
    "the members could not be stored, so nothing was changed: the database refused a "
    "value in the file. Check it for unusual characters or very long values and upload "
    "it again."
)


@shared_task(name="portal.cohort_import_run")
def cohort_import_run(import_id: int) -> None:
    """Load one uploaded CSV. Claimed with a conditional update, so a redelivered message
    for an import already running or finished does nothing."""
    claimed = CohortImport.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        # Still running: the worker loading it died (the message is handed out again only
        # then) and its transaction was rolled back, so nothing was loaded.
        if fail_abandoned_import(import_id, worker_lost=True):
            logger.warning("cohort import %s failed: its worker stopped", import_id)
        return
    job = CohortImport.objects.select_related("cohort__project__org").get(pk=import_id)
    try:
        with job.file.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            report = cohorts.load_members(
                job.cohort, cohorts.iter_csv_rows(text), progress_id=job.pk
            )
    except cohorts.MemberError as error:
        report = cohorts.LoadReport(errors=[{"row": None, "message": str(error)}])
    except (UnicodeDecodeError, OSError) as error:
        report = cohorts.LoadReport(
            errors=[{"row": None, "message": f"the file could not be read: {error}"}]
        )
    except DatabaseError:
        # The load ran in one transaction, which was rolled back: nothing changed. Whatever
        # the database refused, the job must end failed rather than stay "running".
        logger.exception("cohort import %s failed in the database", import_id)
        report = cohorts.LoadReport(errors=[{"row": None, "message": STORE_FAILED_MESSAGE}])
    with transaction.atomic():
        job.rows_read = report.rows_read
        job.rows_loaded = report.rows_loaded
        job.errors = report.errors
        job.status = ImportStatus.SUCCEEDED if report.ok else ImportStatus.FAILED
        job.finished_at = timezone.now()
        job.save()
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
            },
        )
    cache.delete(cohorts.progress_key(job.pk))
    job.file.delete(save=False)


def fail_abandoned_import(import_id: int, *, worker_lost: bool = False) -> bool:
    """End an import no worker is on any more (`portal.lost_work`) as failed. Its loading
    transaction died with the worker: nothing was changed."""
    lost = lost_work(
        CohortImport.objects.filter(pk=import_id),
        queued=ImportStatus.QUEUED,
        running=ImportStatus.RUNNING,
        worker_lost=worker_lost,
    )
    message = "the worker loading this file stopped before it finished; upload it again"
    failed = lost.update(
        status=ImportStatus.FAILED,
        errors=[{"row": None, "message": message}],
        finished_at=timezone.now(),
    )
    cache.delete(cohorts.progress_key(import_id))
    return bool(failed)


@shared_task(name="portal.housekeeping")
def housekeeping() -> None:
    """Periodic (beat): remove invitations long expired or used, and close the work whose
    worker went away (test runs, conformance runs, cohort imports) so no page waits on it."""
    from integrations.models import ConformanceRun
    from integrations.tasks import close_abandoned_conformance
    from syncengine.testruns import close_abandoned_runs

    cutoff = timezone.now() - STALE_INVITATION_AGE
    deleted, _ = Invitation.objects.filter(expires_at__lt=cutoff).delete()
    tests = close_abandoned_runs()
    unfinished = ["queued", "running"]
    checks = sum(
        close_abandoned_conformance(pk)
        for pk in ConformanceRun.objects.filter(status__in=unfinished).values_list("pk", flat=True)
    )
    imports = sum(
        fail_abandoned_import(pk)
        for pk in CohortImport.objects.filter(status__in=unfinished).values_list("pk", flat=True)
    )
    logger.info(
        "housekeeping removed %d stale invitations; closed %d test runs, %d conformance "
        "runs and %d cohort imports left by a worker",
        deleted,
        tests,
        checks,
        imports,
    )
