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
