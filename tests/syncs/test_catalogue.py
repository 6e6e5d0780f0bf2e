"""The Destinations catalogue: an approved destination is in every organisation's catalogue,
an internal release only in its own; a partner's approved and internal tiles are one tile
with a version badge; platform admins hide, show and roll back, audited; a hidden or
another org's internal destination is a 404 (its Connect form, its logo)."""

from __future__ import annotations

import base64

import pytest

from integrations import releases
from integrations.models import Destination
from portal.errors import ActionError
from portal.models import AuditEvent
from tests.integrations.conftest import png_bytes
from tests.syncengine.conftest import BASE, list_manifest
from tests.syncs.builders import approved, released


@pytest.fixture
def live(cast, start_partner):
    """Acme's approved destination (v1), in everyone's catalogue."""
    return approved(cast, start_partner().url)


def names(api, org_name: str = "") -> list[tuple[str, str]]:
    tiles = api.get("/api/v1/destinations/").json()["results"]
    return [(t["display_name"], t["channel"]) for t in tiles]


def test_an_approved_destination_is_in_every_catalogue_an_internal_one_only_in_its_own(
    cast, live, api_for, client_for
):
    internal = released(cast, list_manifest(BASE, name="Acme Private"))
    bob = api_for(cast.bob, cast.globex)
    assert names(bob) == [("Catalogue Lists", "approved")]
    tile = bob.get("/api/v1/destinations/").json()["results"][0]
    assert tile["partner"] == "Acme Audiences" and tile["version_number"] == 1
    assert tile["connect_fields"]["custom_fields"][0]["variable"] == "bearer_token"
    # Globex's page shows the tile with its Connect form; never Acme's internal release.
    page = client_for(cast.bob).get("/destinations/").content.decode()
    assert "Catalogue Lists" in page and "Acme Private" not in page
    assert f'action="/destinations/{live.pk}/connect"' in page
    assert client_for(cast.bob).get(f"/destinations/{internal.pk}/connect").status_code == 404
    assert sorted(names(api_for(cast.alice, cast.acme))) == [
        ("Acme Private", "internal"),
        ("Catalogue Lists", "approved"),
    ]


def test_the_partners_approved_and_internal_releases_are_one_tile_with_a_version_badge(
    cast, live, client_for
):
    releases.integration_release(acting_user=cast.alice, integration=live.integration)
    internal = live.integration.destinations.get(channel="internal")
    page = client_for(cast.alice).get("/destinations/").content.decode()
    assert page.count('class="dest-tile dest-catalog-tile"') == 1
    assert "v1 · internal v2" in page
    # Its Connect form offers both versions; choosing the internal one loads its form.
    assert f'hx-get="/destinations/{internal.pk}/connect"' in page
    form = client_for(cast.alice).get(
        f"/destinations/{internal.pk}/connect", HTTP_HX_REQUEST="true"
    )
    assert form.status_code == 200
    assert f'id="connect-form-{internal.pk}"' in form.content.decode()
    # Globex sees the approved version alone.
    globex = client_for(cast.bob).get("/destinations/").content.decode()
    assert "internal v2" not in globex and ">v1<" in globex


def test_logos_load_for_every_org_that_sees_the_tile(cast, live, client_for):
    from integrations import actions as integration_actions
    from integrations.manifests import manifest_of

    manifest = manifest_of(live.integration)
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    private = integration_actions.integration_import(
        acting_user=cast.alice,
        org=cast.acme,
        manifest=manifest | {"display_name": "Private Logo"},
    )
    releases.integration_release(acting_user=cast.alice, integration=private)
    private_tile = private.destinations.get()
    bob = client_for(cast.bob)
    logo = bob.get(f"/destinations/{live.pk}/logo")
    assert logo.status_code == 200 and logo["Content-Type"] == "image/png"
    assert bob.get(f"/destinations/{private_tile.pk}/logo").status_code == 404
    assert client_for(cast.alice).get(f"/destinations/{private_tile.pk}/logo").status_code == 200


def test_platform_admins_hide_and_show_a_destination_and_it_is_audited(
    cast, live, api_for, client_for
):
    adam = api_for(cast.adam, None)
    hidden = adam.post(
        f"/api/v1/destinations/{live.pk}/visibility", {"hidden": True}, format="json"
    )
    assert hidden.status_code == 200 and hidden.json()["hidden"] is True
    assert names(api_for(cast.bob, cast.globex)) == []
    assert names(api_for(cast.alice, cast.acme)) == []
    bob = client_for(cast.bob)
    assert bob.get(f"/destinations/{live.pk}/connect").status_code == 404
    assert bob.get(f"/destinations/{live.pk}/logo").status_code == 404
    # Hiding twice is refused and changes nothing.
    again = adam.post(f"/api/v1/destinations/{live.pk}/visibility", {"hidden": True}, format="json")
    assert again.status_code == 409
    # The platform page shows it hidden, and shows it again.
    page = client_for(cast.adam).get("/platform/destinations/").content.decode()
    assert "Hidden" in page and ">Show</button>" in page
    shown = client_for(cast.adam).post(
        f"/platform/destinations/{live.pk}/visibility", {"hidden": "false"}
    )
    assert shown.status_code == 302
    assert names(api_for(cast.bob, cast.globex)) == [("Catalogue Lists", "approved")]
    assert list(
        AuditEvent.objects.filter(target_id=str(live.pk), action__startswith="destination.")
        .order_by("id")
        .values_list("action", "actor__email")
    ) == [
        ("destination.hidden", "adam@platform.test"),
        ("destination.shown", "adam@platform.test"),
    ]


def test_only_platform_admins_hide_and_only_approved_destinations(cast, live, api_for):
    with pytest.raises(ActionError, match="Only platform admins") as refused:
        releases.destination_hide(acting_user=cast.rita, destination=live, hidden=True)
    assert refused.value.status == 403
    rita = api_for(cast.rita, None).post(
        f"/api/v1/destinations/{live.pk}/visibility", {"hidden": True}, format="json"
    )
    assert rita.status_code == 403
    internal = released(cast, list_manifest(BASE, name="Acme Private"))
    with pytest.raises(ActionError, match="Only approved destinations") as internal_refused:
        releases.destination_hide(acting_user=cast.adam, destination=internal, hidden=True)
    assert internal_refused.value.status == 409
    bad = api_for(cast.adam, None).post(
        f"/api/v1/destinations/{live.pk}/visibility", {"hidden": "maybe"}, format="json"
    )
    assert bad.status_code == 400 and "hidden" in bad.json()["error"]["fields"]
    assert not Destination.objects.filter(hidden=True).exists()


def test_a_plain_member_sees_the_catalogue_but_cannot_connect(cast, live, client_for):
    alan = client_for(cast.alan)
    page = alan.get("/destinations/").content.decode()
    assert "Catalogue Lists" in page
    assert "connecting a destination and syncing cohorts is for your organisation" in page
    assert "<dialog" not in page and 'name="values.bearer_token"' not in page
    assert alan.get(f"/destinations/{live.pk}/connect").status_code == 403
    refused = alan.post(f"/destinations/{live.pk}/connect", {"name": "Mine"})
    assert refused.status_code == 403
