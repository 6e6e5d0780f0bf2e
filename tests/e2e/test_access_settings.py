"""Access in a real browser: the platform setting that grants the Developer Portal to new
organisations, declining a request with a reason (asked for, confirmed, read by the
requester), and turning a flag off only after confirming."""

from playwright.sync_api import expect


def _cast():
    from tests.conftest import build_cast

    return build_cast()


def test_new_organisations_get_the_portal_when_the_setting_is_on(
    page, live_server, transactional_db, sign_in, screenshot
):
    from portal.models import AuditEvent, Organization
    from tests.conftest import PASSWORD
    from tests.signin import deliver_mails, link_in

    cast = _cast()
    sign_in(cast.adam)
    page.get_by_label("Grant the Developer Portal to new organisations automatically").check()
    page.locator("#new-orgs").get_by_role("button", name="Save").click()
    expect(
        page.get_by_text("New organisations get the Developer Portal at sign-up.")
    ).to_be_visible()
    screenshot("access-platform-setting")

    page.context.clear_cookies()
    page.goto(f"{live_server.url}/signup/")
    page.get_by_label("Your name").fill("Dana")
    page.get_by_label("Email").fill("dana@initech.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Organisation name").fill("Initech")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    [message] = deliver_mails()
    page.goto(link_in(message, "/accounts/confirm-email/"))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("link", name="Developer Portal", exact=True)).to_be_visible()
    initech = Organization.objects.get(name="Initech")
    assert AuditEvent.objects.filter(org=initech, action="flag.enabled", actor=None).exists()


def test_decline_asks_for_a_reason_and_confirms_and_the_requester_reads_it(
    page, live_server, transactional_db, sign_in, screenshot, console
):
    from portal import actions
    from portal.flags import DEVELOPER_PORTAL
    from portal.models import AccessRequest

    cast = _cast()
    actions.access_request_create(
        acting_user=cast.bob, org=cast.globex, flag=DEVELOPER_PORTAL, message="We send email."
    )
    dialogs: list[str] = []

    sign_in(cast.adam)
    page.goto(f"{live_server.url}/platform/access-requests/")
    expect(page.get_by_role("cell", name="Developer Portal", exact=True)).to_be_visible()
    page.get_by_text("Decline…").click()
    decline = page.get_by_role("button", name="Decline request")
    # Without a reason nothing is sent: the field says what is missing.
    decline.click()
    expect(page.get_by_text("Give the reason for declining")).to_be_visible()
    assert AccessRequest.objects.get().status == "pending"

    page.get_by_label("Reason for Globex Analytics").fill("We open the portal to ESPs first.")
    # Dismissing the confirmation changes nothing...
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    decline.click()
    expect(page.get_by_label("Reason for Globex Analytics")).to_be_visible()
    assert AccessRequest.objects.get().status == "pending"
    screenshot("access-decline-reason")
    # ...accepting it declines.
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    decline.click()
    expect(page.get_by_text("Globex Analytics: Developer Portal request declined.")).to_be_visible()
    question = (
        "Decline the Developer Portal request of Globex Analytics? They are emailed your reason."
    )
    assert dialogs == [question, question]
    assert AccessRequest.objects.get().decline_reason == "We open the portal to ESPs first."

    page.context.clear_cookies()
    sign_in(cast.bob)
    page.get_by_role("link", name="Org settings").click()
    expect(page.locator("#declined-request")).to_contain_text("We open the portal to ESPs first.")
    expect(page.get_by_role("button", name="Request access")).to_be_visible()
    screenshot("access-declined-requester")


def test_turning_a_flag_off_needs_confirmation(
    page, live_server, transactional_db, sign_in, screenshot
):
    cast = _cast()
    sign_in(cast.adam)
    turn_off = page.get_by_role("button", name="Turn Developer Portal off for Acme Audiences")
    page.once("dialog", lambda dialog: dialog.dismiss())
    turn_off.click()
    expect(turn_off).to_be_visible()
    assert cast.acme.flag_enabled("developer_portal")
    page.once("dialog", lambda dialog: dialog.accept())
    turn_off.click()
    expect(page.get_by_text("Developer Portal turned off for Acme Audiences.")).to_be_visible()
    cast.acme.forget_flags()  # this instance remembers what it read before the click
    assert not cast.acme.flag_enabled("developer_portal")
    screenshot("access-flag-off")
