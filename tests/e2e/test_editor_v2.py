"""Manifest version 2 in a real browser: a partner builds Intercom's untag endpoint in the
editor (a DELETE sent once per user, the contact id in the path found by a lookup by
email), watches the Testing Integration panel show the lookup and then one request per
sample user, fixes a mistake the panel points at by line and column, and finds exactly
the cookbook's endpoint saved."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_editor import LIVE, field, wait_saved

INTERCOM = Path(__file__).resolve().parents[2] / "docs" / "cookbook" / "intercom-tags.json"
SEARCH_PAYLOAD = (
    '{"query": {"field": "email", "operator": "IN", "value": $items}, '
    '"pagination": {"per_page": 150}}'
)


def intercom_without_untag() -> dict:
    """The Intercom cookbook manifest with a version-1 remove endpoint still to build."""
    manifest = json.loads(INTERCOM.read_text())
    manifest["endpoints"]["remove_users"] = {
        "method": "POST",
        "url": "https://api.intercom.io/tags",
        "payload": '{"users": $items}',
        "item_template": '{"email": "$email"}',
    }
    return manifest


def test_a_partner_builds_the_intercom_untag_endpoint(
    page, live_server, transactional_db, sign_in, console
):
    from integrations import actions
    from integrations.models import Integration
    from syncengine.core.manifest.normalize import normalize_manifest
    from tests.conftest import build_cast

    cast = build_cast()
    draft = actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=intercom_without_untag()
    )
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/configure")
    section = field(page, "endpoints.remove_users")
    request = page.locator("#tp-req-remove_users")
    expect(request.locator(".req-body")).to_contain_text('"email"')

    # What a missing email does: a default value's input shows only while it is chosen.
    missing = field(page, "mapping_fields.0.if_missing")
    default = field(page, "mapping_fields.0.default")
    expect(missing).to_have_value("skip")
    expect(default).to_be_hidden()
    missing.select_option(label="Send a default value")
    expect(default).to_be_visible()
    missing.select_option(label="Skip the user")
    expect(default).to_be_hidden()

    # One DELETE per user, the contact's Intercom id in the path.
    field(page, "endpoints.remove_users.method").select_option("DELETE")
    mode = field(page, "endpoints.remove_users.mode")
    expect(section.get_by_label("Requests")).to_have_value("batch")
    mode.focus()
    mode.select_option(label="One request per user")
    field(page, "endpoints.remove_users.url").fill(
        "https://api.intercom.io/contacts/$partner_id/tags/$list_id"
    )
    field(page, "endpoints.remove_users.payload").fill("")
    field(page, "endpoints.remove_users.item_template").fill("")
    field(page, "endpoints.remove_users.batch_size").fill("100")
    for row, (name, value) in enumerate(
        (("Intercom-Version", "2.11"), ("Accept", "application/json"))
    ):
        section.get_by_role("button", name="Add header").first.click()
        field(page, f"endpoints.remove_users.headers.{row}.name").fill(name)
        field(page, f"endpoints.remove_users.headers.{row}.value").fill(value)

    # Without a lookup $partner_id has no value: the panel says where, and why.
    tracker = page.locator("#tp-tracker")
    expect(tracker.locator('tr[data-variable="partner_id"] + tr.tr-msg')).to_contain_text(
        "endpoint with a lookup", timeout=LIVE
    )
    expect(field(page, "endpoints.remove_users.url")).to_have_attribute(
        "aria-invalid", "true", timeout=LIVE
    )

    # The lookup: added from the keyboard, started from the draft (its first mapping
    # field as the key, the endpoint's headers), then pointed at Intercom's search.
    add_lookup = section.get_by_role("button", name="Look up partner ids first")
    add_lookup.focus()
    page.keyboard.press("Enter")
    lookup = field(page, "endpoints.remove_users.lookup")
    expect(lookup).to_be_visible(timeout=LIVE)
    expect(add_lookup).to_be_hidden()
    expect(field(page, "endpoints.remove_users.lookup.mode")).to_be_focused()
    expect(field(page, "endpoints.remove_users.lookup.key")).to_have_value("$email")
    expect(field(page, "endpoints.remove_users.lookup.headers.0.value")).to_have_value("2.11")
    field(page, "endpoints.remove_users.lookup.url").fill("https://api.intercom.io/contacts/search")
    lookup_payload = field(page, "endpoints.remove_users.lookup.payload")
    # A typo in the lookup's payload is pointed at on the lookup's own field.
    lookup_payload.fill(SEARCH_PAYLOAD.replace("$items", "$itemz"))
    summary = page.locator("#problem-summary")
    expect(summary).to_contain_text(
        "Remove users › lookup › payload, line 1, column 57", timeout=LIVE
    )
    expect(lookup_payload).to_have_attribute("aria-invalid", "true")
    expect(lookup.locator(".code-overlay .mk-error")).to_have_text("$itemz")
    lookup_payload.fill(SEARCH_PAYLOAD)
    field(page, "endpoints.remove_users.lookup.results_path").fill("data")
    field(page, "endpoints.remove_users.lookup.ignore_case").check()
    expect(field(page, "endpoints.remove_users.lookup.not_found")).to_have_value("skip")

    # A contact already gone from Intercom is nothing to untag.
    errors = page.locator("#errors-remove_users")
    errors.get_by_role("button", name="Add classification").click()
    field(page, "endpoints.remove_users.errors.0.status").fill("404")
    field(page, "endpoints.remove_users.errors.0.action").select_option("ignore")
    field(page, "endpoints.remove_users.errors.0.message").fill(
        "The contact is gone from Intercom: nothing to untag."
    )

    # The panel: the lookup first, then one DELETE per sample user, each with the id the
    # lookup would find in its path and its own curl command.
    expect(summary).to_contain_text("No problems found", timeout=LIVE)
    lookup_request = page.locator("#tp-req-remove_users-lookup")
    expect(lookup_request.locator(".req-url")).to_contain_text(
        "https://api.intercom.io/contacts/search"
    )
    expect(lookup_request.locator(".req-body")).to_contain_text('"alice.1@example.com"')
    users = request.locator(".req-user")
    expect(users).to_have_count(3, timeout=LIVE)
    expect(request).to_contain_text("per user × 3")
    for number in (1, 2, 3):
        user = users.nth(number - 1)
        expect(user.locator(".req-url")).to_have_text(
            "URL: https://api.intercom.io/contacts/sample-partner-id-"
            f"{number}/tags/sample-list-id-123"
        )
        expect(user.locator(".curl-cmd")).to_contain_text(
            f"curl -X DELETE https://api.intercom.io/contacts/sample-partner-id-{number}/"
        )
    expect(request.locator(".req-body")).to_have_count(0)  # a DELETE without a body
    order = page.locator("#tp-requests article.req").evaluate_all(
        "articles => articles.map(a => a.id)"
    )
    assert order.index("tp-req-remove_users-lookup") + 1 == order.index("tp-req-remove_users")
    # The tracker tells where $partner_id now has a value.
    expect(tracker.locator('tr[data-variable="partner_id"]')).not_to_have_class(
        re.compile("tr-error")
    )
    # What the partner sees: the endpoint being built, and its requests in the panel.
    section.evaluate("node => node.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -64)")
    page.locator("#tp-req-remove_users-lookup").evaluate("node => node.scrollIntoView()")
    page.wait_for_timeout(400)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "editor-v2-per-user.png"))
    lookup.evaluate("node => node.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -64)")
    request.evaluate("node => node.scrollIntoView()")
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / "editor-v2-lookup.png"))

    # Saved as the cookbook has it, version 2.
    wait_saved(page)
    saved = Integration.objects.get(pk=draft.pk).config
    cookbook = normalize_manifest(json.loads(INTERCOM.read_text()))
    assert saved["manifest_version"] == 2
    assert saved["endpoints"]["remove_users"] == cookbook["endpoints"]["remove_users"]

    # Reloaded, the editor shows it again, with the lookup open and the choice kept.
    page.reload()
    expect(field(page, "endpoints.remove_users.mode")).to_have_value("per_user")
    expect(field(page, "endpoints.remove_users.lookup.results_path")).to_have_value("data")
    expect(field(page, "endpoints.remove_users.lookup.ignore_case")).to_be_checked()
    expect(page.locator("#tp-req-remove_users .req-user")).to_have_count(3)
    assert console.unexpected == []
