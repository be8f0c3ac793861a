"""Pose references and finished sheets: decode untrusted uploads safely, shrink results to fit.

Everything here is synchronous, CPU-bound Pillow work with no shared mutable state, meant to be
called through `asyncio.to_thread`.
"""

from __future__ import annotations

import functools
import logging
import math
import struct
from dataclasses import dataclass, field
from importlib import resources
from io import BytesIO

from PIL import ExifTags, Image, ImageFile

from bot.sheets import texts
from bot.sheets.locales import Text
from bot.sheets.rules import Refused

log = logging.getLogger(__name__)

MAX_POSE_SIDE = 1024
MIN_POSE_SIDE = 64
# Sent base64-encoded (4/3 larger): this keeps a request to Segmind under 300 KB.
POSE_JPEG_BUDGET = 220_000

# Only these decoders ever see an upload; every other Pillow plugin is a needless attack surface.
# Phone JPEGs that carry a second picture (MPO) come in through the JPEG decoder.
_POSE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_ACCEPTED_FORMATS = frozenset({*_POSE_FORMATS, "MPO"})
_FORMAT_NAMES = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}
_POSE_QUALITIES = (85, 75, 65, 55)
# Huffman tables optimised for the picture (a second pass over it) make a 12 MP photo's pose
# about 4 % smaller but cost 5.0 instead of 1.8 ms of CPU: a pose still fits its budget without
# them, so only sheets, whose bytes count against Discord's upload limit, are optimised.
_POSE_OPTIMIZED = False
_SHEET_OPTIMIZED = True
# EXIF orientation -> the transpose that undoes it (as in ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SHEET_FORMATS = ("JPEG", "PNG", "WEBP")
_SHEET_MAX_PIXELS = 40_000_000
_SHEET_QUALITIES = (90, 80, 70)
_SHEET_TYPES = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
}

# What Pillow raises on malformed input, besides the decompression-bomb checks.
_DAMAGED_ERRORS = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    ArithmeticError,
    UserWarning,  # Pillow's "corrupt EXIF" and the like, when warnings are errors (as in tests)
)


class PoseRejected(Refused):
    """An uploaded pose can't be used; `reason` tells the member what was wrong and what to do."""

    def __init__(self, reason: Text) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PoseImage:
    """A pose reference ready for Segmind: an upright RGB JPEG without metadata."""

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    source_format: str
    # The note for the sheet's card, as jobs store it: the animated format whose first frame
    # was used ("GIF"), put into the member's words by `texts.first_frame`.
    note: str | None = None


@dataclass(frozen=True)
class FittedImage:
    """A finished sheet small enough to upload; `scaled` is True if it had to be re-encoded."""

    data: bytes = field(repr=False)
    filename: str
    content_type: str
    scaled: bool


