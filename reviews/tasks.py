"""Worker tasks of the review side: the conformance checks."""

from __future__ import annotations

import logging
from typing import Any

from integrations.manifests import manifest_of
from portal.celery import app
from portal.jobs import LeaseKeeper
from reviews.models import ConformanceRun, ConformanceStatus
from syncengine.core.compiler import compile_manifest
from syncengine.core.conformance.checks import run_conformance
from syncengine.core.conformance.results import CheckResult
from syncengine.core.masking import mask_text
from syncengine.core.preview import sample_context
from syncengine.core.types import RenderContext
from syncengine.outbound import outbound_client
from syncengine.selectors import signing_secret_of

logger = logging.getLogger(__name__)


@app.task(name="reviews.conformance_run_execute")
def conformance_run_execute(run_id: int) -> None:
    """Run the checks of one ConformanceRun; claimed with a conditional update so a
    redelivered message does nothing."""
    token = ConformanceRun.claim(run_id)
    if token is None:
        # Still running: the worker that claimed it died (a message is handed out again
        # only then), so the reviewer gets the run back instead of a spinner for ever.
        ConformanceRun.close_if_abandoned(run_id, worker_lost=True)
        return
    with LeaseKeeper(ConformanceRun, run_id, token):
        status, results, error = _run_checks(run_id)
    # Only a run still ours is finished: one closed as abandoned stays closed.
    ConformanceRun.finish(run_id, token, status=status, results=results, error=error)


def _run_checks(run_id: int) -> tuple[str, list[dict[str, Any]], str]:
    run = ConformanceRun.objects.select_related("version__integration").get(pk=run_id)
    running = ConformanceRun.objects.filter(pk=run_id, status=ConformanceStatus.RUNNING)
    version = run.version
    manifest = manifest_of(version)
    secrets: tuple[str, ...] = ()
    results: list[dict[str, Any]] = []
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

        def progress(result: CheckResult) -> None:
            results.append(result.as_dict())
            running.update(results=results)

        with outbound_client() as client:
            run_conformance(
                integration,
                client,
                context=context,
                scope=f"conformance-{run.pk}",
                signing_secret=signing.signing_key() if signing else None,
                on_progress=progress,
            )
    except Exception as failure:
        # Whatever went wrong is recorded for the reviewer (masked: a message may quote a
        # value) rather than leaving the run queued for ever.
        error = mask_text(f"{type(failure).__name__}: {failure}", secrets)[:2000]
        logger.error("conformance run %s could not run: %s", run_id, error)
        return ConformanceStatus.ERROR, results, error
    return ConformanceStatus.DONE, results, ""
