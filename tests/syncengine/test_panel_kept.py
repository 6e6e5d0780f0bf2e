"""The test page keeps what it works out of a configuration (syncengine/panel_config.py) and
its rendered Connect-modal fields (portal/fragments.py) per process: what it shows changes
as soon as the configuration, the logo or the test settings do, and no secret is kept."""

from __future__ import annotations

import copy

from django.utils import timezone

from integrations import actions as integration_actions
from portal import fragments
from syncengine import actions
from syncengine.models import TestRun
from tests.integrations.conftest import png_bytes
from tests.syncengine.conftest import BASE, TOKEN, list_manifest, make_draft, save_settings

ACCOUNT = {"variable": "account", "display_name": "Account", "type": "string"}


def with_account(**changes) -> dict:
    manifest = list_manifest(BASE)
    manifest["custom_fields"].append(ACCOUNT | changes)
    return manifest


def page(client, draft) -> str:
    response = client.get(f"/portal/integrations/{draft.pk}/test/")
    assert response.status_code == 200
    return response.content.decode()


def save(cast, draft, manifest: dict) -> None:
    integration_actions.integration_save(
        acting_user=cast.alice, integration=draft, manifest=copy.deepcopy(manifest)
    )


def test_an_edited_configuration_shows_at_once(cast, client_for):
    draft = make_draft(cast, with_account())
    save_settings(cast, draft, values={"bearer_token": TOKEN, "account": "acme-1"})
    client = client_for(cast.alice)
    assert 'value="acme-1"' in page(client, draft)
    assert page(client, draft).count(">Account <code") == 1  # the kept fields, unchanged

    save(cast, draft, with_account(display_name="Account ID"))
    html = page(client, draft)
    assert ">Account ID <code" in html and 'value="acme-1"' in html

    # The same value, now a secret: shown masked, never again in the page.
    save(cast, draft, with_account(display_name="Account ID", secret=True))
    html = page(client, draft)
    assert "acme-1" not in html
    assert 'name="values.account" type="password"' in html

    # A configuration with an error: the page says so and the run buttons are off.
    broken = with_account()
    broken["endpoints"]["create_list"]["url"] = "$missing_variable"
    save(cast, draft, broken)
    html = page(client, draft)
    assert "in the configuration before testing." in html
    assert 'value="full" disabled' in html


def test_saved_settings_show_at_once(cast, client_for):
    draft = make_draft(cast, with_account())
    client = client_for(cast.alice)
    save_settings(cast, draft, values={"bearer_token": TOKEN, "region": "us", "account": "a"})
    assert '<option value="us" selected>' in page(client, draft)

    save_settings(cast, draft, values={"bearer_token": TOKEN, "region": "eu", "account": "b"})
    html = page(client, draft)
    assert '<option value="eu" selected>' in html and '<option value="us" selected>' not in html
    assert 'name="values.account" type="text" autocomplete="off" spellcheck="false"' in html
    assert 'value="b"' in html and 'value="a"' not in html


def test_no_secret_is_kept_with_the_fields(cast, client_for):
    fragments.forget_fragments()
    draft = make_draft(cast, with_account())
    save_settings(cast, draft, values={"bearer_token": TOKEN, "account": "acme-1"})
    html = page(client_for(cast.alice), draft)
    assert TOKEN not in html
    assert "Saved ••••••, leave blank to keep" in html
    kept = [str(html) for html in fragments._kept.values()]
    assert any('value="acme-1"' in html for html in kept)
    assert not any(TOKEN in html or "csrfmiddlewaretoken" in html for html in kept)


def test_a_new_logo_makes_the_passing_test_stale_at_once(cast, client_for):
    draft = make_draft(cast, list_manifest(BASE))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    TestRun.objects.filter(pk=run.pk).update(status="passed", finished_at=timezone.now())
    client = client_for(cast.alice)
    assert "Ready to submit." in page(client, draft)

    integration_actions.integration_set_logo(
        acting_user=cast.alice, integration=draft, data=png_bytes()
    )
    html = page(client, draft)
    assert "Ready to submit." not in html and "Configuration changed." in html

    integration_actions.integration_set_logo(acting_user=cast.alice, integration=draft, data=None)
    assert "Ready to submit." in page(client, draft)
