"""Demo data for `make run`: a cast of people, two organisations, a project and cohorts,
and two drafts already pointed at the demo partner with their test settings filled in, so
that a new partner runs a passing test within the first minute.

Built through the same action functions the pages use, so the audit log tells the story.
Running it again changes nothing.
"""

from __future__ import annotations

import base64
import io
import math
import random

from django.db import transaction
from PIL import Image, ImageDraw

from demo_partner import DEMO_TOKEN
from demo_partner import manifests as demo_manifests
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
DEMO_PARTNER_TOKEN = DEMO_TOKEN
DEMO_LIST_DRAFT = "Demo Partner Lists"
DEMO_PROPERTY_DRAFT = "Demo Partner Properties"
DEMO_TEST_USERS = 25
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


# The demo logos: a rounded tile in the integration type's colour with a ring of dots, a
# small cohort. Drawn at start-up so no binary file is kept in the repository.
DEMO_LOGO_COLOURS = {
    "list": ((37, 99, 235), (14, 165, 233)),
    "property": ((124, 58, 237), (236, 72, 153)),
}
DEMO_LOGO_SIZE = 256


def demo_logo_png(integration_type: str) -> bytes:
    """A 256 px PNG logo for a demo draft, drawn with Pillow."""
    top, bottom = DEMO_LOGO_COLOURS[integration_type]
    size = DEMO_LOGO_SIZE
    gradient = Image.new("RGB", (size, size))
    pixels = gradient.load()
    for y in range(size):
        share = y / (size - 1)
        colour = tuple(round(a + (b - a) * share) for a, b in zip(top, bottom, strict=True))
        for x in range(size):
            pixels[x, y] = colour
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=56, fill=255)
    logo = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    logo.paste(gradient, (0, 0), mask)
    draw = ImageDraw.Draw(logo)
    centre, ring = size / 2, size * 0.28
    for step in range(8):
        angle = step * math.tau / 8
        x, y = centre + ring * math.cos(angle), centre + ring * math.sin(angle)
        draw.ellipse((x - 17, y - 17, x + 17, y + 17), fill=(255, 255, 255, 235))
    draw.ellipse((centre - 30, centre - 30, centre + 30, centre + 30), fill=(255, 255, 255, 255))
    out = io.BytesIO()
    logo.save(out, format="PNG")
    return out.getvalue()


def demo_partner_manifest(integration_type: str, base: str = DEMO_PARTNER_URL) -> dict:
    """A draft for the demo partner's list API (list) or property API (property)."""
    bad_token = {
        "status": 401,
        "sub_code": "E_AUTH",
        "sub_code_path": "error.code",
        "reason": "Unauthorized",
        "message": f"The demo partner did not accept the API token: use {DEMO_PARTNER_TOKEN}.",
        "action": "fail",
    }
    build, name = (
        (demo_manifests.list_manifest, DEMO_LIST_DRAFT)
        if integration_type == "list"
        else (demo_manifests.property_manifest, DEMO_PROPERTY_DRAFT)
    )
    manifest = build(base, name=name, batch_size=1000, errors=[bad_token])
    manifest["custom_fields"][0].update(
        display_name="API token", help_text=f"The demo partner accepts {DEMO_PARTNER_TOKEN}."
    )
    manifest["mapping_fields"][0]["help_text"] = (
        "Which Amplitude identifier the demo partner receives."
    )
    manifest["logo_png_base64"] = base64.b64encode(demo_logo_png(integration_type)).decode()
    return manifest


def _demo_drafts(alice: User, acme: Organization, project: Project, partner_url: str) -> None:
    """The two demo-partner drafts with their test settings, unless they exist already."""
    from integrations import actions as integration_actions
    from integrations.models import Integration
    from syncengine import actions as testing_actions

    for integration_type in ("list", "property"):
        manifest = demo_partner_manifest(integration_type, partner_url)
        if Integration.objects.filter(display_name__iexact=manifest["display_name"]).exists():
            continue
        draft = integration_actions.integration_import(
            acting_user=alice, org=acme, manifest=manifest
        )
        testing_actions.test_settings_save(
            acting_user=alice,
            integration=draft,
            project_id=project.public_id,
            api_key=project.api_key,
            values={"bearer_token": DEMO_PARTNER_TOKEN},
            mapping={"user_id_field": "user_id"},
            users_source="generated",
            users_count=DEMO_TEST_USERS,
        )


@transaction.atomic
def load_demo_data(*, partner_url: str = DEMO_PARTNER_URL) -> dict:
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
    _demo_drafts(alice, acme, project, partner_url)
    return {"acme": acme, "globex": globex, "project": project}
