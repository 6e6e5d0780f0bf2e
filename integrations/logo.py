"""Partner logos: PNG only, checked before decoding, re-encoded without metadata.

Everything is refused with a message the partner can act on; nothing is stored unless the
whole pipeline succeeds.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, PngImagePlugin, UnidentifiedImageError

MAX_LOGO_BYTES = 1024 * 1024
MIN_SIDE = 64
MAX_SIDE = 2048
TILE_SIDE = 128
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IHDR_END = 24
# Recognising common impostors lets the message say what the file really is.
OTHER_SIGNATURES = {
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF87a": "a GIF image",
    b"GIF89a": "a GIF image",
    b"%!PS": "an EPS/PostScript file",
    b"\xc5\xd0\xd3\xc6": "an EPS file",
    b"%PDF": "a PDF document",
    b"RIFF": "a WebP image",
    b"<svg": "an SVG drawing",
    b"<?xml": "an SVG/XML file",
    b"BM": "a BMP image",
}


class LogoError(ValueError):
    """A logo that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class ProcessedLogo:
    png: bytes
    tile_png: bytes
    width: int
    height: int
    sha256: str


def _what_is_it(data: bytes) -> str:
    head = data[:16].lstrip()
    for signature, name in OTHER_SIGNATURES.items():
        if head.startswith(signature):
            return name
    return ""


def process_logo(data: bytes) -> ProcessedLogo:
    """Validate an uploaded logo and return its clean PNG and its tile rendition."""
    if not data:
        raise LogoError("The file is empty. Upload a PNG logo.")
    if len(data) > MAX_LOGO_BYTES:
        raise LogoError(
            f"The logo is {len(data) / 1024 / 1024:.1f} MB; the limit is 1 MB. "
            "Export a smaller PNG."
        )
    if not data.startswith(PNG_SIGNATURE):
        kind = _what_is_it(data)
        raise LogoError(
            f"This file is {kind}, not a PNG. Export your logo as PNG."
            if kind
            else "This file is not a PNG image. Export your logo as PNG."
        )
    # The size comes from the IHDR chunk, before Pillow decodes anything: a small file that
    # claims a huge canvas (a decompression bomb) is refused here.
    width, height = _header_size(data)
    if width > MAX_SIDE or height > MAX_SIDE:
        raise LogoError(
            f"The logo is {width}×{height} px; the largest allowed is {MAX_SIDE}×{MAX_SIDE} px."
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise LogoError(
            f"The logo is {width}×{height} px; it must be at least {MIN_SIDE}×{MIN_SIDE} px "
            "to look sharp on the tile."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG"])
            image.load()
    except LogoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoError(
            "The PNG expands to far more pixels than it claims; it was refused as unsafe."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise LogoError(
            f"The PNG is damaged or truncated and could not be read ({error}). Export it again."
        ) from None

    rgba = image.convert("RGBA")
    clean = _encode(rgba)
    tile = Image.new("RGBA", (TILE_SIDE, TILE_SIDE), (0, 0, 0, 0))
    thumbnail = rgba.copy()
    thumbnail.thumbnail((TILE_SIDE, TILE_SIDE), Image.Resampling.LANCZOS)
    tile.paste(thumbnail, ((TILE_SIDE - thumbnail.width) // 2, (TILE_SIDE - thumbnail.height) // 2))
    return ProcessedLogo(
        png=clean,
        tile_png=_encode(tile),
        width=width,
        height=height,
        sha256=hashlib.sha256(clean).hexdigest(),
    )


def _header_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (always the first chunk)."""
    if len(data) < IHDR_END or data[12:16] != b"IHDR":
        raise LogoError("The PNG is damaged: its header is missing. Export it again.")
    return struct.unpack(">II", data[16:24])


def _encode(image: Image.Image) -> bytes:
    """PNG bytes with no text, EXIF or other metadata chunks; deterministic for equal pixels,
    so re-processing our own output gives the same bytes (manifest round trips rely on it)."""
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, pnginfo=PngImagePlugin.PngInfo())
    return out.getvalue()
