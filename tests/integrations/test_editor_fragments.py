"""The editor page's kept fragments (portal/fragments.py, integrations/views/editor_page.py):
the form, the Testing panel and the summary are rendered once per configuration and served
again without building the form or checking the configuration; any change to what they
show renders them anew, and they never hold a request's CSRF token or nonce."""

from __future__ import annotations

import re

import pytest

from integrations import actions
from integrations.views import editor_page
from portal import fragments
from tests.integrations.forms import form_values


@pytest.fixture
def built(monkeypatch):
    """How many times the page built its form and its Testing panel."""
    counts = {"form": 0, "panel": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(editor_page, "editor_form", counting("form", editor_page.editor_form))
    monkeypatch.setattr(editor_page, "testing_panel", counting("panel", editor_page.testing_panel))
    fragments.forget_fragments()
    yield counts
    fragments.forget_fragments()


def page(client, draft) -> str:
    response = client.get(f"/portal/integrations/{draft.pk}/configure")
    assert response.status_code == 200
    return response.content.decode()


def without_tokens(html: str) -> str:
    html = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+', r"\1", html)
    html = re.sub(r'(data-csrf=")[^"]+', r"\1", html)
    return re.sub(r'(nonce=")[^"]+', r"\1", html)


def test_a_second_view_serves_the_kept_fragments_without_building_them(alice, draft, built):
    first = page(alice, draft)
    assert (built["form"], built["panel"]) == (1, 1)

    second = page(alice, draft)
    assert (built["form"], built["panel"]) == (1, 1)
    assert without_tokens(second) == without_tokens(first)
    assert form_values(second).keys() == form_values(first).keys()
    assert 'id="testing-body"' in second and 'class="req"' in second


def test_a_saved_change_renders_the_page_anew(alice, cast, draft, built):
    before = page(alice, draft)
    state = form_values(before)
    edited = next(key for key in state if key.endswith(".display_name"))
    manifest = dict(draft.config)
    manifest["custom_fields"] = [
        dict(field, display_name="Renamed In A Save") if index == 0 else field
        for index, field in enumerate(manifest["custom_fields"])
    ]
    actions.integration_save(
        acting_user=cast.alice,
        integration=draft,
        manifest=manifest,
        base_revision=draft.revision,
        autosave=False,
        note="",
    )
    after = page(alice, draft)
    assert (built["form"], built["panel"]) == (2, 2)
    assert form_values(after)[edited] == "Renamed In A Save"
    assert "Renamed In A Save" not in before


def test_renaming_the_draft_renders_the_connect_modal_anew(alice, draft, built):
    page(alice, draft)
    draft.display_name = "Acme Renamed"
    draft.save(update_fields=["display_name"])
    assert "Connect to Acme Renamed" in page(alice, draft)
    assert built["panel"] == 2


def test_kept_fragments_hold_no_csrf_token_or_nonce(alice, cast, client_for, draft, built):
    mine = page(alice, draft)
    theirs = page(client_for(cast.alice), draft)  # another session of the same partner
    assert built["form"] == 1
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', mine + theirs))
    assert len(tokens) == 2
    for kept in fragments._kept.values():
        assert "csrfmiddlewaretoken" not in kept and "nonce=" not in kept
        assert not any(token in kept for token in tokens)
