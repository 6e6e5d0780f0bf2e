"""Revisions are kept for changes only: saving a configuration that is the same as the
stored one records nothing (action, editor and API alike); *Save a revision* names the
state it saves, and names the autosave that already holds it rather than adding a copy."""

from __future__ import annotations

import copy

from integrations import actions
from integrations.models import Integration, IntegrationRevision
from portal.models import AuditEvent
from tests.integrations.conftest import fixture_manifest
from tests.integrations.forms import state_post
from tests.integrations.test_pages import editor_state, url


def notes(draft: Integration) -> list[tuple[int, str]]:
    return list(draft.revisions.order_by("number").values_list("number", "note"))


def saved_events(draft: Integration) -> int:
    return AuditEvent.objects.filter(action="integration.saved", target_id=str(draft.pk)).count()


def test_saving_the_same_configuration_records_no_revision(cast, draft):
    before = Integration.objects.get(pk=draft.pk)
    events = saved_events(draft)

    for autosave in (False, True):
        again = actions.integration_save(
            acting_user=cast.alice,
            integration=draft,
            manifest=fixture_manifest("acme_list"),
            base_revision=draft.revision,
            autosave=autosave,
        )
        assert again.revision == 1

    assert notes(draft) == [(1, "Imported")]
    assert saved_events(draft) == events
    fresh = Integration.objects.get(pk=draft.pk)
    assert (fresh.updated_at, fresh.config) == (before.updated_at, before.config)


def test_a_named_save_adds_a_revision_only_for_a_change(cast, draft):
    changed = copy.deepcopy(fixture_manifest("acme_list"))
    changed["endpoints"]["create_list"]["list_id_path"] = "list.id"

    integration, revision = actions.integration_save_named(
        acting_user=cast.alice, integration=draft, manifest=changed, name="Before OAuth"
    )
    assert revision is not None and (revision.number, revision.note) == (2, "Before OAuth")
    assert integration.revision == 2

    integration, revision = actions.integration_save_named(
        acting_user=cast.alice, integration=draft, manifest=changed, name="Again"
    )
    assert revision is None and integration.revision == 2
    assert notes(draft) == [(1, "Imported"), (2, "Before OAuth")]


def test_a_named_save_with_nothing_new_names_the_autosave(cast, draft):
    changed = copy.deepcopy(fixture_manifest("acme_list"))
    changed["endpoints"]["create_list"]["list_id_path"] = "list.id"
    actions.integration_save(
        acting_user=cast.alice, integration=draft, manifest=changed, autosave=True
    )
    assert notes(draft) == [(1, "Imported"), (2, "Autosave")]

    _, revision = actions.integration_save_named(
        acting_user=cast.alice, integration=draft, manifest=changed, name="Lists work"
    )

    assert revision is not None and revision.number == 2
    assert notes(draft) == [(1, "Imported"), (2, "Lists work")]
    assert AuditEvent.objects.filter(action="integration.revision_named").count() == 1
    # The named revision is kept as it is: the next autosave is a revision of its own.
    changed["endpoints"]["create_list"]["list_id_path"] = "data.id"
    actions.integration_save(
        acting_user=cast.alice, integration=draft, manifest=changed, autosave=True
    )
    assert notes(draft) == [(1, "Imported"), (2, "Lists work"), (3, "Autosave")]
    assert (
        IntegrationRevision.objects.get(integration=draft, number=2).config["endpoints"][
            "create_list"
        ]["list_id_path"]
        == "list.id"
    )


def test_the_editor_says_when_there_was_nothing_to_save(alice, draft):
    state = editor_state(alice, draft)
    page = alice.get(url(draft, "configure")).content.decode()
    assert 'data-autosaved="false"' in page

    nothing = alice.post(
        url(draft, "save"),
        state_post(state, base_revision=draft.revision, note="Nothing new"),
        HTTP_ACCEPT="application/json",
    ).json()
    assert nothing["saved"] is False and nothing["revision"] == 1
    assert nothing["message"] == "No changes to save: revision 1 is up to date."
    assert notes(draft) == [(1, "Imported")]

    state["endpoints.create_list.list_id_path"] = "list.id"
    auto = alice.post(
        url(draft, "save"),
        state_post(state, base_revision=1, autosave="1"),
        HTTP_ACCEPT="application/json",
    ).json()
    assert auto["autosaved"] is True
    assert 'data-autosaved="true"' in alice.get(url(draft, "configure")).content.decode()

    named = alice.post(
        url(draft, "save"),
        state_post(state, base_revision=2, note="  Lists   work "),
        HTTP_ACCEPT="application/json",
    ).json()
    assert named["saved"] is True and named["autosaved"] is False
    assert named["message"] == "Saved revision 2 “Lists work”"
    assert notes(draft) == [(1, "Imported"), (2, "Lists work")]

    # Without JavaScript the page comes back with the same words.
    response = alice.post(url(draft, "save"), {**state, "base_revision": 2}, follow=True)
    assert "No changes to save" in response.content.decode()
    assert notes(draft) == [(1, "Imported"), (2, "Lists work")]


def test_the_api_records_no_revision_for_the_same_manifest(alice_api, draft):
    manifest_url = f"/api/v1/integrations/{draft.pk}/manifest"
    exported = alice_api.get(manifest_url).json()

    again = alice_api.put(manifest_url, exported, format="json")
    assert again.status_code == 200 and again.json()["revision"] == 1
    renamed = alice_api.patch(
        f"/api/v1/integrations/{draft.pk}/", {"display_name": draft.display_name}, format="json"
    )
    assert renamed.status_code == 200 and renamed.json()["revision"] == 1
    assert notes(draft) == [(1, "Imported")]

    exported["endpoints"]["create_list"]["list_id_path"] = "list.id"
    changed = alice_api.put(manifest_url, exported, format="json")
    assert changed.json()["revision"] == 2
    assert notes(draft) == [(1, "Imported"), (2, "Imported manifest")]