def normalize_pose(data: bytes, *, max_pixels: int = 40_000_000) -> PoseImage:
    """Turn an uploaded file into a pose reference, or raise PoseRejected saying why not."""
    try:
        return _normalize(data, max_pixels)
    except (PoseRejected, MemoryError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PoseRejected(texts.pose_too_many_pixels(None, max_pixels)) from exc
    except _DAMAGED_ERRORS as exc:
        raise PoseRejected(texts.POSE_DAMAGED) from exc
    except Exception as exc:
        # Still the member's file at fault, but log it: it may also be a bug here.
        log.warning("Unexpected error while reading a pose image", exc_info=True)
        raise PoseRejected(texts.POSE_DAMAGED) from exc


@functools.cache
def default_pose() -> PoseImage:
    """The pose sheet shipped with the bot, used when a member attaches none."""
    data = (resources.files("bot") / "assets" / "default_pose.png").read_bytes()
    return normalize_pose(data)


def fit_to_limit(data: bytes, content_type: str, limit: int) -> FittedImage:
    """Return the sheet unchanged if it fits in `limit` bytes, else a smaller JPEG of it.

    Raises ValueError if the data isn't a readable image or can't be made small enough.
    """
    extension = _sheet_extension(data, content_type)
    if extension is not None and len(data) <= limit:
        return FittedImage(data, f"character-sheet.{extension}", _content_type(extension), False)
    fitted = _encode_to_fit(_decode_sheet(data), limit, _SHEET_QUALITIES, _SHEET_OPTIMIZED)
    if fitted is None:
        raise ValueError(f"a {len(data)}-byte sheet can't be shrunk to fit {limit} bytes")
    return FittedImage(fitted[0], "character-sheet.jpg", "image/jpeg", True)


def _normalize(data: bytes, max_pixels: int) -> PoseImage:
    if not data:
        raise PoseRejected(texts.POSE_EMPTY)
    with _open_pose(data, max_pixels) as im:
        source_format = str(im.format)
        target = _check_size(im.width, im.height, max_pixels)
        # MPO's second frame is a depth map or preview, not an animation.
        animated = source_format != "MPO" and bool(getattr(im, "is_animated", False))
        if source_format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, and allow a draft a little under the
            # target: a 12 MP photo then decodes at 1/4 (1008 x 756, 3 MB) instead of 1/2
            # (12 MB), which is what keeps many concurrent poses inside the memory budget.
            im.draft("RGB", (target[0] * 9 // 10, target[1] * 9 // 10))
        im.load()
        orientation = im.getexif().get(ExifTags.Base.Orientation)
        # Shrink before turning upright: rotating the small picture is far cheaper.
        image = _flatten_onto_white(_shrink(_to_rgb_or_rgba(im), MAX_POSE_SIDE))
        image = _upright(image, orientation)
        # Encode before the file closes: `image` may still be the file's own pixels.
        fitted = _encode_to_fit(image, POSE_JPEG_BUDGET, _POSE_QUALITIES, _POSE_OPTIMIZED)
    if fitted is None:  # unreachable in practice: 64 x 64 pixels never take 300 KB
        raise PoseRejected(texts.POSE_DAMAGED)
    jpeg, image = fitted
    note = None
    if animated:
        note = _FORMAT_NAMES.get(source_format, "image")
    return PoseImage(jpeg, image.width, image.height, source_format, note)


def _open_pose(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Read the header only; pixel data is decoded later, after the size checks."""
    try:
        im = Image.open(BytesIO(data), formats=_POSE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PoseRejected(texts.pose_too_many_pixels(None, max_pixels)) from exc
    except _DAMAGED_ERRORS as exc:
        raise PoseRejected(texts.POSE_UNREADABLE) from exc
    if im.format not in _ACCEPTED_FORMATS:
        im.close()
        raise PoseRejected(texts.POSE_UNREADABLE)
    return im


def _check_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Refuse sizes the model can't use or we shouldn't decode; return the size to scale to."""
    if width * height > max_pixels:
        raise PoseRejected(texts.pose_too_many_pixels(width * height, max_pixels))
    if min(width, height) < MIN_POSE_SIDE:
        raise PoseRejected(texts.pose_too_small(width, height, MIN_POSE_SIDE))
    target = _fit_within((width, height), MAX_POSE_SIDE)
    if min(target) < MIN_POSE_SIDE:
        raise PoseRejected(texts.pose_too_thin(width, height))
    return target


def _fit_within(size: tuple[int, int], longest: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_rgb_or_rgba(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to RGB, or RGBA if it has transparency to flatten later."""
    if im.mode == "I" or im.mode.startswith("I;16"):
        # 16-bit greyscale: keep the top 8 bits, since a plain convert clips it all to white.
        im = im.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if im.has_transparency_data:
        return im if im.mode == "RGBA" else im.convert("RGBA")
    return im if im.mode == "RGB" else im.convert("RGB")


def _shrink(image: Image.Image, longest: int) -> Image.Image:
    size = _fit_within(image.size, longest)
    if size == image.size:
        return image
    # Hamming is a sharper bilinear: on a phone photo's 2016 x 1512 draft it takes 12 ms where
    # bicubic takes 20 and Lanczos 29, which matters against a ~50 ms budget per job.
    return image.resize(size, Image.Resampling.HAMMING, reducing_gap=3.0)


def _upright(image: Image.Image, orientation: object) -> Image.Image:
    """Apply the EXIF orientation a camera recorded instead of rotating its sensor data."""
    method = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


def _flatten_onto_white(image: Image.Image) -> Image.Image:
    """Poses are usually drawn on white, so transparent areas become white, not black."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, "white")
    background.paste(image, mask=image.getchannel("A"))
    return background


def _encode_to_fit(
    image: Image.Image, limit: int, qualities: tuple[int, ...], optimize: bool
) -> tuple[bytes, Image.Image] | None:
    """The best of `qualities` that fits in `limit` bytes, else the last one at a smaller size.

    Returns the JPEG and the image it encodes, or None if even a tiny picture won't fit.
    """
    encoded = b""
    for quality in qualities:
        encoded = _encode_jpeg(image, quality, optimize)
        if len(encoded) <= limit:
            return encoded, image
    while True:
        # JPEG size grows roughly with pixel count, so aim straight for the limit, a bit under.
        factor = min(0.9, 0.95 * math.sqrt(limit / len(encoded)))
        size = (round(image.width * factor), round(image.height * factor))
        if min(size) < MIN_POSE_SIDE:
            return None
        image = image.resize(size, Image.Resampling.LANCZOS)
        encoded = _encode_jpeg(image, qualities[-1], optimize)
        if len(encoded) <= limit:
            return encoded, image


def _encode_jpeg(image: Image.Image, quality: int, optimize: bool) -> bytes:
    # No exif= or icc_profile= argument, so none of the upload's metadata (GPS) is written.
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=optimize)
    return buffer.getvalue()


def _sheet_extension(data: bytes, content_type: str) -> str | None:
    """The file extension for a sheet, from its magic bytes, else from its content type."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return _SHEET_TYPES.get(content_type.split(";")[0].strip().lower())


def _content_type(extension: str) -> str:
    return {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}[extension]


def _decode_sheet(data: bytes) -> Image.Image:
    try:
        im = Image.open(BytesIO(data), formats=_SHEET_FORMATS)
    except (Image.DecompressionBombError, *_DAMAGED_ERRORS) as exc:
        raise ValueError(f"the sheet isn't an image Pillow can read: {exc}") from exc
    if im.width * im.height > _SHEET_MAX_PIXELS:
        raise ValueError(f"a {im.width} x {im.height} sheet is too large to re-encode")
    try:
        im.load()
    except _DAMAGED_ERRORS as exc:
        raise ValueError(f"the sheet is damaged: {exc}") from exc
    return _flatten_onto_white(_to_rgb_or_rgba(im))
