"""The first five minutes, walked in Chromium as a new partner would: sign up, confirm
the email with the link the worker mails (which signs in, in the same browser), open the
Developer Portal (granted at sign-up by the platform setting), create a list-based draft
from the demo partner, and run a full test that passes, on a real worker against the
demo partner on loopback.

Every click and every filled field is counted; the walk fails above MAX_CLICKS. The count,
the fields and the time it took are printed and kept in
tests/e2e/artifacts/first-five-minutes.json; the screenshots are the README's.
"""

from __future__ import annotations

import json
import re
import time

from django.core import mail
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.waiting import wait_until

MAX_CLICKS = 12
LIVE = 30_000


class Walk:
    """Counts what the partner does: each click and each field filled."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.clicks: list[str] = []
        self.fields: list[str] = []
        self.started = time.monotonic()

    def click(self, locator: Locator, what: str) -> None:
        locator.click()
        self.clicks.append(what)

    def fill(self, locator: Locator, value: str, what: str) -> None:
        locator.fill(value)
        self.fields.append(what)

    def report(self) -> dict:
        return {
            "clicks": len(self.clicks),
            "fields": len(self.fields),
            "seconds": round(time.monotonic() - self.started, 1),
            "clicked": self.clicks,
            "filled": self.fields,
        }


def shot(page: Page, name: str) -> None:
    """The window as the partner sees it (the README's screenshots come from here)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_sign_up_to_a_first_passing_full_test(celery_worker, live_server, page, partner, settings):
    from portal import actions
    from portal.models import StaffRole, User
    from tests.conftest import PASSWORD

    settings.DEMO_PARTNER_URL = partner.url
    admin = User.objects.create_user(
        "adam@platform.test", PASSWORD, staff_role=StaffRole.PLATFORM_ADMIN
    )
    actions.platform_settings_set(acting_user=admin, grant_portal_to_new_orgs=True)

    page.goto(f"{live_server.url}/signup/")
    walk = Walk(page)
    walk.fill(page.get_by_label("Your name"), "Nora Newcomer", "your name")
    walk.fill(page.get_by_label("Email"), "nora@newco.test", "email")
    walk.fill(page.get_by_label("Password"), PASSWORD, "password")
    walk.fill(page.get_by_label("Organisation name"), "NewCo Audiences", "organisation")
    shot(page, "first-1-sign-up")
    walk.click(page.get_by_role("button", name="Create account"), "Create account")

    # The address is confirmed first: the worker sends the link.
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    sent = wait_until(lambda: mail.outbox, 30, "the worker sent no verification mail")
    link = re.search(r"http://\S+/accounts/confirm-email/\S+", sent[0].body).group(0)
    page.goto(link)
    walk.clicks.append("the link in the email")
    walk.click(page.get_by_role("button", name="Confirm"), "Confirm")

    walk.click(page.get_by_role("link", name="Developer Portal", exact=True), "Developer Portal")
    expect(page.get_by_role("heading", name="Build your first cohort integration")).to_be_visible()
    walk.click(page.get_by_role("link", name="Start with Part 1: your tile"), "Part 1")
    walk.fill(page.get_by_label("Display name"), "NewCo Lists", "display name")
    expect(page.locator("#name-status")).to_contain_text("is available", timeout=LIVE)
    walk.click(page.get_by_role("button", name="Create and continue"), "Create and continue")

    expect(page.get_by_role("heading", name="How should the configuration start?")).to_be_visible()
    shot(page, "first-2-start")
    walk.click(page.get_by_role("button", name="Start from the demo partner"), "Demo partner")
    expect(page.get_by_role("heading", name="Testing Integration")).to_be_visible()
    expect(page.locator("#problem-summary")).to_contain_text("No problems found")
    shot(page, "first-3-configuration")
    walk.click(page.get_by_role("link", name="Test", exact=True), "Test")

    # The sandbox is chosen with its key; the demo partner's API is on the page.
    expect(page.get_by_label("API key")).to_have_attribute(
        "placeholder", "Filled in for you: the sandbox's key"
    )
    expect(page.get_by_text("This draft calls the demo partner: its API")).to_be_visible()
    walk.fill(page.get_by_label("API token"), "demo-token", "API token")
    walk.click(page.get_by_role("button", name="Run full test"), "Run full test")
    run = page.locator(".tst-run").first
    expect(run.locator(".tst-summary")).to_contain_text("Passed", timeout=LIVE)
    expect(page.locator(".tst-ready")).to_contain_text("Ready to submit", timeout=LIVE)
    report = walk.report()
    # The run's head just under the top bar: the verdict, the steps and the exchanges.
    run.evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 72)")
    shot(page, "first-4-passed")

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "first-five-minutes.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\nfirst five minutes: {report['clicks']} clicks, {report['fields']} fields, "
        f"{report['seconds']} s ({', '.join(report['clicked'])})"
    )
    assert report["clicks"] <= MAX_CLICKS, report
