from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "syncengine" / "core" / "fixtures"


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
def alice(cast, client_for):
    """alice's signed-in browser client."""
    return client_for(cast.alice)


@pytest.fixture
def draft(cast):
    """A draft of Acme imported from the acme_list manifest."""
    from integrations import actions

    return actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest("acme_list")
    )
