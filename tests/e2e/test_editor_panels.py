"""The editor's first minutes at a laptop's size (1440×900): the Testing Integration
panel opens at its top and its header stays below the top bar wherever the page is
scrolled."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
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
