"""Rough edges of the review page, each seen in Chromium: replies sit under the comment
they answer, the credentials a reviewer typed stay through checks and page loads, the
reviewer is named after a decision, exchange rows say each thing once, and a 390 px
phone shows the page without sideways scrolling."""

from __future__ import annotations

from playwright.sync_api import expect

LIVE = 20_000


def test_replies_sit_under_the_comment_they_answer(
    cast, submitted_version, live_server, page, sign_in, screenshot
):
    from reviews import decisions

    first = decisions.review_comment(
        acting_user=cast.rita, version=submitted_version, body="Which batch size do you take?"
    )
    second = decisions.review_comment(
        acting_user=cast.rita, version=submitted_version, body="And which id path?"
    )
    decisions.review_comment(
        acting_user=cast.alice, version=submitted_version, body="Up to 10,000.", parent=first
    )
    decisions.review_comment(
        acting_user=cast.alice, version=submitted_version, body="data.id", parent=second
    )
    sign_in(cast.rita)
    page.goto(f"{live_server.url}/review/{submitted_version.pk}/")
    expect(page.locator(f"#comment-{first.pk} .comment-replies")).to_contain_text("Up to 10,000.")
    expect(page.locator(f"#comment-{second.pk} .comment-replies")).to_contain_text("data.id")
    expect(page.locator(f"#comment-{first.pk} .comment-replies")).not_to_contain_text("data.id")
    page.locator("#thread").screenshot(path=str(_artifact("review-replies")))


def _submitted_through_the_worker(cast, partner):
    """A submission whose passing test ran on the worker (running it here as well would
    race the worker for it), without credentials shared with reviewers."""
    import base64

    from reviews import submissions
    from syncengine import actions
    from syncengine.models import TestRun
    from tests.integrations.conftest import png_bytes
    from tests.syncengine.conftest import list_manifest, make_draft, save_settings
    from tests.waiting import wait_until

    manifest = list_manifest(partner.url, name="Reviewed Lists")
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=5, share_with_reviewers=False)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    wait_until(
        lambda: TestRun.objects.get(pk=run.pk).status == "passed", 60, "the test never passed"
    )
    return submissions.integration_submit(acting_user=cast.alice, integration=draft)


def test_typed_credentials_stay_and_the_decider_is_named(
    cast, celery_worker, partner, live_server, page, sign_in, screenshot
):
    from tests.syncengine.conftest import TOKEN

    submitted_version = _submitted_through_the_worker(cast, partner)
    sign_in(cast.rita)
    page.goto(f"{live_server.url}/review/{submitted_version.pk}/")
    form = page.locator("#review-checks")
    region = form.get_by_label("Region")
    token = form.get_by_label("Bearer Token")
    region.fill("us")
    token.fill(TOKEN)
    page.get_by_role("button", name="Re-run the full test").click()
    results = page.locator("#review-checks-results")
    expect(results.locator(".evidence-run")).to_have_count(1, timeout=LIVE)
    expect(results.locator('.evidence-run[data-status="passed"]')).to_have_count(1, timeout=LIVE)
    # The form was not replaced: what was typed is still there.
    expect(region).to_have_value("us")
    expect(token).to_have_value(TOKEN)
    # A whole-page action (a comment) comes back with the values kept: the secret as kept.
    page.get_by_label("New comment").fill("Looks good so far.")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_text("Comment posted.")).to_be_visible()
    page.locator("#review-checks summary").first.click()
    expect(region).to_have_value("us")
    expect(token).to_have_attribute(
        "placeholder", "Kept from your last check · leave blank to keep"
    )
    assert TOKEN not in page.content()
    # Blank keeps it: the conformance checks run with the kept token.
    page.get_by_role("button", name="Run conformance checks").click()
    expect(results.locator('.conformance-list [data-status="passed"]')).to_have_count(
        6, timeout=LIVE
    )
    screenshot("review-credentials-kept")

    # The exchange rows say each thing once.
    row = results.locator(".evidence-exchanges summary").first
    expect(row).not_to_contain_text("attempt")

    # After a decision the reviewer is named, not "Unassigned".
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve and deploy").click()
    expect(page.get_by_text("Approved and deployed")).to_be_visible()
    expect(page.locator("#reviewed-by")).to_contain_text("Reviewed by Rita Reviewer")
    expect(page.locator("#assignee")).to_have_count(0)
    submitted_version.refresh_from_db()
    assert submitted_version.assigned_to == cast.rita
    screenshot("review-decided-reviewer")


def test_the_review_page_fits_a_phone(
    cast, submitted_version, live_server, page, sign_in, screenshot
):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(cast.rita)
    page.goto(f"{live_server.url}/review/{submitted_version.pk}/")
    expect(page.get_by_role("heading", name="First submission")).to_be_visible()
    for details in page.locator("details").all():
        details.evaluate("d => d.open = true")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    screenshot("review-phone")


def _artifact(name: str):
    from tests.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"
