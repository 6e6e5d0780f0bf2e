"""Rough edges of the test page, each seen in Chromium: a failed step's exchange is not
painted green, a success does not read "attempt 1 of 8", and with No retries the
diagnosis does not promise a retry."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.syncengine.conftest import list_manifest, make_draft, save_settings, with_endpoint

LIVE = 20_000


def test_a_failed_step_shows_its_exchange_as_failed(
    cast, celery_worker, live_server, page, sign_in, screenshot, partner
):
    manifest = with_endpoint(
        list_manifest(partner.url, name="Misread Lists", batch_size=10),
        "create_list",
        list_id_path="listId",
    )
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=5)
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/test/")
    page.get_by_role("button", name="Run full test").click()
    run = page.locator(".tst-run").first
    expect(run.locator('[data-step="create_list"]')).to_have_attribute(
        "data-status", "failed", timeout=LIVE
    )
    exchange = run.locator("details.tst-exchange").first
    expect(exchange).to_have_class("tst-exchange tst-outcome-failed")
    expect(exchange.locator(".badge")).to_have_class("badge badge-danger")
    expect(exchange).to_contain_text("201 Created, but list id not found")
    assert exchange.evaluate("e => getComputedStyle(e).borderLeftColor") != exchange.evaluate(
        "() => getComputedStyle(document.body).getPropertyValue('--success')"
    )
    screenshot("testing-failed-step-exchange")


def test_successes_do_not_count_attempts_and_no_retries_promises_none(
    cast, celery_worker, live_server, page, sign_in, screenshot, partner
):
    draft = make_draft(cast, list_manifest(partner.url, name="Plain Lists", batch_size=10))
    save_settings(cast, draft, users_count=5)
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/test/")
    page.get_by_role("button", name="Run full test").click()
    run = page.locator(".tst-run").first
    expect(run.locator(".tst-summary")).to_contain_text("Passed", timeout=LIVE)
    expect(run.locator("details.tst-exchange")).to_have_count(3)
    expect(run).not_to_contain_text("attempt 1 of")
    first = run.locator("details.tst-exchange").first
    first.locator("summary").click()
    expect(first.locator(".tst-inspector")).to_contain_text("Bearer ••••••", timeout=LIVE)
    expect(first.locator(".tst-inspector")).not_to_contain_text("attempt 1 of")
    screenshot("testing-success-wording")

    # A 503 with No retries: one attempt, and the diagnosis says it was not retried.
    partner.state.set_faults(fail_next=1, status=503)
    page.get_by_label("No retries").check()
    page.get_by_role("button", name="Run full test").click()
    failed = page.locator(".tst-run[data-status]").first
    expect(failed.locator('[data-step="create_list"]')).to_have_attribute(
        "data-status", "failed", timeout=LIVE
    )
    expect(failed.locator(".tst-run-head .tst-diagnosis")).to_contain_text(
        "not retried: No retries is ticked"
    )
    exchange = failed.locator("details.tst-exchange").first
    exchange.locator("summary").click()
    inspector = exchange.locator(".tst-inspector")
    expect(inspector).to_contain_text("not retried: No retries is ticked", timeout=LIVE)
    expect(failed).not_to_contain_text("will be retried")
    screenshot("testing-no-retries-diagnosis")
