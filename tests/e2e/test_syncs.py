"""Syncing a cohort in a real browser: alice connects the demo destination (approved, in
every organisation's catalogue) to her project, adds a sync of a demo cohort, presses
**Sync now** and watches the run finish with the right counts; she changes the cohort by
uploading a CSV, syncs again and sees only the delta; the delivery log shows each batch's
request, token masked. A real Celery worker runs the syncs against the demo partner on
loopback, whose list must equal the cohort after each run."""

from __future__ import annotations

from playwright.sync_api import expect

from demo_partner import DEMO_TOKEN
from integrations import actions as integration_actions
from portal import actions as portal_actions
from reviews import decisions, submissions
from syncengine import actions as testing_actions
from syncengine import testruns
from syncengine.demo import DEMO_LIST_DRAFT, demo_partner_manifest
from syncs.models import CohortSync, Connection
from tests.e2e.conftest import ARTIFACTS

LIVE = 30_000  # ms: a sync goes through the broker and a worker
FIRST_MEMBERS = 30


def demo_destination(cast, partner_url: str) -> None:
    """The demo list draft, pointed at this test's demo partner, tested, submitted and
    approved: the tile every organisation sees."""
    draft = integration_actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=demo_partner_manifest("list", partner_url)
    )
    testing_actions.test_settings_save(
        acting_user=cast.alice,
        integration=draft,
        project_id=cast.acme_project.public_id,
        api_key=cast.acme_project.api_key,
        values={"bearer_token": DEMO_TOKEN},
        mapping={"user_id_field": "user_id"},
        users_source="generated",
        users_count=5,
    )
    run = testing_actions.test_run_start(acting_user=cast.alice, integration=draft, enqueue=False)
    assert testruns.execute_test_run(run.pk).status == "passed"
    version = submissions.integration_submit(acting_user=cast.alice, integration=draft)
    decisions.review_approve(acting_user=cast.rita, version=version)


def user_ids(numbers) -> set[str]:
    return {f"user-{n:04d}" for n in numbers}


