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

from django.apps import apps
from django.db import transaction
from django.utils.module_loading import autodiscover_modules

from portal import actions, cohorts
from portal.flags import DEVELOPER_PORTAL
from portal.models import Cohort, MemberRole, Membership, Organization, Project, StaffRole, User

DEMO_PASSWORD = "demo-pass-2026"

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
DEMO_COHORTS = [("Power users", 3_000), ("Churn risk", 1_200), ("Newsletter subscribers", 2_500)]
PLANS = ["free", "starter", "growth", "enterprise"]
COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN"]


def demo_members(count: int, *, offset: int, seed: int) -> list[tuple[int, dict]]:
    rng = random.Random(seed)
    rows = []
    for index in range(offset, offset + count):
        rows.append(
            (
                index,
                {
                    "user_id": f"user-{index:06d}",
                    "amplitude_id": str(100_000_000 + index),
                    "device_id": f"dev-{rng.getrandbits(48):012x}",
                    "email": f"user{index:06d}@example.com",
                    "plan": rng.choice(PLANS),
                    "country": rng.choice(COUNTRIES),
                },
            )
        )
    return rows


def _user(email: str, full_name: str, *, staff_role: str = "") -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email, DEMO_PASSWORD, full_name=full_name, staff_role=staff_role
        )
    return user


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
    acme = _org("Acme Audiences", alice)
    globex = _org("Globex Analytics", bob)
    if not acme.flag_enabled(DEVELOPER_PORTAL):
        actions.flag_set(acting_user=adam, org=acme, flag=DEVELOPER_PORTAL, enabled=True)

    project = Project.objects.filter(org=acme).first() or actions.project_create(
        acting_user=alice, org=acme, name="Acme Web App"
    )
    offset = 0
    for position, (name, size) in enumerate(DEMO_COHORTS):
        cohort = Cohort.objects.filter(project=project, name=name).first()
        if cohort is None:
            cohort = actions.cohort_create(acting_user=alice, project=project, name=name)
            cohorts.load_members(cohort, demo_members(size, offset=offset, seed=position))
        offset += size // 2  # cohorts overlap, as real ones do
    if not Project.objects.filter(org=globex).exists():
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


def _app_position(step: DemoStep) -> int:
    """Where the step's app stands in INSTALLED_APPS: a demo module imported early (by a
    test, say) still runs after the apps below it."""
    names = [config.name for config in apps.get_app_configs()]
    app = step.__module__.split(".")[0]
    return names.index(app) if app in names else len(names)
