"""`manage.py sync …`: run a cohort sync now, on this process, or see how syncs stand.

    python manage.py sync run SYNC_ID [--full-resync [--new-list]] [--retry-failed]
    python manage.py sync status [SYNC_ID]

`sync run` starts a run and performs it here (no worker needed), printing its progress and
a summary; a wait the partner asks for is waited out here. The exit status is 0 only when
the run succeeded (1 when it failed or partly failed, 2 when it could not start). If a
worker takes the run over (after a countdown, say), the command follows it to its end.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from portal.errors import ActionError
from portal.wording import counted
from syncs import engine, runs
from syncs.cadence import describe
from syncs.models import CohortSync, RunKind, RunStatus, SyncRun

FOLLOW_SECONDS = 0.5


class Command(BaseCommand):
    help = "Run a cohort sync now (synchronously), or show the state of syncs."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        run = commands.add_parser("run", help="run a sync now and wait for its end")
        run.add_argument("sync_id", type=int, help="the sync's id")
        kind = run.add_mutually_exclusive_group()
        kind.add_argument("--full-resync", action="store_true", help="send every member again")
        kind.add_argument(
            "--retry-failed", action="store_true", help="re-send the last run's failed batches"
        )
        run.add_argument(
            "--new-list", action="store_true", help="with --full-resync: start a new list"
        )
        status = commands.add_parser("status", help="list syncs, or show one in detail")
        status.add_argument("sync_id", type=int, nargs="?", help="the sync's id")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "run":
            self.run_sync(options)
        else:
            self.status(options.get("sync_id"))

    # --- sync run ---

    def run_sync(self, options: dict[str, Any]) -> None:
        sync = self.sync_or_fail(options["sync_id"])
        try:
            if options["retry_failed"]:
                run = runs.retry_failed(sync, enqueue=False)
            elif options["full_resync"]:
                run = runs.full_resync(sync, new_list=options["new_list"], enqueue=False)
            else:
                if options["new_list"]:
                    raise ActionError("--new-list goes with --full-resync.", field="new_list")
                run = runs.run_create(sync, kind=RunKind.MANUAL, enqueue=False)
        except ActionError as refused:
            raise CommandError(refused.message, returncode=2) from None
        self.stdout.write(f"Run {run.pk} of sync {sync.pk} ({sync}): {run.get_kind_display()}")
        run = self.drive(run)
        self.stdout.write(run.summary or f"The run ended {run.get_status_display().lower()}.")
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.get_status_display().lower()}.", returncode=1)

    def drive(self, run: SyncRun) -> SyncRun:
        """Perform the run here until it ends; wait out countdowns; follow a worker that
        holds it."""
        shown = {"planned": False, "done": -1}

        def progress(current: SyncRun) -> None:
            if current.planned and not shown["planned"]:
                shown["planned"] = True
                self.stdout.write(
                    f"Planned: {counted(current.entered, 'user')} entered, "
                    f"{current.left:,} left, {counted(current.batches_total, 'batch')}".replace(
                        "batchs", "batches"
                    )
                )
            if current.batches_done != shown["done"] and current.batches_total:
                shown["done"] = current.batches_done
                self.stdout.write(
                    f"  {current.batches_done}/{current.batches_total} batches, "
                    f"{current.sent:,} delivered, {current.failed:,} failed, "
                    f"{current.skipped:,} skipped"
                )

        while True:
            current = SyncRun.objects.get(pk=run.pk)
            if current.is_finished:
                return current
            if current.not_before and current.not_before > timezone.now():
                wait = (current.not_before - timezone.now()).total_seconds()
                self.stdout.write(f"  the partner asked to wait: resuming in {wait:.1f} s")
                time.sleep(max(0.0, wait))
            result = engine.execute_run(run.pk, on_progress=progress)
            if result is None:
                time.sleep(FOLLOW_SECONDS)  # a worker holds it: follow its progress
                progress(SyncRun.objects.get(pk=run.pk))

    # --- sync status ---

    def status(self, sync_id: int | None) -> None:
        if sync_id is None:
            syncs = CohortSync.objects.select_related("cohort", "connection__org").order_by("pk")
            if not syncs:
                self.stdout.write("No syncs yet.")
            for sync in syncs:
                last = sync.runs.order_by("-created_at", "-id").first()
                state = "paused" if sync.paused else describe(sync)
                ran = (
                    f"last run {last.pk} {last.get_status_display().lower()}"
                    if last
                    else "never run"
                )
                self.stdout.write(
                    f"{sync.pk:>5}  {sync.connection.org.name} / {sync}  [{state}]  "
                    f"{sync.delivered_count:,} delivered, {ran}"
                )
            return
        sync = self.sync_or_fail(sync_id)
        lines = [
            f"Sync {sync.pk}: {sync}",
            f"  organisation: {sync.connection.org.name}",
            f"  destination: {sync.connection.destination} "
            f"(version {sync.connection.version.number})",
            f"  cadence: {describe(sync)}"
            + (f"; next run {sync.next_run_at:%Y-%m-%d %H:%M} UTC" if sync.next_run_at else ""),
            f"  paused: {sync.paused_reason or 'yes'}" if sync.paused else "  paused: no",
            f"  list: {sync.list_id or '(none yet)'}",
            f"  delivered: {counted(sync.delivered_count, 'user')}"
            + (
                f" (exactly snapshot {sync.delivered_snapshot} of the cohort)"
                if sync.delivered_snapshot is not None
                else ""
            ),
            f"  failed runs in a row: {sync.failed_runs_in_row}",
            "  recent runs:",
        ]
        recent = sync.runs.order_by("-created_at", "-id")[:5]
        for run in recent:
            lines.append(
                f"    {run.pk:>5}  {run.created_at:%Y-%m-%d %H:%M}  {run.get_kind_display():<14} "
                f"{run.get_status_display():<14} {run.summary}"
            )
        if not recent:
            lines.append("    (none)")
        self.stdout.write("\n".join(lines))

    def sync_or_fail(self, sync_id: int) -> CohortSync:
        sync = (
            CohortSync.objects.select_related("cohort", "connection__version", "connection__org")
            .filter(pk=sync_id)
            .first()
        )
        if sync is None:
            raise CommandError(f"There is no sync with id {sync_id}.", returncode=2)
        return sync
