"""A mapping field shown as a group of buttons: the Destinations page's Connect form and a
connection's edit page offer its user properties as radio inputs (one checked), and the
choice is stored like a select's; a property that is not offered is refused by name."""

from __future__ import annotations

import re

import pytest

from integrations.editor.modal import connect_modal
from syncs.models import Connection
from tests.syncengine.conftest import BASE, list_manifest
from tests.syncs.builders import released
from tests.syncs.test_sync_pages import SECRET, connect_form


@pytest.fixture
def destination(cast):
    manifest = list_manifest(BASE)
    manifest["mapping_fields"][0]["type"] = "button_group"
    return released(cast, manifest)


def radios(page: str, name: str) -> list[tuple[str, bool]]:
    found = re.findall(
        rf'<input type="radio" name="{re.escape(name)}" value="([^"]+)" ?(checked)?', page
    )
    return [(value, bool(checked)) for value, checked in found]


def test_the_connect_modal_preview_offers_the_properties_as_buttons(destination):
    (mapping,) = connect_modal(destination.version.config)["mappings"]
    assert mapping["type"] == "button_group"
    assert [value for value, _ in mapping["options"]] == [
        "user_id",
        "email",
        "amplitude_id",
        "device_id",
    ]


def test_connecting_with_a_property_chosen_among_buttons(cast, client_for, destination):
    alice = client_for(cast.alice)
    page = alice.get("/destinations/").content.decode()
    assert radios(page, "mapping.user_id_field") == [
        ("user_id", True),
        ("email", False),
        ("amplitude_id", False),
        ("device_id", False),
    ]
    assert '<select id="c' not in page.split("Match users by")[1].split("</form>")[0]

    refused = alice.post(
        f"/destinations/{destination.pk}/connect",
        connect_form(cast, **{"mapping.user_id_field": "phone"}),
    )
    assert refused.status_code == 400
    assert "User ID must be one of user_id, email, amplitude_id, device_id." in (
        refused.content.decode()
    )
    assert not Connection.objects.exists()

    done = alice.post(
        f"/destinations/{destination.pk}/connect",
        connect_form(cast, **{"mapping.user_id_field": "email"}),
    )
    assert done.status_code == 302
    connection = Connection.objects.get()
    assert connection.mapping == {"user_id_field": "email"}
    assert connection.values["bearer_token"] == SECRET

    # The connection's edit page shows the choice checked, and changes it.
    edit = alice.get(f"/connections/{connection.pk}/edit").content.decode()
    assert ("email", True) in radios(edit, "mapping.user_id_field")
    saved = alice.post(
        f"/connections/{connection.pk}/edit",
        {
            "name": "Acme lists",
            "values.bearer_token": "",
            "values.region": "eu",
            "mapping.user_id_field": "device_id",
        },
    )
    assert saved.status_code == 302
    connection.refresh_from_db()
    assert connection.mapping == {"user_id_field": "device_id"}
