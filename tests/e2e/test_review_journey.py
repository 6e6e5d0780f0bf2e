"""The whole journey in a real browser: the partner tests and submits; a reviewer requests
changes with a comment; the partner edits, re-tests and resubmits; the reviewer approves;
the tile is on the partner org's Destinations page. Tests run on a real Celery worker
against the demo partner on loopback."""

from __future__ import annotations

import base64

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.integrations.conftest import png_bytes
from tests.syncengine.conftest import list_manifest, make_draft, save_settings
from tests.waiting import wait_until

LIVE = 20_000  # ms: runs go through the broker and a worker


def run_full_test(page, live_server, draft) -> None:
    from syncengine.models import TestRun

    # The page loads its runs after itself, so which run it shows first says nothing: the
    # run started here is the one the database gets next.
    runs = TestRun.objects.filter(integration=draft).order_by("-pk")
    before = runs.values_list("pk", flat=True).first() or 0
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/test/")
    page.get_by_role("button", name="Run full test").click()
    started = wait_until(
        lambda: runs.filter(pk__gt=before).first(), LIVE / 1000, "no test run was started"
    )
    run = page.locator(f".tst-run[data-run='{started.pk}']")
    expect(run.locator(".tst-summary")).to_contain_text("Passed", timeout=LIVE)


def submit(page, live_server, draft, note: str) -> None:
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/submit")
    expect(page.locator(".check-todo")).to_have_count(0)
    page.get_by_label("Note to the reviewers").fill(note)
    page.get_by_role("button", name="for review").click()
    expect(page.get_by_text("Submitted.")).to_be_visible()
    expect(page.get_by_role("heading", name="In review")).to_be_visible()
    expect(page.get_by_text("expected by")).to_be_visible()


def test_submit_request_changes_resubmit_approve_and_the_tile_appears(
    cast, celery_worker, live_server, page, sign_in, screenshot, partner, console
):
    manifest = list_manifest(partner.url, name="Journey Lists", batch_size=10)
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(160, 160)).decode()
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=12, share_with_reviewers=True)
    console.expect("status of 409")

    # The partner tests and submits.
    sign_in(cast.alice)
    run_full_test(page, live_server, draft)
    submit(page, live_server, draft, "First version, please review.")

    # The reviewer requests changes with a comment.
    page.context.clear_cookies()
    sign_in(cast.rita)
    expect(page).to_have_url(f"{live_server.url}/review/")
    page.get_by_role("link", name="Review", exact=True).first.click()
    expect(page.get_by_role("heading", name="First submission")).to_be_visible()
    expect(page.get_by_text("First version, please review.")).to_be_visible()
    # The partner shared their test credentials: the checks ran on submission by themselves.
    checks = page.locator("#review-checks")
    expect(checks.locator('[data-status="passed"]')).to_have_count(6, timeout=LIVE)
    expect(checks).to_contain_text("ran by itself on submission")
    screenshot("review")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "review-top.png"))
    # Requesting changes needs a message: the field says so and nothing is sent.
    page.get_by_role("button", name="Request changes").click()
    message = page.get_by_label("Message to the partner")
    expect(message).to_be_focused()
    expect(message).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#decision-message-error")).to_contain_text("a message is required")
    message.fill("Please name lists after the cohort id.")
    page.get_by_role("button", name="Request changes").click()
    expect(page.get_by_text("Changes requested; the partner was emailed.")).to_be_visible()
    screenshot("review-changes-requested")

    # The partner reads the comment, edits, re-tests and resubmits.
    page.context.clear_cookies()
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/submit")
    expect(page.locator('[data-state="changes_requested"]')).to_be_visible()
    page.get_by_role("link", name="Thread").first.click()
    expect(
        page.locator(".comment-body", has_text="Please name lists after the cohort id.")
    ).to_be_visible()
    page.get_by_label("New comment").fill("Done: the list name now carries the cohort id.")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_text("Comment posted.")).to_be_visible()

    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/configure")
    payload = page.locator('[name="endpoints.create_list.payload"]')
    payload.fill('{"name": "$cohort_name ($cohort_id)"}')
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved", timeout=LIVE)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/submit")
    expect(page.locator(".check-todo")).to_have_count(1)  # the old test no longer counts
    run_full_test(page, live_server, draft)
    submit(page, live_server, draft, "Second version: list names carry the cohort id.")

    # The reviewer approves.
    page.context.clear_cookies()
    sign_in(cast.rita)
    page.get_by_role("link", name="Review", exact=True).first.click()
    expect(page.get_by_text("Second version: list names carry the cohort id.")).to_be_visible()
    expect(
        page.locator(".comment-body", has_text="Done: the list name now carries the cohort id.")
    ).to_be_visible()
    # Approving asks first; dismissing changes nothing.
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Approve and deploy").click()
    expect(page.get_by_text("Approved and deployed")).to_have_count(0)
    assert questions and questions[0].startswith("Approve Journey Lists v2 and deploy it")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve and deploy").click()
    expect(page.get_by_text("Approved and deployed")).to_be_visible()

    # The tile is on the partner org's Destinations page, and its Connect modal opens.
    page.context.clear_cookies()
    sign_in(cast.alice)
    page.get_by_role("link", name="Destinations").click()
    tile = page.locator(".dest-catalog-tile", has_text="Journey Lists")
    expect(tile).to_be_visible()
    page.wait_for_load_state("domcontentloaded")  # the deferred script opens the dialog
    page.screenshot(path=str(ARTIFACTS / "destinations.png"))
    tile.get_by_role("link", name="Connect").click()
    dialog = page.get_by_role("dialog", name="Connect to Journey Lists")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Bearer Token")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # Every organisation sees it in its catalogue, by the partner.
    page.context.clear_cookies()
    sign_in(cast.bob)
    page.goto(f"{live_server.url}/destinations/")
    expect(page.locator(".dest-catalog-tile", has_text="Journey Lists")).to_contain_text(
        "by Acme Audiences"
    )
