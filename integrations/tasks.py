"""Worker tasks of the review side: the conformance checks."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from integrations.manifests import manifest_of
from integrations.models import ConformanceRun, ConformanceStatus
from portal.lost_work import lost_work
from syncengine.core.compiler import compile_manifest
from syncengine.core.conformance.checks import run_conformance
from syncengine.core.masking import mask_text
from syncengine.core.preview import sample_context
from syncengine.core.types import RenderContext
from syncengine.selectors import signing_secret_of
from syncengine.testruns import outbound_client

logger = logging.getLogger(__name__)


@shared_task(name="integrations.conformance_run_execute")
def conformance_run_execute(run_id: int) -> None:
    """Run the checks of one ConformanceRun; claimed with a conditional update so a
    redelivered message does nothing."""
    claimed = ConformanceRun.objects.filter(pk=run_id, status=ConformanceStatus.QUEUED).update(
        status=ConformanceStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        # Still running: the worker that claimed it died (a message is handed out again
        # only then), so the reviewer gets the run back instead of a spinner for ever.
        if close_abandoned_conformance(run_id, worker_lost=True):
            logger.warning("conformance run %s closed: its worker stopped", run_id)
        return
    run = ConformanceRun.objects.select_related("version__integration").get(pk=run_id)
    running = ConformanceRun.objects.filter(pk=run_id, status=ConformanceStatus.RUNNING)
    version = run.version
    manifest = manifest_of(version)
    secrets: tuple[str, ...] = ()
    try:
        integration = compile_manifest(manifest)
        sample = sample_context(manifest, values=run.values, mapping=run.mapping)
        context = RenderContext(
            values=sample.values,
            mapping=sample.mapping,
            cohort_id=f"conformance-{run.pk}",
            cohort_name=f"Conformance check {run.pk}",
        )
        secrets = integration.secret_values(context)
        signing = signing_secret_of(version.integration)
        results: list[dict] = []

        def progress(result) -> None:
            results.append(result.as_dict())
            running.update(results=results)

        with outbound_client() as client:
            run_conformance(
                integration,
                client,
                context=context,
                scope=f"conformance-{run.pk}",
                signing_secret=signing.secret if signing else None,
                on_progress=progress,
            )
        run.results = results
        run.status = ConformanceStatus.DONE
    except Exception as error:
        # Whatever went wrong is recorded for the reviewer (masked: a message may quote a
        # value) rather than leaving the run queued for ever.
        run.status = ConformanceStatus.ERROR
        run.error = mask_text(f"{type(error).__name__}: {error}", secrets)[:2000]
        logger.error("conformance run %s could not run: %s", run_id, run.error)
    # Only a run still running is finished: one closed as abandoned stays closed.
    running.update(
        status=run.status, results=run.results, error=run.error, finished_at=timezone.now()
    )


def close_abandoned_conformance(run_id: int, *, worker_lost: bool = False) -> bool:
    """Close a conformance run no worker is on any more (`portal.lost_work`) as an error."""
    lost = lost_work(
        ConformanceRun.objects.filter(pk=run_id),
        queued=ConformanceStatus.QUEUED,
        running=ConformanceStatus.RUNNING,
        worker_lost=worker_lost,
    )
    return bool(
        lost.update(
            status=ConformanceStatus.ERROR,
            error="The worker running these checks stopped before they finished. Run them again.",
            finished_at=timezone.now(),
        )
    )
