"""The Testing panel in a real browser: a partner fills in the test form on the standalone
test page and runs a full test against the demo partner (a real HTTP service on loopback),
executed by a real Celery worker; the steps pass one by one while the page polls, and the
request/response inspector shows what was sent (token masked) and what came back."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.syncengine.conftest import TOKEN, list_manifest, make_draft, save_settings, with_endpoint

LIVE = 20_000  # ms: a run goes through the broker and a worker


def test_a_partner_runs_a_full_test_and_sees_each_step_pass(
    cast, celery_worker, live_server, page, sign_in, screenshot, partner
):
    draft = make_draft(cast, list_manifest(partner.url, name="Browser Lists", batch_size=10))
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/test/")
    expect(page.get_by_role("heading", name="Test against your endpoint")).to_be_visible()
    expect(page.get_by_text("No tests yet.")).to_be_visible()
    screenshot("testing-empty")

    # Bad input first: a wrong API key is refused next to the field and nothing runs.
    page.get_by_label("Project", exact=True).select_option(str(cast.acme_project.public_id))
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_label("Bearer Token").fill(TOKEN)
    page.get_by_role("button", name="Run full test").click()
    expect(page.locator(".tst-error")).to_contain_text("is not the API key")
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("API key").fill(cast.acme_project.api_key)
    page.get_by_label("Bearer Token").fill(TOKEN)
    page.get_by_label("User ID").select_option("email")
    page.get_by_label("Number of users").fill("25")
    # From the keyboard: Enter on the button, and the focus follows into the new run.
    page.get_by_role("button", name="Run full test").focus()
    page.keyboard.press("Enter")

    run = page.locator(".tst-run").first
    expect(run).to_be_visible()
    expect(run.locator(".tst-run-head")).to_be_focused()
    for step in ("create_list", "add_users", "remove_users"):
        expect(run.locator(f'[data-step="{step}"]')).to_have_attribute(
            "data-status", "passed", timeout=LIVE
        )
    expect(run.locator(".tst-summary")).to_contain_text("Passed", timeout=LIVE)
    expect(page.locator(".tst-ready")).to_contain_text("Ready to submit", timeout=LIVE)
    # 1 create + 3 adds of at most 10 users + 1 remove of 5.
    expect(run.locator("details.tst-exchange")).to_have_count(5, timeout=LIVE)

    # The inspector: the request as sent (token masked), the response as received.
    first = run.locator("details.tst-exchange").first
    first.locator("summary").click()
    inspector = first.locator(".tst-inspector")
    expect(inspector).to_contain_text("Bearer ••••••", timeout=LIVE)
    expect(inspector).to_contain_text("201 Created")
    expect(inspector).not_to_contain_text(TOKEN)
    screenshot("testing-passed")
    # What the partner sees without scrolling (the README shows it).
    page.locator(".tst-panel").evaluate("node => node.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -72)")
    page.screenshot(path=str(ARTIFACTS / "testing-run.png"))

    # The demo partner really received the users.
    created = partner.state.list_summaries()
    assert len(created) == 1 and created[0]["member_count"] == 20
    # History shows the run; editing the configuration would make it stale.
    expect(page.locator(".tst-history-row")).to_have_count(1)
    expect(page.locator(".tst-history-row")).to_contain_text(re.compile("Passed"))


def test_retries_show_live_and_a_failure_explains_itself(
    cast, celery_worker, live_server, page, sign_in, screenshot, partner, settings
):
    settings.RETRY_BASE_DELAY_SECONDS = 0.2
    classification = {
        "status": 401,
        "sub_code": "E_AUTH",
        "sub_code_path": "error.code",
        "message": "Wrong token: copy it again from your Acme settings.",
        "action": "fail",
    }
    manifest = with_endpoint(
        list_manifest(partner.url, name="Slow Lists", batch_size=10),
        "add_users",
        errors=[classification],
    )
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=30)
    # The editor's right column is narrow: the panel stacks into one column there.
    page.set_viewport_size({"width": 720, "height": 1000})
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/test/")

    # Every response takes 400 ms and the first two fail: progress is visible as it goes.
    partner.state.set_faults(fail_next=2, status=503, delay_ms=400)
    page.get_by_role("button", name="Run full test").click()
    run = page.locator(".tst-run").first
    expect(run.locator('[data-step="create_list"]')).to_have_attribute(
        "data-status", "passed", timeout=LIVE
    )
    expect(run.locator(".tst-status").first).to_have_text("Running")
    retried = run.locator("details.tst-outcome-retrying")
    expect(retried).to_have_count(2)
    expect(retried.first).to_contain_text("503")
    expect(retried.first).to_contain_text("waiting")
    screenshot("testing-running")
    expect(run.locator(".tst-summary")).to_contain_text("Passed", timeout=LIVE)

    # Now with a token the partner refuses: add_users fails with the classified message.
    partner.token = "rotated-token"
    partner.state.set_faults(delay_ms=0)
    page.get_by_role("button", name="Test add_users").click()
    failed = page.locator(".tst-run").first
    expect(failed.locator(".tst-diagnosis")).to_contain_text(
        classification["message"], timeout=LIVE
    )
    expect(failed.locator('[data-step="add_users"]')).to_have_attribute("data-status", "failed")
    # The batches were sent concurrently; each got the 401, none was retried ("fail").
    expect(failed.locator("details.tst-outcome-failed").first).to_contain_text("401")
    expect(failed.locator("details.tst-outcome-retrying")).to_have_count(0)
    expect(page.locator(".tst-history-row")).to_have_count(2)
    screenshot("testing-narrow-failed")
