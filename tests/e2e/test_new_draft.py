"""A blank draft starts well, in Chromium: no problem is shown on a field before it is
touched, the page does not jump to the first error, the summary lists what is left to do
in order, and placeholders read as examples, never as values."""

from __future__ import annotations

from playwright.sync_api import expect

LIVE = 10_000


def test_a_blank_draft_is_quiet_until_a_field_is_touched(
    cast, live_server, page, sign_in, screenshot
):
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/new")
    page.get_by_label("Display name").fill("Quiet Lists")
    page.get_by_role("button", name="Create and continue").click()
    page.get_by_role("button", name="Start blank").click()
    expect(page.get_by_role("heading", name="Testing Integration")).to_be_visible()

    summary = page.locator("#problem-summary")
    expect(summary).to_contain_text("5 things left to do before testing")
    items = summary.locator(".summary-list li")
    expect(items).to_have_count(5)
    expect(items.first).to_contain_text("Create list › URL")
    expect(items.nth(1)).to_contain_text("Add users › URL")
    # Not one problem on the form itself, nothing red, and the page has not moved.
    expect(page.locator("#editor-form .fld-msgs:visible")).to_have_count(0)
    url = page.locator("#f-endpoints\\.create_list\\.url")
    assert url.evaluate("e => getComputedStyle(e).borderColor") != url.evaluate(
        "() => getComputedStyle(document.body).getPropertyValue('--danger')"
    )
    assert page.evaluate("window.scrollY") == 0
    screenshot("new-draft-quiet")

    # Placeholders are examples.
    payload = page.locator("#f-endpoints\\.add_users\\.item_template")
    expect(payload).to_have_attribute("placeholder", 'e.g. {"id": "$user_id_field_amplitude"}')
    assert payload.evaluate("e => getComputedStyle(e, '::placeholder').fontStyle") == "italic"

    # Touched, a field shows its problem; the others stay quiet.
    url.fill("https://api.acme.test/lists/ bad")
    url_messages = page.locator("#f-endpoints\\.create_list\\.url-problems")
    expect(url_messages).to_be_visible(timeout=LIVE)
    expect(page.locator("#f-endpoints\\.add_users\\.url-problems")).to_be_hidden()
    url.fill("https://api.acme.test/lists")
    expect(summary).to_contain_text("4 things left to do before testing", timeout=LIVE)
    screenshot("new-draft-touched")


def test_every_section_chip_shows_at_1440_px(cast, live_server, page, sign_in, screenshot):
    from integrations import actions

    draft = actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Wide Lists", integration_type="list"
    )
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/configure")
    nav = page.locator(".section-nav")
    right = nav.evaluate("n => n.getBoundingClientRect().right")
    for link in nav.locator("a").all():
        box = link.bounding_box()
        assert box is not None and box["x"] + box["width"] <= right + 0.5, link.inner_text()
    expect(nav.get_by_role("link", name="Delivery")).to_be_in_viewport()
    nav.screenshot(path=str(_artifact("editor-section-nav-1440")))


def _artifact(name: str):
    from tests.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"
