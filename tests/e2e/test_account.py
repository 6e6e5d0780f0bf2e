"""The account page in Chromium: name, email and password, each changed in place."""

from playwright.sync_api import expect


def test_a_person_changes_their_name_email_and_password(
    cast, live_server, page, sign_in, screenshot, console
):
    from tests.conftest import PASSWORD

    console.expect("status of 400")  # the refused email change answers 400, on purpose

    sign_in(cast.alice)
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_label("Your name").fill("Alice P. Partner")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_text("Your name is saved.")).to_be_visible()
    expect(page.locator(".topbar .who").last).to_contain_text("Alice P. Partner")

    page.get_by_label("New email").fill("alice@new.test")
    page.locator("#email-current-password").fill("wrong")
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_text("That is not your current password.")).to_be_visible()
    screenshot("account-email-refused")
    page.locator("#email-current-password").fill(PASSWORD)
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_text("Your email is changed")).to_be_visible()

    section = page.locator("#account-password")
    section.get_by_label("Current password").fill(PASSWORD)
    section.get_by_label("New password", exact=True).fill("another-long-passphrase-2026")
    section.get_by_label("New password, again").fill("another-long-passphrase-2026")
    section.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    screenshot("account")
    cast.alice.refresh_from_db()
    assert cast.alice.email == "alice@new.test"
    assert cast.alice.check_password("another-long-passphrase-2026")
