"""The editor's first minutes at a laptop's size (1440×900): the Testing Integration
panel opens at its top and its header stays below the top bar wherever the page is
scrolled; Ctrl+S (or Cmd+S) asks for a revision name and answers in a toast that stays in
the window, and says "No changes to save" rather than adding an empty revision; a mapping
field can be a group of buttons, from the editor to a connection made with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_editor import LIVE
from tests.waiting import wait_until

DEMO_LISTS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "demo-partner-lists.json"
LAPTOP = {"width": 1440, "height": 900}


def demo_manifest(**endpoint_changes: dict) -> dict:
    manifest = json.loads(DEMO_LISTS.read_text())
    for endpoint, changes in endpoint_changes.items():
        manifest["endpoints"][endpoint].update(changes)
    return manifest


def open_editor(page, live_server, sign_in, manifest: dict):
    from integrations import actions
    from tests.conftest import build_cast

    cast = build_cast()
    draft = actions.integration_import(acting_user=cast.alice, org=cast.acme, manifest=manifest)
    page.set_viewport_size(LAPTOP)
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/configure")
    expect(page.get_by_role("heading", name="Testing Integration")).to_be_visible()
    return cast, draft


def window_shot(page, name: str) -> Path:
    """What the window shows (the panels are sticky: a full-page capture would not)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def boxes(page) -> dict:
    return page.evaluate(
        """() => ({
          bar: document.querySelector('.topbar').getBoundingClientRect().bottom,
          head: document.querySelector('.testing-head').getBoundingClientRect().top,
          panelBottom: document.querySelector('.testing').getBoundingClientRect().bottom,
          scrollTop: document.getElementById('testing-body').scrollTop,
        })"""
    )


def test_the_testing_panel_opens_at_its_top_below_the_top_bar(
    page, live_server, transactional_db, sign_in
):
    # A problem in the last endpoint: the page opens with the cursor in that field (far
    # down the form), which is not the partner choosing to look at that request.
    open_editor(
        page,
        live_server,
        sign_in,
        demo_manifest(remove_users={"payload": '{"users": $items'}),
    )
    expect(page.locator("#f-endpoints\\.remove_users\\.payload")).to_be_focused()
    opened = boxes(page)
    window_shot(page, "editor-panel-open")
    assert opened["scrollTop"] == 0
    assert opened["head"] >= opened["bar"]

    # At the very bottom of the page the panel's header is still below the top bar, and
    # the whole panel is in the window.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    wait_until(
        lambda: page.evaluate(
            "() => Math.ceil(scrollY + innerHeight) >= document.documentElement.scrollHeight"
        ),
        5,
        "the page did not reach its bottom",
    )
    bottom = boxes(page)
    window_shot(page, "editor-panel-page-bottom")
    assert bottom["head"] >= bottom["bar"], bottom
    assert bottom["panelBottom"] <= LAPTOP["height"]

    # Moving to another section still brings its request into view.
    page.locator("#f-endpoints\\.create_list\\.url").focus()
    request = page.locator("#tp-req-create_list")
    wait_until(
        lambda: page.evaluate("() => document.getElementById('testing-body').scrollTop > 0"),
        5,
        "the panel did not follow the focus to create_list",
    )
    expect(request).to_be_in_viewport()


