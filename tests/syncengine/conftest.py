"""Fixtures for the testing side: drafts pointed at loopback partners, saved test settings.

Drafts, settings and runs are built through the action functions; partners are real HTTP
servers on loopback (the shared fixtures of tests/partners.py, or pytest-httpserver).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from demo_partner import manifests as demo_manifests

TOKEN = "demo-token"
# A partner address nothing is ever sent to: for drafts whose tests never run.
BASE = "https://api.partner.example"


REGION = {
    "variable": "region",
    "display_name": "Region",
    "type": "single_select",
    "options": [{"value": "us", "label": "US"}, {"value": "eu", "label": "EU"}],
}


def list_manifest(base: str, *, name: str = "Loopback Lists", batch_size: int = 10_000) -> dict:
    """The demo partner's list API, with a region select sent as a header of create_list."""
    manifest = demo_manifests.list_manifest(base, name=name, batch_size=batch_size)
    manifest["custom_fields"].append(dict(REGION))
    manifest["endpoints"]["create_list"]["headers"] = {"X-Region": "$region"}
    return manifest


def property_manifest(base: str, *, name: str = "Loopback Properties") -> dict:
    manifest = demo_manifests.property_manifest(base, name=name, batch_size=4)
    # $region is used nowhere in a property manifest: kept for the Connect modal only.
    manifest["custom_fields"].append(dict(REGION))
    return manifest


def with_endpoint(manifest: dict, endpoint: str, **changes: Any) -> dict:
    changed = copy.deepcopy(manifest)
    changed["endpoints"][endpoint].update(changes)
    return changed


def make_draft(cast, manifest: dict, *, org=None, user=None):
    from integrations import actions as integration_actions

    return integration_actions.integration_import(
        acting_user=user or cast.alice, org=org or cast.acme, manifest=manifest
    )


def save_settings(cast, integration, *, user=None, project=None, **changes: Any):
    """Test settings through the action: the org's project and key, the demo token."""
    from syncengine import actions

    project = project or cast.acme_project
    arguments: dict[str, Any] = {
        "project_id": project.public_id,
        "api_key": project.api_key,
        "values": {"bearer_token": TOKEN},
        "mapping": {"user_id_field": "user_id"},
        "users_source": "generated",
        "users_count": 10,
    }
    arguments.update(changes)
    return actions.test_settings_save(
        acting_user=user or cast.alice, integration=integration, **arguments
    )


@pytest.fixture
def draft(cast):
    """A draft of Acme for the demo partner's list API, at an address never called."""
    return make_draft(cast, list_manifest(BASE))


@pytest.fixture
def fast_retries(settings):
    """Retries wait milliseconds instead of seconds; Retry-After is still honoured."""
    settings.RETRY_BASE_DELAY_SECONDS = 0.01
    return settings


@pytest.fixture
def short_limits(settings):
    """Hostile partners are cut within a second or two instead of a minute."""
    settings.OUTBOUND_CLIENT_OPTIONS = {"read_timeout": 1.0, "deadline": 1.5}
    return settings
