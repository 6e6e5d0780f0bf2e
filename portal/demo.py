"""Demo data for `make run`, built in steps: this ground floor adds a cast of people, two
organisations, a project and cohorts; each app above adds its own step in its `demo`
module (found by `autodiscover_modules`, as the admin finds `admin` modules), so this
module never imports them. Steps run in the order of INSTALLED_APPS.

Built through the same action functions the pages use, so the audit log tells the story.
Running it again changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from allauth.mfa.models import Authenticator
from django.apps import apps
from django.db import transaction
from django.utils.module_loading import autodiscover_modules

from portal import actions, cohorts
from portal.accounts import two_factor_enrol
from portal.audit import audit_record
from portal.flags import DEVELOPER_PORTAL
from portal.models import (
    Cohort,
    CohortMember,
    MemberRole,
    Membership,
    Organization,
    Project,
    StaffRole,
    User,
)

DEMO_PASSWORD = "demo-pass-2026"
# Reviewers and platform admins sign in with a second factor. The demo ones share this
# key, public like the password above (the demo commands refuse to run without DEBUG): add it to an
# authenticator app, or ask `manage.py demo_totp` for the current code.
DEMO_TOTP_SECRET = "DEMOKEYCOHORTPORTALDEMOKEY234567"

# Who is who in the demo (and in the test suite's cast):
#   alice   partner developer and admin of Acme Audiences (portal flag on)
#   bob     admin of Globex Analytics, an org without the portal flag
#   rita    reviewer (platform staff)
#   adam    platform admin
DEMO_LOGINS = [
    ("alice@acme.test", "Partner developer, Acme Audiences (portal on)"),
    ("bob@globex.test", "Org admin, Globex Analytics (portal off)"),
    ("rita@platform.test", "Reviewer"),
    ("adam@platform.test", "Platform admin"),
]
# `make run` starts the demo partner here (portal/management/commands/rundev.py).
DEMO_PARTNER_URL = "http://127.0.0.1:8765"
DEMO_ORG = "Acme Audiences"
DEMO_PROJECT = "Acme Web App"
DEMO_COHORTS = [("Power users", 3_000), ("Churn risk", 1_200), ("Newsletter subscribers", 2_500)]
# Demo users are numbered 0 … DEMO_USER_POOL-1; churn brings some of them in and out.
DEMO_USER_POOL = 10_000
# Each churn moves about this share of a demo cohort's members out, and as many in.
CHURN_SHARE = 0.02
CHURN_ACTOR = "demo churn"
PLANS = ["free", "starter", "growth", "enterprise"]
COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN"]


def demo_members(count: int, *, offset: int, seed: int) -> list[tuple[int, dict]]:
    rng = random.Random(seed)
    return [(index, demo_member(index, rng)) for index in range(offset, offset + count)]


def demo_member(index: int, rng: random.Random) -> dict:
    """Demo user number `index` (a CSV row's worth of fields)."""
    return {
        "user_id": f"user-{index:06d}",
        "amplitude_id": str(100_000_000 + index),
        "device_id": f"dev-{rng.getrandbits(48):012x}",
        "email": f"user{index:06d}@example.com",
        "plan": rng.choice(PLANS),
        "country": rng.choice(COUNTRIES),
    }


def _user(email: str, full_name: str, *, staff_role: str = "") -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email, DEMO_PASSWORD, full_name=full_name, staff_role=staff_role
        )
    # Demo people need no verification mail: their addresses are pre-verified.
    actions.email_mark_verified(user=user)
    if staff_role and not Authenticator.objects.filter(user=user).exists():
        two_factor_enrol(user=user, secret=DEMO_TOTP_SECRET)
    return user


def two_factor_help() -> str:
    """How the demo reviewer and platform admin pass the second step of signing in (the
    `make run` banner): the shared key, the command that prints the current code, and an
    unused recovery code each."""
    lines = [
        "  Reviewer and platform admin: after the password, a two-factor code. Add the key",
        f"    {DEMO_TOTP_SECRET} to an authenticator app, or print the current code with",
        "    .venv/bin/python manage.py demo_totp rita@platform.test   (or adam@...);",
        "    or type one of their recovery codes (each works once):",
    ]
    staff = User.objects.filter(email__in=[e for e, _ in DEMO_LOGINS], staff_role__gt="")
    for user in staff.order_by("email"):
        codes = Authenticator.objects.filter(
            user=user, type=Authenticator.Type.RECOVERY_CODES
        ).first()
        unused = codes.wrap().get_unused_codes() if codes else []
        lines.append(f"    {user.email:<22} {unused[0] if unused else '(none left)'}")
    return "\n".join(lines)


def _org(name: str, admin: User) -> Organization:
    membership = Membership.objects.filter(user=admin, org__name=name).select_related("org").first()
    if membership:
        return membership.org
    org = Organization.objects.create(name=name)
    Membership.objects.create(user=admin, org=org, role=MemberRole.ADMIN, is_developer=True)
    return org


