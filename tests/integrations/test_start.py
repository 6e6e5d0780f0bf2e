"""Where a new draft's configuration starts: blank, the demo partner's API, or a manifest."""

from __future__ import annotations

import io
import json

from django.urls import reverse

from integrations import actions
from integrations.manifests import storable_config
from integrations.models import Integration
from portal.models import AuditEvent
from tests.integrations.conftest import fixture_manifest


def _new(alice, name="Acme Sync", kind="list"):
    response = alice.post(
        reverse("integration_new"), {"display_name": name, "integration_type": kind}
    )
    integration = Integration.objects.get(display_name=name)
    return response, integration


def test_creating_a_draft_leads_to_the_choice_of_a_start(alice):
    response, integration = _new(alice)
    assert response.url == reverse("integration_start", args=[integration.pk])
    page = alice.get(response.url).content.decode()
    for choice in ("Start blank", "Start from the demo partner", "Import manifest"):
        assert choice in page
    assert "list API: create a list, add and remove its members" in page
    assert "http://127.0.0.1:8765" in page


def test_blank_opens_the_editor_with_the_skeleton(alice):
    _, integration = _new(alice)
    response = alice.post(reverse("integration_start", args=[integration.pk]), {"start": "blank"})
    assert response.url == reverse("integration_editor", args=[integration.pk])
    integration.refresh_from_db()
    assert integration.revision == 1
    assert integration.config["endpoints"]["create_list"]["url"] == "https://"


def test_the_demo_partner_start_is_its_api_of_the_drafts_type(alice, settings):
    settings.DEMO_PARTNER_URL = "http://127.0.0.1:9999"
    for kind, endpoint, path in (
        ("list", "create_list", "/v1/lists"),
        ("property", "update_users", "/v1/users/properties"),
    ):
        _, integration = _new(alice, name=f"Acme {kind}", kind=kind)
        response = alice.post(
            reverse("integration_start", args=[integration.pk]), {"start": "demo"}, follow=True
        )
        assert f"starts from the demo partner&#39;s {kind} API" in response.content.decode()
        integration.refresh_from_db()
        assert integration.display_name == f"Acme {kind}"
        assert integration.config["endpoints"][endpoint]["url"] == "http://127.0.0.1:9999" + path
        assert integration.config["custom_fields"][0]["help_text"] == (
            "The demo partner accepts demo-token."
        )
        assert integration.revisions.latest("number").note == "Started from the demo partner"
        assert AuditEvent.objects.filter(
            action="integration.saved", target_id=str(integration.pk)
        ).exists()


def test_without_a_demo_partner_the_choice_is_not_offered(alice, settings):
    settings.DEMO_PARTNER_URL = ""
    _, integration = _new(alice)
    url = reverse("integration_start", args=[integration.pk])
    assert "Start from the demo partner" not in alice.get(url).content.decode()
    refused = alice.post(url, {"start": "demo"})
    assert refused.status_code == 400
    assert "runs no demo partner" in refused.content.decode()
    integration.refresh_from_db()
    assert integration.revision == 1


def test_an_imported_manifest_keeps_the_name_and_type_of_part_1(alice):
    _, integration = _new(alice)
    manifest = fixture_manifest()
    upload = io.BytesIO(json.dumps(manifest).encode())
    upload.name = "acme.json"
    response = alice.post(
        reverse("integration_start", args=[integration.pk]), {"start": "import", "file": upload}
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.display_name == "Acme Sync"
    assert integration.config["endpoints"] == storable_config(manifest)[0]["endpoints"]


def test_a_manifest_of_the_other_type_or_not_a_manifest_changes_nothing(alice):
    _, integration = _new(alice, kind="property")
    url = reverse("integration_start", args=[integration.pk])
    upload = io.BytesIO(json.dumps(fixture_manifest()).encode())
    upload.name = "acme.json"
    refused = alice.post(url, {"start": "import", "file": upload})
    assert refused.status_code == 400
    assert "is property-based" in refused.content.decode()
    garbage = io.BytesIO(b"{not json")
    garbage.name = "bad.json"
    refused = alice.post(url, {"start": "import", "file": garbage})
    assert "The file is not a valid manifest" in refused.content.decode()
    missing = alice.post(url, {"start": "import"})
    assert "Choose a manifest file" in missing.content.decode()
    integration.refresh_from_db()
    assert integration.revision == 1


def test_another_orgs_draft_has_no_start_page(cast, client_for):
    theirs = actions.integration_create(
        acting_user=cast.bob, org=cast.globex, display_name="Globex", integration_type="list"
    )
    url = reverse("integration_start", args=[theirs.pk])
    assert client_for(cast.alice).get(url).status_code == 404
    assert client_for(cast.alice).post(url, {"start": "demo"}).status_code == 404
