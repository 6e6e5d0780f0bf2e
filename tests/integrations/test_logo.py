"""Logos: PNG only, checked before decoding; every refusal says why and stores nothing."""

import io

import pytest
from PIL import Image, PngImagePlugin

from integrations.logo import LogoError, process_logo
from tests.integrations.conftest import png_bytes


def test_a_png_is_reencoded_without_metadata_and_gets_a_tile():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret designer")
    logo = process_logo(png_bytes(300, 150, pnginfo=info))
    assert logo.width == 300 and logo.height == 150
    assert b"secret designer" not in logo.png
    tile = Image.open(io.BytesIO(logo.tile_png))
    assert tile.size == (128, 128)
    assert process_logo(logo.png).png == logo.png  # our own output round-trips exactly


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, "This file is a JPEG image, not a PNG"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "This file is an EPS/PostScript file, not a PNG"),
        (b"GIF89a" + b"\0" * 20, "This file is a GIF image, not a PNG"),
        (png_bytes()[:300], "damaged or truncated"),
        (png_bytes(32, 32), "must be at least 64×64 px"),
        (png_bytes(4096, 64), "the largest allowed is 2048×2048 px"),
        (png_bytes(30_000, 30_000, mode="1"), "the largest allowed is 2048×2048 px"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (1024 * 1024), "the limit is 1 MB"),
    ],
)
def test_bad_logos_are_refused_with_a_reason(data, message):
    with pytest.raises(LogoError, match=message):
        process_logo(data)
