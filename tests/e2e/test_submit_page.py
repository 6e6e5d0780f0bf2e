"""The submit page in Chromium: a draft identical to its approved version offers no new
submission."""

from playwright.sync_api import expect


def test_no_submission_is_offered_for_the_approved_configuration(
    cast, submitted_version, live_server, page, sign_in, screenshot
):
    from reviews import decisions

    decisions.review_approve(acting_user=cast.rita, version=submitted_version)
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{submitted_version.integration_id}/submit")
    expect(page.get_by_role("heading", name="Approved as it is")).to_be_visible()
    expect(page.locator("#approved-twin")).to_contain_text("exactly version 1")
    expect(page.get_by_role("button", name="for review")).to_have_count(0)
    screenshot("submit-approved-twin")
