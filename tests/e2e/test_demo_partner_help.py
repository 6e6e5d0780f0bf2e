"""The demo partner explains itself on the test page, and a list id read from the wrong
place is diagnosed with the path where an id was found and a link to the field."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.syncengine.conftest import list_manifest, make_draft, save_settings, with_endpoint

LIVE = 20_000


def test_a_misplaced_list_id_points_at_where_the_id_is(
    cast, celery_worker, live_server, page, sign_in, screenshot, partner, settings
):
    settings.DEMO_PARTNER_URL = partner.url
    manifest = with_endpoint(
        list_manifest(partner.url, name="Misread Lists", batch_size=10),
        "create_list",
        list_id_path="listId",
    )
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=5)
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/test/")

    api = page.locator(f"#tst-{draft.pk}-demo-api")
    expect(api).to_have_attribute("open", "")
    expect(api).to_contain_text("POST /v1/lists")
    expect(api).to_contain_text("The new list's id comes back at data.id")
    screenshot("testing-demo-partner-api")

    page.get_by_role("button", name="Run full test").click()
    diagnosis = page.locator(".tst-run .tst-diagnosis").first
    expect(diagnosis).to_contain_text("List id not found", timeout=LIVE)
    expect(diagnosis).to_contain_text("set list_id_path to data.id")
    link = diagnosis.get_by_role("link", name="Open list_id_path in the configuration")
    expect(link).to_have_attribute(
        "href", f"/portal/integrations/{draft.pk}/configure#f-endpoints.create_list.list_id_path"
    )
    screenshot("testing-list-id-suggestion")
    link.click()
    field = page.locator("#f-endpoints\\.create_list\\.list_id_path")
    expect(field).to_have_value("listId")
    expect(field).to_be_in_viewport()
