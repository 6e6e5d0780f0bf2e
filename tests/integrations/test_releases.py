"""Releasing a draft internally: a private tile on the partner's own Destinations page at
once, without review; refused while the configuration has errors."""

from __future__ import annotations

import pytest

from integrations import actions, releases
from integrations.models import IntegrationStatus
from portal.errors import ActionError


def test_release_internally_shows_a_private_tile_at_once(cast, draft, alice_api, api_for):
    version = releases.integration_release(acting_user=cast.alice, integration=draft)
    assert (version.kind, version.state) == ("internal", "internal")
    draft.refresh_from_db()
    assert draft.status == IntegrationStatus.RELEASED
    tiles = alice_api.get("/api/v1/destinations/").json()["results"]
    assert [(t["display_name"], t["channel"]) for t in tiles] == [(draft.display_name, "internal")]
    assert api_for(cast.bob, cast.globex).get("/api/v1/destinations/").json()["count"] == 0


def test_an_invalid_configuration_cannot_be_released(cast):
    integration = actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Half done", integration_type="list"
    )
    with pytest.raises(ActionError, match="Fix the configuration before you release"):
        releases.integration_release(acting_user=cast.alice, integration=integration)
    assert not integration.versions.exists()