def test_ctrl_s_asks_for_a_name_and_answers_where_the_partner_looks(
    page, live_server, transactional_db, sign_in
):
    _, draft = open_editor(page, live_server, sign_in, demo_manifest())
    toast = page.locator("#save-toast")
    dialog = page.get_by_role("dialog", name="Save a revision")
    expect(toast).to_have_attribute("aria-live", "polite")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")

    # Nothing changed since the import: no name is asked, no revision is added.
    page.keyboard.press("Control+s")
    expect(toast).to_have_text("No changes to save: revision 1 is up to date.")
    expect(toast).to_be_in_viewport()
    expect(dialog).to_be_hidden()
    assert draft.revisions.count() == 1

    # A change: Ctrl+S asks for a name; Escape leaves without saving a named revision and
    # puts the cursor back.
    rate = page.locator("#f-delivery\\.requests_per_second")
    rate.fill("5")
    page.keyboard.press("Control+s")
    expect(dialog).to_be_visible()
    expect(toast).to_be_hidden()
    name = dialog.get_by_label("Revision name")
    expect(name).to_be_focused()
    name.fill("Not this one")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(rate).to_be_focused()
    assert not draft.revisions.filter(note="Not this one").exists()

    # Cmd+S (a Mac) asks the same; Enter saves under the name, and the answer shows in
    # the window although the page is scrolled to its bottom.
    page.keyboard.press("Meta+s")
    expect(name).to_be_focused()
    name.fill("Five per second")
    window_shot(page, "editor-ctrl-s-name")
    name.press("Enter")
    expect(toast).to_have_text("Saved revision 2 “Five per second”", timeout=LIVE)
    expect(toast).to_be_visible()
    expect(toast).to_be_in_viewport()
    expect(rate).to_be_focused()
    window_shot(page, "editor-ctrl-s-saved")
    assert list(draft.revisions.values_list("number", "note").order_by("number")) == [
        (1, "Imported"),
        (2, "Five per second"),
    ]
    assert draft.revisions.get(number=2).config["delivery"]["requests_per_second"] == 5

    # Saving again with nothing new adds no empty revision.
    page.keyboard.press("Control+s")
    expect(toast).to_have_text("No changes to save: revision 2 is up to date.")
    expect(dialog).to_be_hidden()
    assert draft.revisions.count() == 2


def test_a_mapping_field_as_a_button_group_from_editor_to_connection(
    page, live_server, transactional_db, sign_in
):
    from integrations.releases import integration_release
    from syncs.models import Connection

    cast, draft = open_editor(page, live_server, sign_in, demo_manifest())

    # The editor offers the type; the properties stay, and the Connect modal preview
    # shows them as buttons at once.
    field_type = page.locator("#f-mapping_fields\\.0\\.type")
    expect(field_type.locator("option")).to_have_text(["String", "Single select", "Button group"])
    field_type.select_option("button_group")
    expect(page.locator("#f-mapping_fields\\.0\\.options")).to_be_visible()
    preview = page.locator("#tp-modal").get_by_role("group", name="User ID")
    expect(preview.get_by_role("radio", name="user_id")).to_be_checked(timeout=LIVE)
    expect(preview.get_by_role("radio")).to_have_count(4)
    expect(preview.locator("select")).to_have_count(0)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved", timeout=LIVE)
    page.locator("#f-mapping_fields").evaluate("node => node.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -120)")
    expect(preview).to_be_in_viewport()
    window_shot(page, "editor-mapping-button-group")
    draft.refresh_from_db()
    assert draft.config["mapping_fields"][0]["type"] == "button_group"
    assert draft.config["mapping_fields"][0]["options"][:2] == ["user_id", "email"]

    # Released, its Connect dialog has the buttons, usable with the keyboard.
    integration_release(acting_user=cast.alice, integration=draft)
    page.goto(f"{live_server.url}/destinations/")
    page.locator(".dest-catalog-tile", has_text=draft.display_name).get_by_role(
        "link", name="Connect"
    ).click()
    dialog = page.get_by_role("dialog", name=f"Connect to {draft.display_name}")
    group = dialog.get_by_role("group", name="User ID")
    first = group.get_by_role("radio", name="user_id")
    expect(first).to_be_checked()
    first.focus()
    page.keyboard.press("ArrowRight")
    email = group.get_by_role("radio", name="email")
    expect(email).to_be_checked()
    expect(email).to_be_focused()
    dialog.get_by_label("API token").fill("demo-token")
    window_shot(page, "connect-mapping-button-group")
    dialog.get_by_role("button", name="Connect").click()
    expect(page).to_have_url(re.compile(r"/connections/\d+/$"), timeout=LIVE)
    assert Connection.objects.get().mapping == {"user_id_field": "email"}
