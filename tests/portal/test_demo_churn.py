"""The demo cohorts' churn (portal/demo.py, the `portal.demo_churn` task): under `make run`
they drift by themselves, through the same change as every other, so syncs have deltas."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from portal import demo
from portal.models import AuditEvent, Cohort, CohortChange, CohortMember
from portal.tasks import demo_churn, housekeeping
from tests.portal.test_settings_env import PRODUCTION, manage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_cohorts(db):
    demo.tenancy(demo.DemoData(partner_url=demo.DEMO_PARTNER_URL))
    return {
        cohort.name: cohort for cohort in Cohort.objects.filter(project__name=demo.DEMO_PROJECT)
    }


def keys(cohort: Cohort) -> set[str]:
    return set(CohortMember.objects.filter(cohort=cohort).values_list("member_key", flat=True))


def test_each_churn_moves_a_few_percent_of_each_demo_cohort_in_one_new_snapshot(demo_cohorts):
    before = {name: (cohort.snapshot, keys(cohort)) for name, cohort in demo_cohorts.items()}
    reports = demo.churn_demo_cohorts(rng=random.Random(7))
    assert set(reports) == {name for name, _ in demo.DEMO_COHORTS}
    for name, size in demo.DEMO_COHORTS:
        cohort = Cohort.objects.get(pk=demo_cohorts[name].pk)
        snapshot, members = before[name]
        report = reports[name]
        assert cohort.snapshot == report.snapshot == snapshot + 1
        moving = round(size * demo.CHURN_SHARE)
        assert report.left == report.entered == moving
        now = keys(cohort)
        logged = CohortChange.objects.filter(cohort=cohort, snapshot=cohort.snapshot)
        assert {row.member_key for row in logged if row.entered} == now - members
        assert {row.member_key for row in logged if not row.entered} == members - now
        assert cohort.member_count == len(now) == size - report.left + report.entered
    churned = AuditEvent.objects.filter(action="cohort.members_changed", actor=None)
    assert churned.count() == 3
    assert {event.after["by"] for event in churned} == {demo.CHURN_ACTOR}


def test_the_periodic_task_churns_again_and_again(demo_cohorts):
    demo_churn()
    demo_churn()
    for cohort in demo_cohorts.values():
        cohort.refresh_from_db()
        assert cohort.snapshot == 3  # the demo's first load, then two churns


def test_housekeeping_leaves_the_change_log_alone(demo_cohorts):
    demo_churn()
    logged = CohortChange.objects.count()
    assert logged > 0
    housekeeping()
    assert CohortChange.objects.count() == logged


def settings_value(expression: str, **environment: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **environment}
    return subprocess.run(
        [sys.executable, "-c", f"import portal.settings as s; print({expression})"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_beat_schedules_the_churn_only_when_demo_churn_is_on():
    schedule = "sorted(s.CELERY_BEAT_SCHEDULE)"
    on = settings_value(schedule, DEMO_CHURN="true", DEMO_CHURN_SECONDS="60")
    assert on.returncode == 0, on.stderr
    assert "'demo-churn'" in on.stdout
    off = settings_value(schedule, DEMO_CHURN="false")
    assert off.returncode == 0 and "'demo-churn'" not in off.stdout
    production = manage("check", env={**PRODUCTION, "DEMO_CHURN": "true"})
    assert production.returncode != 0
    assert "DEMO_CHURN=true is only allowed with DEBUG=true." in production.stderr


def test_make_run_turns_the_churn_on():
    source = (ROOT / "portal/management/commands/rundev.py").read_text()
    assert '{"DEMO_CHURN": "true", **os.environ}' in source
