"""`manage.py sync run` and `sync status`, as an operator runs them: a process of their
own on the same database, with real exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from syncs.models import SyncRun
from tests.syncs.conftest import change_cohort, cohort_keys, list_manifest, make_sync

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    database = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=(
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_sync_run_prints_progress_and_exits_0_on_success(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url, batch_size=10), members=range(25))

    done = manage("sync", "run", str(sync.pk))

    assert done.returncode == 0, done.stderr
    run = SyncRun.objects.get(sync=sync)
    lines = done.stdout.splitlines()
    assert lines[0] == f"Run {run.pk} of sync {sync.pk} ({sync}): Sync now"
    assert "Planned: 25 users entered, 0 left, 3 batches" in done.stdout
    assert "  3/3 batches, 25 delivered, 0 failed, 0 skipped" in lines
    assert lines[-1] == run.summary and run.status == "succeeded"
    sync.refresh_from_db()
    assert partner.state.members_of(sync.list_id) == cohort_keys(sync.cohort)

    change_cohort(sync.cohort, add=[30])
    again = manage("sync", "run", str(sync.pk))
    assert again.returncode == 0 and "1 user entered, 0 left" in again.stdout


@pytest.mark.django_db(transaction=True)
def test_sync_run_exits_1_when_the_run_fails_and_2_when_it_cannot_start(cast, partner):
    sync = make_sync(cast, list_manifest(partner.url), members=range(3))
    partner.state.set_faults(fail_next=5, status=400)

    failed = manage("sync", "run", str(sync.pk))

    assert failed.returncode == 1
    assert "Failed at create_list" in failed.stdout
    assert "Run " in failed.stderr and "failed." in failed.stderr
    missing = manage("sync", "run", "999999")
    assert missing.returncode == 2 and "There is no sync with id 999999." in missing.stderr
    nothing = manage("sync", "run", str(sync.pk), "--new-list")
    assert nothing.returncode == 2 and "--new-list goes with --full-resync." in nothing.stderr


@pytest.mark.django_db(transaction=True)
def test_sync_status_lists_syncs_and_details_one(cast, partner):
    sync = make_sync(
        cast, list_manifest(partner.url), members=range(4), cadence="daily", daily_hour=7
    )
    assert manage("sync", "run", str(sync.pk)).returncode == 0

    listing = manage("sync", "status")
    detail = manage("sync", "status", str(sync.pk))

    assert listing.returncode == 0 and detail.returncode == 0
    assert f"Acme Audiences / {sync}" in listing.stdout
    assert "[every day at 07:00 UTC]" in listing.stdout and "4 delivered" in listing.stdout
    assert f"Sync {sync.pk}: {sync}" in detail.stdout
    assert "delivered: 4 users (exactly snapshot 1 of the cohort)" in detail.stdout
    assert "Succeeded: list" in detail.stdout
