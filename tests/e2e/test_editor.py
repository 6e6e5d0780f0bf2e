"""The Developer Portal in a real browser: a partner builds a list-based and a
property-based integration from scratch, watches the Testing Integration panel follow
every keystroke, copies a curl command, reloads and finds everything saved; a partner of
another organisation gets a 404."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS
from tests.integrations.conftest import png_bytes

LIVE = 10_000  # ms: how long a live update may take before the test gives up


def field(page, path: str):
    """The editor input (or section) for a manifest path."""
    return page.locator(f'[id="f-{path}"]')


def viewport_shot(page, name: str, *, scroll_to: str | None = None) -> None:
    """A screenshot of what the partner sees (the editor's panels are sticky, so a
    full-page capture would not show the page as it looks)."""
    ARTIFACTS.mkdir(exist_ok=True)
    if scroll_to:
        page.locator(f'[id="{scroll_to}"]').evaluate("node => node.scrollIntoView()")
        page.evaluate("window.scrollBy(0, -64)")
    else:
        page.evaluate("window.scrollTo(0, 0)")
        page.evaluate("document.getElementById('testing-body').scrollTop = 0")
    page.wait_for_timeout(400)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def auth_method(page, label: str):
    return page.get_by_role("radio", name=re.compile(f"^{label}"))


def wait_saved(page) -> None:
    expect(page.locator("#save-state")).to_have_attribute("data-state", "saved", timeout=LIVE)
    expect(page.locator("#save-state")).to_contain_text("Saved", timeout=LIVE)


def create_tile(page, live_server, tmp_path, *, name: str, kind: str, screenshot=None):
    page.goto(f"{live_server.url}/portal/")
    page.get_by_role("link", name="Add new destination").click()
    expect(page.get_by_role("heading", name="Add a new destination")).to_be_visible()
    page.get_by_label("Display name").fill(name)
    expect(page.locator("#name-status")).to_contain_text("is available", timeout=LIVE)
    expect(page.locator("[data-tile-name]")).to_have_text(name)
    logo = tmp_path / f"{kind}.png"
    logo.write_bytes(png_bytes(200, 200, color=(255, 90, 30, 255)))
    page.locator("#id_logo").set_input_files(str(logo))
    expect(page.locator("#logo-result")).to_contain_text("200×200 px PNG", timeout=LIVE)
    expect(page.locator("#tile-logo-slot img")).to_have_attribute(
        "src", re.compile("^data:image/png")
    )
    page.get_by_label("List-based" if kind == "list" else "Property-based").check()
    if screenshot:
        screenshot("part1-tile")
    page.get_by_role("button", name="Create and continue").click()
    page.get_by_role("button", name="Start blank").click()
    expect(page.get_by_role("heading", name="Testing Integration")).to_be_visible()


def test_list_based_integration_from_scratch(
    page, live_server, transactional_db, sign_in, screenshot, tmp_path, console
):
    from tests.conftest import build_cast

    cast = build_cast()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(cast.alice)
    page.goto(f"{live_server.url}/portal/")
    expect(page.get_by_role("heading", name="Build your first cohort integration")).to_be_visible()
    screenshot("portal-home-empty")

    # A display name that is taken is refused as it is typed.
    from integrations import actions

    actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Taken Name", integration_type="list"
    )
    page.goto(f"{live_server.url}/portal/new")
    page.get_by_label("Display name").fill("taken name")
    expect(page.locator("#name-status")).to_contain_text("already the name", timeout=LIVE)
    expect(page.get_by_label("Display name")).to_have_attribute("aria-invalid", "true")
    # A JPEG is refused at once, with the server's reason, and nothing is kept.
    jpeg = tmp_path / "logo.png"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"0" * 200)
    page.locator("#id_logo").set_input_files(str(jpeg))
    expect(page.locator("#logo-result")).to_contain_text("a JPEG image", timeout=LIVE)
    expect(page.locator("#id_logo")).to_have_value("")

    create_tile(
        page, live_server, tmp_path, name="Acme Audiences", kind="list", screenshot=screenshot
    )
    editor_url = page.url

    # Bearer auth: switching away removes its field, switching back brings it again.
    auth_method(page, "No authentication").check()
    expect(field(page, "custom_fields.0.variable")).to_have_count(0, timeout=LIVE)
    auth_method(page, "Bearer token").check()
    expect(field(page, "custom_fields.0.variable")).to_have_value("bearer_token", timeout=LIVE)
    expect(page.locator("#modal-custom-0")).to_have_attribute("type", "password", timeout=LIVE)
    # Walking the methods with the arrow keys loses nothing: coming back to bearer brings
    # its field back as it was left.
    field(page, "custom_fields.0.display_name").fill("API token")
    auth_method(page, "Bearer token").focus()
    page.keyboard.press("ArrowUp")
    expect(field(page, "custom_fields.0.variable")).to_have_value("api_key", timeout=LIVE)
    page.keyboard.press("ArrowDown")
    expect(field(page, "custom_fields.0.variable")).to_have_value("bearer_token", timeout=LIVE)
    expect(field(page, "custom_fields.0.display_name")).to_have_value("API token")
    expect(auth_method(page, "Bearer token")).to_be_focused()

    # A single-select custom field: the Connect modal shows it as it is typed.
    page.get_by_role("button", name="Add custom field").click()
    field(page, "custom_fields.1.variable").fill("region")
    field(page, "custom_fields.1.display_name").fill("Region")
    field(page, "custom_fields.1.type").select_option("single_select")
    field(page, "custom_fields.1.options.0.value").fill("us")
    field(page, "custom_fields.1.options.0.label").fill("US")
    field(page, "custom_fields.1").get_by_role("button", name="Add option").click()
    field(page, "custom_fields.1.options.1.value").fill("eu")
    field(page, "custom_fields.1.options.1.label").fill("EU")
    modal = page.locator("#tp-modal")
    expect(modal.get_by_label("Region")).to_be_visible(timeout=LIVE)
    expect(page.locator("#modal-custom-1 option")).to_have_text(
        ["Select…", "US", "EU"], timeout=LIVE
    )
    tracker = page.locator("#tp-tracker")
    expect(tracker.locator('tr[data-variable="region"]')).to_contain_text("Not used", timeout=LIVE)
    # Rows reorder with the keyboard-reachable arrows; the modal follows.
    field(page, "custom_fields.1.options.1").get_by_role("button", name="Move option up").click()
    expect(field(page, "custom_fields.1.options.0.value")).to_have_value("eu")
    expect(page.locator("#modal-custom-1 option")).to_have_text(
        ["Select…", "EU", "US"], timeout=LIVE
    )
    field(page, "custom_fields.1.options.0").get_by_role("button", name="Move option down").click()
    expect(field(page, "custom_fields.1.options.0.value")).to_have_value("us")

    # A mapping field, with the common properties one click away.
    page.get_by_role("button", name="Add mapping field").click()
    field(page, "mapping_fields.0.variable").fill("user_id_field_amplitude")
    field(page, "mapping_fields.0.display_name").fill("User ID")
    field(page, "mapping_fields.0").get_by_role("button", name="+ email").click()
    expect(page.locator("#modal-mapping-0 option")).to_have_count(2, timeout=LIVE)
    expect(modal).to_contain_text("Match users by")

    # The three endpoints.
    field(page, "endpoints.create_list.url").fill("https://api.acme.test/$region/lists")
    field(page, "endpoints.create_list.payload").fill('{"name": "$cohort_name"}')
    field(page, "endpoints.create_list.list_id_path").fill("data.id")
    for name, verb in (("add_users", "add"), ("remove_users", "remove")):
        field(page, f"endpoints.{name}.url").fill(
            f"https://api.acme.test/$region/lists/$list_id/{verb}"
        )
        field(page, f"endpoints.{name}.item_template").fill('"$user_id_field_amplitude"')

    # Extra headers: added, then one removed again.
    create_list = field(page, "endpoints.create_list")
    create_list.get_by_role("button", name="Add header").click()
    field(page, "endpoints.create_list.headers.0.name").fill("X-Api-Version")
    field(page, "endpoints.create_list.headers.0.value").fill("2")
    create_list.get_by_role("button", name="Add header").click()
    field(page, "endpoints.create_list.headers.1.name").fill("X-Trace")
    field(page, "endpoints.create_list.headers.0").get_by_role(
        "button", name="Remove header"
    ).click()
    expect(field(page, "endpoints.create_list.headers.0.name")).to_have_value("X-Trace")
    field(page, "endpoints.create_list.headers.0.value").fill("on")
    expect(page.locator("#tp-req-create_list .req-headers")).to_contain_text(
        "X-Trace", timeout=LIVE
    )

    # Error classifications, copied from one endpoint to another.
    create_list.get_by_role("button", name="Add classification").click()
    field(page, "endpoints.create_list.errors.0.status").fill("401")
    field(page, "endpoints.create_list.errors.0.reason").fill("Unauthorized")
    field(page, "endpoints.create_list.errors.0.message").fill("Check your token")
    remove_users = field(page, "endpoints.remove_users")
    remove_users.get_by_label("Copy from").select_option("create_list")
    remove_users.get_by_role("button", name="Copy", exact=True).click()
    expect(field(page, "endpoints.remove_users.errors.0.status")).to_have_value("401")
    expect(field(page, "endpoints.remove_users.errors.0.message")).to_have_value("Check your token")

    # `$` completes the variables that have a value here.
    payload = field(page, "endpoints.add_users.payload")
    payload.fill("")
    payload.press_sequentially('{"userIds": $it')
    completions = page.locator("#var-completions")
    expect(completions).to_be_visible()
    expect(completions.get_by_role("option").first).to_contain_text("$items")
    payload.press("Enter")
    payload.press_sequentially("}")
    expect(payload).to_have_value('{"userIds": $items}')
    field(page, "endpoints.remove_users.payload").fill('{"userIds": $items}')

    # The rendered requests follow: mock users in the batch, the region in the URL.
    add_request = page.locator("#tp-req-add_users")
    expect(add_request.locator(".req-body")).to_contain_text('"alice-1"', timeout=LIVE)
    expect(add_request.locator(".req-url")).to_contain_text(
        "https://api.acme.test/us/lists/sample-list-id-123/add"
    )
    expect(tracker.locator('tr[data-variable="region"]')).to_contain_text("Create list URL")
    expect(page.locator("#problem-summary")).to_contain_text("No problems found", timeout=LIVE)

    # An undeclared variable is flagged everywhere, with a link to the field, then fixed.
    url = field(page, "endpoints.create_list.url")
    url.fill("https://api.acme.test/$regoin/lists")
    flagged = tracker.locator('tr[data-variable="regoin"]')
    expect(flagged).to_contain_text("Not declared", timeout=LIVE)
    expect(page.locator("#problem-summary")).to_contain_text("Did you mean $region?")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(url).to_be_focused()
    flagged.get_by_role("link", name="Create list URL").click()
    expect(url).to_be_focused()
    url.fill("https://api.acme.test/$region/lists")
    expect(flagged).to_have_count(0, timeout=LIVE)
    expect(url).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#problem-summary")).to_contain_text("No problems found")

    # Copy the curl command of the list creation call.
    create_request = page.locator("#tp-req-create_list")
    create_request.get_by_role("button", name="Copy curl").click()
    expect(create_request.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("curl -X POST https://api.acme.test/us/lists")
    assert "Authorization: Bearer ••••••" in copied

    wait_saved(page)

    # Reload: everything is still there.
    page.goto(editor_url)
    expect(field(page, "custom_fields.0.variable")).to_have_value("bearer_token")
    expect(field(page, "custom_fields.1.variable")).to_have_value("region")
    expect(field(page, "custom_fields.1.options.1.label")).to_have_value("EU")
    expect(field(page, "mapping_fields.0.options.1")).to_have_value("email")
    expect(field(page, "endpoints.create_list.list_id_path")).to_have_value("data.id")
    expect(field(page, "endpoints.add_users.payload")).to_have_value('{"userIds": $items}')
    expect(field(page, "endpoints.create_list.headers.0.value")).to_have_value("on")
    expect(field(page, "endpoints.remove_users.errors.0.reason")).to_have_value("Unauthorized")
    expect(page.locator("#tp-req-remove_users .req-body")).to_contain_text('"alice-1"')
    expect(page.locator("#problem-summary")).to_contain_text("No problems found")
    viewport_shot(page, "part2-configuration")
    field(page, "endpoints.add_users.item_template").focus()
    viewport_shot(page, "part2-endpoints", scroll_to="f-endpoints.add_users")

    assert console.unexpected == []

    # Someone saves the draft elsewhere: the next autosave is refused, nothing is
    # overwritten, and the page says how to get the latest version. The browser logs the
    # refused save (409) itself.
    console.expect("status of 409")
    from integrations.manifests import manifest_of
    from integrations.models import Integration

    stored = Integration.objects.get(display_name="Acme Audiences")
    elsewhere = manifest_of(stored)
    elsewhere["slugify_cohort_name"] = not elsewhere.get("slugify_cohort_name", False)
    actions.integration_save(
        acting_user=cast.alice, integration=stored, manifest=elsewhere, note="Elsewhere"
    )
    field(page, "endpoints.create_list.list_id_path").fill("data.list.id")
    expect(page.locator("#save-conflict")).to_be_visible(timeout=LIVE)
    expect(page.locator("#save-state")).to_have_attribute("data-state", "conflict")
    stored.refresh_from_db()
    assert stored.config["endpoints"]["create_list"]["list_id_path"] == "data.id"


def test_property_based_integration_and_the_home_page(
    page, live_server, transactional_db, sign_in, screenshot, tmp_path
):
    from integrations import actions
    from tests.conftest import build_cast
    from tests.integrations.conftest import fixture_manifest

    cast = build_cast()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    for name in ("jsonapi_list", "no_auth_minimal"):
        actions.integration_import(
            acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest(name)
        )
    sign_in(cast.alice)
    create_tile(page, live_server, tmp_path, name="Tagger CRM", kind="property")
    editor_url = page.url
    expect(page.locator("#tp-requests")).to_contain_text("Update users endpoint")

    # Basic auth declares an API key and an optional secret.
    auth_method(page, "Basic authentication").check()
    expect(field(page, "custom_fields.0.variable")).to_have_value("api_key", timeout=LIVE)
    expect(field(page, "custom_fields.1.variable")).to_have_value("secret_key")

    # A button-group custom field with a default, and a string mapping field.
    page.get_by_role("button", name="Add custom field").click()
    field(page, "custom_fields.2.variable").fill("env")
    field(page, "custom_fields.2.display_name").fill("Environment")
    field(page, "custom_fields.2.type").select_option("button_group")
    field(page, "custom_fields.2.options.0.value").fill("live")
    field(page, "custom_fields.2").get_by_role("button", name="Add option").click()
    field(page, "custom_fields.2.options.1.value").fill("sandbox")
    field(page, "custom_fields.2.options.1").get_by_label("Default").check()
    modal = page.locator("#tp-modal")
    expect(modal.get_by_role("radio", name="sandbox")).to_be_checked(timeout=LIVE)
    page.get_by_role("button", name="Add mapping field").click()
    field(page, "mapping_fields.0.variable").fill("user_key")
    field(page, "mapping_fields.0.display_name").fill("User key")
    field(page, "mapping_fields.0.type").select_option("string")
    expect(modal.get_by_label("User key")).to_have_attribute("type", "text", timeout=LIVE)

    endpoint = "endpoints.update_users"
    field(page, f"{endpoint}.method").select_option("PATCH")
    field(page, f"{endpoint}.url").fill("https://$env.tagger.test/v2/contacts")
    field(page, f"{endpoint}.payload").fill('{"cohort": "$cohort_id", "contacts": $items}')
    item = field(page, f"{endpoint}.item_template")
    item.fill('{"key": "$user_key", "tag": "$cohort_nme", "in": $in_cohort}')

    # The typo is underlined at its line and column, and the tracker says why.
    flagged = page.locator('#tp-tracker tr[data-variable="cohort_nme"]')
    expect(flagged).to_contain_text("Not declared", timeout=LIVE)
    expect(page.locator(".code-overlay .mk-error")).to_have_text("$cohort_nme")
    expect(item.locator("xpath=ancestor::div[contains(@class,'fld')]")).to_contain_text(
        "Line 1, column 30"
    )
    item.fill('{"key": "$user_key", "tag": "$cohort_name", "in": $in_cohort}')
    expect(flagged).to_have_count(0, timeout=LIVE)
    body = page.locator("#tp-req-update_users .req-body")
    expect(body).to_contain_text('"in": true', timeout=LIVE)
    expect(page.locator("#tp-req-update_users .req-url")).to_contain_text(
        "https://sandbox.tagger.test/v2/contacts"
    )

    # An error classification, copied nowhere (one endpoint) but kept.
    field(page, endpoint).get_by_role("button", name="Add classification").click()
    field(page, f"{endpoint}.errors.0.status").fill("422")
    field(page, f"{endpoint}.errors.0.reason").fill("Unknown contact")
    field(page, f"{endpoint}.errors.0.action").select_option("ignore")
    page.locator("#tp-req-update_users").get_by_role("button", name="Copy curl").click()
    assert "--data-raw" in page.evaluate("navigator.clipboard.readText()")
    wait_saved(page)

    page.goto(editor_url)
    expect(field(page, "custom_fields.1.variable")).to_have_value("secret_key")
    expect(field(page, "custom_fields.2.options.1.value")).to_have_value("sandbox")
    expect(field(page, "custom_fields.2.options.1").get_by_label("Default")).to_be_checked()
    expect(field(page, "mapping_fields.0.type")).to_have_value("string")
    expect(field(page, f"{endpoint}.method")).to_have_value("PATCH")
    expect(field(page, f"{endpoint}.errors.0.action")).to_have_value("ignore")
    expect(item).to_have_value('{"key": "$user_key", "tag": "$cohort_name", "in": $in_cohort}')

    # An unsaved edit is saved before the draft is duplicated.
    field(page, "custom_fields.2.display_name").fill("Environment (live or sandbox)")
    page.locator("summary", has_text="More").click()
    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", name="Tagger CRM (copy)")).to_be_visible(timeout=LIVE)
    expect(field(page, "custom_fields.2.display_name")).to_have_value(
        "Environment (live or sandbox)"
    )

    # The tile page of a draft: its type is fixed.
    page.get_by_role("link", name="Tile").first.click()
    expect(page.get_by_label("Property-based")).to_be_disabled()

    # Home: the copy is deleted from its card, after a confirmation.
    page.goto(f"{live_server.url}/portal/")
    cards = page.locator(".ig-card")
    expect(cards).to_have_count(4)
    copy = cards.filter(has_text="Tagger CRM (copy)")
    copy.locator("summary").click()
    page.once("dialog", lambda dialog: dialog.accept())
    copy.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("“Tagger CRM (copy)” was deleted.")).to_be_visible()
    expect(cards).to_have_count(3)
    expect(cards.first).to_contain_text("Tagger CRM")
    expect(cards.first).to_contain_text("Property-based")
    screenshot("portal-home")
    page.get_by_label("Search integrations by name").fill("klav")
    expect(cards).to_have_count(1, timeout=LIVE)
    expect(cards.first).to_contain_text("Klaviyo-style Lists")


def test_another_orgs_partner_gets_a_404(page, live_server, transactional_db, sign_in, console):
    from integrations import actions
    from portal import actions as portal_actions
    from portal.flags import DEVELOPER_PORTAL
    from tests.conftest import build_cast

    cast = build_cast()
    draft = actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Acme Secret", integration_type="list"
    )
    portal_actions.flag_set(
        acting_user=cast.adam, org=cast.globex, flag=DEVELOPER_PORTAL, enabled=True
    )
    sign_in(cast.bob)
    # The browser logs each 404 it is answered.
    console.expect("status of 404")
    for suffix in ("configure", "tile", "history", "manifest.json"):
        response = page.goto(f"{live_server.url}/portal/integrations/{draft.pk}/{suffix}")
        assert response.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    page.goto(f"{live_server.url}/portal/")
    expect(page.get_by_text("Acme Secret")).to_have_count(0)


def test_a_name_typed_before_the_page_scripts_ran_is_checked_once_they_run(
    page, live_server, transactional_db, sign_in
):
    """A fast typist (or the browser's autofill) may fill the name while the page's
    deferred scripts are still loading: the check runs as soon as they have."""
    from tests.conftest import build_cast

    cast = build_cast()
    sign_in(cast.alice)
    held = []  # htmx, held back until the name is typed
    page.route("**/htmx-2.min.js*", lambda route: held.append(route))
    page.goto(f"{live_server.url}/portal/new", wait_until="commit")
    page.get_by_label("Display name").fill("Early Bird Lists")
    assert held, "htmx was asked for before the field was parsed"
    expect(page.locator("#name-status")).to_be_empty()
    for route in held:
        route.continue_()
    expect(page.locator("#name-status")).to_contain_text("is available")
    expect(page.locator("[data-tile-name]")).to_have_text("Early Bird Lists")