@dataclass
class DemoData:
    """What the steps share: the partner's address, and what earlier steps built."""

    partner_url: str
    built: dict[str, Any] = field(default_factory=dict)


DemoStep = Callable[[DemoData], None]
_steps: list[DemoStep] = []


def demo_step(step: DemoStep) -> DemoStep:
    """Register a step of the demo data (apps call it in their `demo` module)."""
    if step not in _steps:
        _steps.append(step)
    return step


@demo_step
def tenancy(data: DemoData) -> None:
    """People, organisations, the portal flag, a project with overlapping cohorts."""
    adam = _user("adam@platform.test", "Adam Admin", staff_role=StaffRole.PLATFORM_ADMIN)
    _user("rita@platform.test", "Rita Reviewer", staff_role=StaffRole.REVIEWER)
    alice = _user("alice@acme.test", "Alice Partner")
    bob = _user("bob@globex.test", "Bob Globex")
    acme = _org(DEMO_ORG, alice)
    globex = _org("Globex Analytics", bob)
    if not acme.flag_enabled(DEVELOPER_PORTAL):
        actions.flag_set(acting_user=adam, org=acme, flag=DEVELOPER_PORTAL, enabled=True)

    project = Project.objects.filter(org=acme, is_sandbox=False).first() or actions.project_create(
        acting_user=alice, org=acme, name=DEMO_PROJECT
    )
    for org, admin in ((acme, alice), (globex, bob)):
        # As sign-up gives every organisation.
        if not Project.objects.filter(org=org, is_sandbox=True).exists():
            actions.sandbox_create(acting_user=admin, org=org)
    offset = 0
    for position, (name, size) in enumerate(DEMO_COHORTS):
        cohort = Cohort.objects.filter(project=project, name=name).first()
        if cohort is None:
            cohort = actions.cohort_create(acting_user=alice, project=project, name=name)
            cohorts.load_members(cohort, demo_members(size, offset=offset, seed=position))
        offset += size // 2  # cohorts overlap, as real ones do
    if not Project.objects.filter(org=globex, is_sandbox=False).exists():
        actions.project_create(acting_user=bob, org=globex, name="Globex Storefront")
    data.built.update(alice=alice, bob=bob, adam=adam, acme=acme, globex=globex, project=project)


@transaction.atomic
def load_demo_data(*, partner_url: str = DEMO_PARTNER_URL) -> DemoData:
    """Run every app's demo step, ground floor first."""
    autodiscover_modules("demo")
    data = DemoData(partner_url=partner_url)
    for step in sorted(_steps, key=_app_position):
        step(data)
    return data


def churn_demo_cohorts(*, rng: random.Random | None = None) -> dict[str, cohorts.ChangeReport]:
    """Move a few percent of each demo cohort's members out and other demo users in, as
    a real cohort drifts: every few minutes under `make run` (the `portal.demo_churn`
    task, scheduled only when DEMO_CHURN is on), so that syncs have deltas to send.

    Each cohort changes through the same function as every other change of members, in
    its own transaction, with an audit row.
    """
    rng = rng or random.Random()
    demo = Cohort.objects.filter(
        project__org__name=DEMO_ORG,
        project__name=DEMO_PROJECT,
        name__in=[name for name, _ in DEMO_COHORTS],
    ).select_related("project__org")
    reports = {}
    for cohort in demo:
        with transaction.atomic():
            reports[cohort.name] = _churn(cohort, rng)
    return reports


def _churn(cohort: Cohort, rng: random.Random) -> cohorts.ChangeReport:
    moving = max(1, round(cohort.member_count * CHURN_SHARE))
    leaving = set(
        CohortMember.objects.filter(cohort=cohort)
        .order_by("?")
        .values_list("member_key", flat=True)[:moving]
    )
    candidates = [
        cohorts.member_values(demo_member(index, rng))
        for index in rng.sample(range(DEMO_USER_POOL), moving * 4)
    ]
    # Demo users not in the cohort (so not leaving either): each one enters.
    present = set(
        CohortMember.objects.filter(
            cohort=cohort, member_key__in=[member[0] for member in candidates]
        ).values_list("member_key", flat=True)
    )
    arriving = [member for member in candidates if member[0] not in present][:moving]
    before = cohort.member_count
    report = cohorts.change_members(cohort, add=arriving, remove=leaving)
    if report.changed:
        audit_record(
            actor=None,
            org=cohort.project.org,
            action="cohort.members_changed",
            target=cohort,
            before={"members": before},
            after={
                "members": report.total,
                "snapshot": report.snapshot,
                "entered": report.entered,
                "left": report.left,
                "updated": report.updated,
                "by": CHURN_ACTOR,
            },
        )
    return report


def _app_position(step: DemoStep) -> int:
    """Where the step's app stands in INSTALLED_APPS: a demo module imported early (by a
    test, say) still runs after the apps below it."""
    names = [config.name for config in apps.get_app_configs()]
    app = step.__module__.split(".")[0]
    return names.index(app) if app in names else len(names)
