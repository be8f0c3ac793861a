"""Checks that an answer's bytes are a whole, decodable picture. Blocking: run in a thread."""

from __future__ import annotations

import io

from PIL import Image

__all__ = ["MAX_SHEET_PIXELS", "NotAnImage", "check_image"]

# A 4x-upscaled sheet is about 25 MP. Below Pillow's own bomb threshold (about 89 MP), so an
# oversized header is refused here, before any pixel is decoded, without Pillow's warning.
MAX_SHEET_PIXELS = 50_000_000
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class NotAnImage(ValueError):
    """The bytes are not a complete JPEG, PNG or WebP picture; the message says why."""


def check_image(data: bytes) -> str:
    """The MIME type of `data` once it has fully decoded, or `NotAnImage`. Blocking."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format or "unknown", image.size
            content_type = _FORMATS.get(fmt)
            if content_type is None:
                raise NotAnImage(f"{len(data)} bytes of {fmt} format, not JPEG, PNG or WebP")
            if width <= 0 or height <= 0:
                raise NotAnImage(f"{fmt} image of {width}x{height} pixels")
            if width * height > MAX_SHEET_PIXELS:
                raise NotAnImage(f"{fmt} image of {width}x{height} pixels is too large to decode")
            image.verify()
        # verify() leaves the image unusable; decoding it all needs a fresh open. A JPEG is
        # decoded at 1/8 scale: every byte is still read (a cut-off file still fails), at a
        # fraction of the time a full-size decode of a multi-megapixel sheet takes.
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG":
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except NotAnImage:
        raise
    except Exception as exc:  # Pillow's decoders raise many types for broken input.
        raise NotAnImage(
            f"{len(data)} bytes that do not decode as an image ({type(exc).__name__})"
        ) from exc
    return content_type
