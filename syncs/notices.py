"""What happens to a sync after a run that did not succeed: it pauses itself when going on
would only fail again, and the organisation's admins are told why and what to do.

- the partner refused the connection's credentials (401 or 403): paused, "reconnect";
- the partner says the list is gone (410 on a list request): paused, "start a new list";
- 3 failed runs in a row, whatever the reason: paused, with the last diagnosis.

Called inside the transaction that ends the run; the email leaves once it commits.
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from portal.emails import email_on_commit
from portal.models import MemberRole, Membership
from syncs.models import CohortSync, RunStatus, SyncRun

FAILED_RUNS_BEFORE_PAUSE = 3
CREDENTIAL_STATUSES = frozenset({401, 403})
LIST_REQUESTS = frozenset({"create_list", "add_users", "remove_users"})


def pause_reason(run: SyncRun, sync: CohortSync) -> str | None:
    """Why the sync should pause after `run`, in words for the org; None to go on."""
    if run.status == RunStatus.SUCCEEDED:
        return None
    diagnosis: dict[str, Any] = run.diagnosis or {}
    status = diagnosis.get("status")
    step = str(diagnosis.get("step") or "").split(".")[0]
    connection = sync.connection
    if status in CREDENTIAL_STATUSES:
        return (
            f"The partner refused the credentials of the connection {connection.name} "
            f"({status} {'Unauthorized' if status == 401 else 'Forbidden'}): they were "
            "probably revoked or changed. Reconnect it with valid credentials (edit the "
            "connection and enter them again), then resume this sync."
        )
    if status == 410 and step in LIST_REQUESTS:
        list_id = run.list_id or sync.list_id
        return (
            f"The partner says the list {list_id} no longer exists (410 Gone): it was "
            "probably deleted on their side. Run a full resync with a new list to start "
            "a new one, or delete this sync."
        )
    if sync.failed_runs_in_row >= FAILED_RUNS_BEFORE_PAUSE:
        title = diagnosis.get("title") or "see the last run"
        return (
            f"The last {sync.failed_runs_in_row} runs of this sync failed (last: {title}). "
            "It was paused so that it stops failing on a schedule; fix the cause, then "
            "resume it or press Sync now."
        )
    return None


def after_run(run: SyncRun, sync: CohortSync) -> None:
    """Pause the sync and email the org's admins when `pause_reason` says so."""
    reason = pause_reason(run, sync)
    if reason is None or sync.paused:
        return
    CohortSync.objects.filter(pk=sync.pk).update(
        paused=True, paused_reason=reason[:300], next_run_at=None
    )
    sync.paused, sync.paused_reason = True, reason[:300]
    org = sync.connection.org
    admins = Membership.objects.filter(org=org, role=MemberRole.ADMIN).select_related("user")
    email_on_commit(
        to=[membership.user.email for membership in admins],
        subject=f"Sync paused: {sync.cohort.name} to {sync.connection.name}",
        template="emails/sync_paused.txt",
        context={
            "org": org,
            "sync": sync,
            "run": run,
            "reason": reason,
            "diagnosis": run.diagnosis or {},
            "sync_path": _sync_path(sync),
        },
    )


def _sync_path(sync: CohortSync) -> str:
    """The sync's page, when the pages are installed."""
    try:
        return reverse("sync_detail", args=[sync.pk])
    except NoReverseMatch:
        return "/destinations/"