def shoot(page, name: str) -> None:
    """What the person sees, under tests/e2e/artifacts/ (the README shows copies of these,
    in docs/screenshots/)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def sync_now_and_wait(page, sync_id: int):
    page.get_by_role("button", name="Sync now").click()
    live = page.locator(f"#sync-{sync_id}-live")
    expect(live).to_have_attribute("data-status", "succeeded", timeout=LIVE)
    return live


def test_alice_connects_the_demo_destination_syncs_a_cohort_and_then_only_the_delta(
    cast, celery_worker, live_server, page, sign_in, partner, tmp_path
):
    demo_destination(cast, partner.url)
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Power users"
    )
    portal_actions.cohort_members_replace(
        acting_user=cast.alice,
        cohort=cohort,
        members=[{"user_id": user_id} for user_id in sorted(user_ids(range(FIRST_MEMBERS)))],
    )

    # The catalogue: the demo destination's tile, by the partner that built it.
    sign_in(cast.alice)
    page.get_by_role("link", name="Destinations").click()
    tile = page.locator(".dest-catalog-tile", has_text=DEMO_LIST_DRAFT)
    expect(tile).to_contain_text("by Acme Audiences")
    # The tiles show before the page's deferred script has run; until it has, Connect leads
    # to the form's own page (test_connect_before_the_page_script_ran_opens_the_connect_page).
    page.wait_for_load_state("domcontentloaded")

    # Connect, from the keyboard: the dialog opens on its first field, Escape closes it and
    # gives the focus back to the tile; the token is required.
    connect = tile.get_by_role("link", name="Connect")
    connect.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Connect to {DEMO_LIST_DRAFT}")
    expect(dialog).to_be_visible()
    name = dialog.get_by_label("Connection name")
    expect(name).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(connect).to_be_focused()
    page.keyboard.press("Enter")
    expect(name).to_be_focused()
    name.fill("Demo Partner for the web app")
    token = dialog.get_by_label("API token")
    expect(token).to_have_attribute("required", "")
    expect(token).to_have_attribute("type", "password")
    token.fill(DEMO_TOKEN)
    dialog.get_by_label("User ID").select_option("user_id")
    shoot(page, "sync-connect")
    dialog.get_by_role("button", name="Connect").click()

    # The connection's page: add a sync of the cohort, manual only.
    expect(page.get_by_role("heading", name="Demo Partner for the web app")).to_be_visible()
    expect(page.get_by_text("No cohort syncs yet")).to_be_visible()
    assert DEMO_TOKEN not in page.content()
    page.get_by_label("Cohort", exact=True).select_option(label="Power users (30 members)")
    page.get_by_label("Manual only").check()
    page.get_by_role("button", name="Add sync").click()
    expect(page.get_by_role("heading", name="Power users")).to_be_visible()
    sync = CohortSync.objects.get()
    expect(page.locator(f"#sync-{sync.pk}-state")).to_have_text("Manual")

    # Sync now: the live box follows the run until it has sent the whole cohort.
    live = sync_now_and_wait(page, sync.pk)
    expect(live.locator('[data-count="entered"]')).to_have_text("30")
    expect(live.locator('[data-count="left"]')).to_have_text("0")
    expect(live.locator('[data-count="sent"]')).to_have_text("30")
    expect(live.locator('[data-count="failed"]')).to_have_text("0")
    expect(page.locator("[data-delivered]")).to_have_text("30 members")
    expect(page.locator(".sync-run-row")).to_have_count(1)
    sync.refresh_from_db()
    assert partner.state.members_of(sync.list_id) == user_ids(range(FIRST_MEMBERS))
    shoot(page, "sync-first-run")

    # The cohort changes: a CSV without users 0-4 and with five new ones.
    changed = user_ids(range(5, FIRST_MEMBERS + 5))
    csv = tmp_path / "power-users.csv"
    csv.write_text("user_id\n" + "\n".join(sorted(changed)) + "\n")
    page.goto(f"{live_server.url}/cohorts/{cohort.public_id}/")
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Upload CSV").click()
    expect(page.locator('[data-import-status="succeeded"]')).to_be_visible(timeout=LIVE)

    # Sync again: only who entered and who left.
    page.goto(f"{live_server.url}/syncs/{sync.pk}/")
    live = sync_now_and_wait(page, sync.pk)
    expect(live.locator('[data-count="entered"]')).to_have_text("5")
    expect(live.locator('[data-count="left"]')).to_have_text("5")
    expect(live.locator('[data-count="sent"]')).to_have_text("10")
    expect(page.locator(".sync-run-row")).to_have_count(2)
    expect(page.locator(".sync-run-row").first.locator('[data-count="sent"]')).to_have_text("10")
    expect(page.locator(".sync-run-row").last.locator('[data-count="sent"]')).to_have_text("30")
    assert partner.state.members_of(sync.list_id) == changed
    shoot(page, "sync-delta-run")

    # The delivery log of that run: its batches, and the request as sent, token masked.
    page.locator(".sync-run-row").first.get_by_role("link").click()
    batches = page.locator("details.sync-batch")
    expect(batches).to_have_count(2)
    expect(batches.first).to_contain_text("add_users")
    expect(batches.last).to_contain_text("remove_users")
    batches.first.locator("summary").click()
    exchange = batches.first.locator("details.tst-exchange")
    expect(exchange).to_have_count(1, timeout=LIVE)
    exchange.locator("summary").click()
    inspector = exchange.locator(".tst-inspector")
    expect(inspector).to_contain_text("Bearer ••••••", timeout=LIVE)
    expect(inspector).to_contain_text("user-0030")
    expect(inspector).not_to_contain_text(DEMO_TOKEN)
    batches.first.evaluate("node => node.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -100)")  # below the top bar
    shoot(page, "sync-run-log")


def test_connect_before_the_page_script_ran_opens_the_connect_page(
    cast, live_server, page, sign_in, partner
):
    """Connect is a link to the form's own page; the Destinations page's script makes it open
    the dialog instead. Pressed before that script has run, it still leads to the form."""
    demo_destination(cast, partner.url)
    sign_in(cast.alice)
    held = []  # the page's script, held back until Connect was pressed
    page.route("**/js/destinations.js*", lambda route: held.append(route))
    page.goto(f"{live_server.url}/destinations/", wait_until="commit")
    connect = page.locator(".dest-catalog-tile", has_text=DEMO_LIST_DRAFT).get_by_role(
        "link", name="Connect"
    )
    connect.focus()
    assert held, "the page's script was asked for before the tiles were parsed"
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name=f"Connect to {DEMO_LIST_DRAFT}")).to_be_visible()
    assert page.url.endswith("/connect")
    page.get_by_label("Connection name").fill("Demo Partner, connected early")
    page.get_by_label("API token").fill(DEMO_TOKEN)
    page.get_by_label("User ID").select_option("user_id")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="Demo Partner, connected early")).to_be_visible()
    assert Connection.objects.get().name == "Demo Partner, connected early"

    # With the script running, a click asking for another tab still opens the page there.
    page.unroute("**/js/destinations.js*")
    page.goto(f"{live_server.url}/destinations/")
    with page.context.expect_page() as opened:
        connect.click(modifiers=["ControlOrMeta"])
    opened.value.wait_for_load_state()
    expect(
        opened.value.get_by_role("heading", name=f"Connect to {DEMO_LIST_DRAFT}")
    ).to_be_visible()
    expect(page.locator("dialog[open]")).to_have_count(0)
    connect.click()
    expect(page.get_by_role("dialog", name=f"Connect to {DEMO_LIST_DRAFT}")).to_be_visible()
