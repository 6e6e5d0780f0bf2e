"""Demo data of the testing side: two drafts already pointed at the demo partner with their
test settings filled in, so that a new partner runs a passing test within the first
minute (a step of `portal.demo`)."""

from __future__ import annotations

import base64
import io
import math

from PIL import Image, ImageDraw

from demo_partner import DEMO_TOKEN
from demo_partner import manifests as demo_manifests
from integrations import actions as integration_actions
from integrations.models import Integration
from portal.demo import DEMO_PARTNER_URL, DemoData, demo_step
from syncengine import actions as testing_actions

DEMO_PARTNER_TOKEN = DEMO_TOKEN
DEMO_LIST_DRAFT = "Demo Partner Lists"
DEMO_PROPERTY_DRAFT = "Demo Partner Properties"
DEMO_TEST_USERS = 25


# The demo logos: a rounded tile in the integration type's colour with a ring of dots, a
# small cohort. Drawn at start-up so no binary file is kept in the repository.
DEMO_LOGO_COLOURS = {
    "list": ((37, 99, 235), (14, 165, 233)),
    "property": ((124, 58, 237), (236, 72, 153)),
}
DEMO_LOGO_SIZE = 256


def demo_logo_png(integration_type: str) -> bytes:
    """A 256 px PNG logo for a demo draft, drawn with Pillow."""
    top, bottom = DEMO_LOGO_COLOURS[integration_type]
    size = DEMO_LOGO_SIZE
    gradient = Image.new("RGB", (size, size))
    pixels = gradient.load()
    if pixels is None:  # Pillow has no pixel access only for images without data
        raise ValueError("a new image has no pixels to draw on")
    for y in range(size):
        share = y / (size - 1)
        colour = tuple(round(a + (b - a) * share) for a, b in zip(top, bottom, strict=True))
        for x in range(size):
            pixels[x, y] = colour
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=56, fill=255)
    logo = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    logo.paste(gradient, (0, 0), mask)
    draw = ImageDraw.Draw(logo)
    centre, ring = size / 2, size * 0.28
    for step in range(8):
        angle = step * math.tau / 8
        dot_x, dot_y = centre + ring * math.cos(angle), centre + ring * math.sin(angle)
        draw.ellipse((dot_x - 17, dot_y - 17, dot_x + 17, dot_y + 17), fill=(255, 255, 255, 235))
    draw.ellipse((centre - 30, centre - 30, centre + 30, centre + 30), fill=(255, 255, 255, 255))
    out = io.BytesIO()
    logo.save(out, format="PNG")
    return out.getvalue()


def demo_partner_manifest(integration_type: str, base: str = DEMO_PARTNER_URL) -> dict:
    """A draft for the demo partner's list API (list) or property API (property)."""
    name = DEMO_LIST_DRAFT if integration_type == "list" else DEMO_PROPERTY_DRAFT
    manifest = demo_manifests.guided_manifest(base, integration_type, name=name)
    manifest["logo_png_base64"] = base64.b64encode(demo_logo_png(integration_type)).decode()
    return manifest


@demo_step
def demo_drafts(data: DemoData) -> None:
    """The two demo-partner drafts with their test settings, unless they exist already."""
    alice, acme, project = data.built["alice"], data.built["acme"], data.built["project"]
    partner_url = data.partner_url
    for integration_type in ("list", "property"):
        manifest = demo_partner_manifest(integration_type, partner_url)
        if Integration.objects.filter(display_name__iexact=manifest["display_name"]).exists():
            continue
        draft = integration_actions.integration_import(
            acting_user=alice, org=acme, manifest=manifest
        )
        testing_actions.test_settings_save(
            acting_user=alice,
            integration=draft,
            project_id=project.public_id,
            api_key=project.api_key,
            values={"bearer_token": DEMO_PARTNER_TOKEN},
            mapping={"user_id_field": "user_id"},
            users_source="generated",
            users_count=DEMO_TEST_USERS,
        )
