from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "core" / "fixtures"


def fixture_manifest(name: str = "acme_list") -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def png_bytes(
    width: int = 256,
    height: int = 256,
    *,
    mode: str = "RGBA",
    color=(30, 90, 220, 255),
    **save_options,
) -> bytes:
    image = Image.new(mode, (width, height), color if mode != "1" else 1)
    out = io.BytesIO()
    image.save(out, format="PNG", **save_options)
    return out.getvalue()


@pytest.fixture
def api_for():
    """`api_for(user, org)`: a DRF client authenticated with a fresh token of that person."""
    from rest_framework.test import APIClient

    from portal import actions

    def make(user, org):
        _, raw = actions.token_create(acting_user=user, org=org, name="tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
        return client

    return make


@pytest.fixture
def alice_api(cast, api_for):
    return api_for(cast.alice, cast.acme)


@pytest.fixture
def submitted_version(cast):
    """A real submission of Acme: a passing test against the demo partner, then submit."""
    import base64

    from demo_partner import DemoPartner
    from integrations import lifecycle
    from syncengine import actions, testruns
    from tests.syncengine.conftest import list_manifest, make_draft, save_settings

    with DemoPartner() as partner:
        manifest = list_manifest(partner.url, name="Loopback Lists")
        manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
        integration = make_draft(cast, manifest)
        save_settings(cast, integration, users_count=5)
        run = actions.test_run_start(acting_user=cast.alice, integration=integration)
        assert testruns.execute_test_run(run.pk).status == "passed"
    return lifecycle.integration_submit(
        acting_user=cast.alice, integration=integration, note="Please review"
    )
