"""Two-factor sign-in in Chromium: a partner sets up an authenticator app from the account
page (password confirmed first, a QR code, the code it shows), keeps the recovery codes
shown once, and signs in again with one of them."""

from __future__ import annotations

import time

from playwright.sync_api import expect


def test_a_partner_sets_up_two_factor_and_signs_in_with_a_recovery_code(
    page, live_server, transactional_db, sign_in, screenshot
):
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    from tests.conftest import PASSWORD, build_cast
    from tests.signin import lasting

    cast = build_cast()
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/account/")
    page.get_by_role("link", name="Set up an authenticator app").click()

    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Set up an authenticator app")).to_be_visible()
    expect(page.get_by_alt_text("QR code of your authenticator key")).to_be_visible()
    screenshot("two-factor-set-up")
    secret = page.locator("#totp-secret").inner_text()
    code = lasting(lambda: format_hotp_value(hotp_value(secret, int(time.time()) // 30)))
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_text("Save these codes now: they are shown this once.")).to_be_visible()
    codes = page.locator("#recovery-codes").inner_text().split()
    assert len(codes) == 10
    screenshot("two-factor-recovery-codes")
    page.get_by_role("link", name="Done").click()
    expect(page.locator("#account-two-factor")).to_contain_text("On")

    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{live_server.url}/signin/")
    page.get_by_label("Email").fill(cast.alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard/")
