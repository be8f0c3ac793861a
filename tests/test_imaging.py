"""Pose uploads are made safe and usable; finished sheets are shrunk to fit Discord's limit."""

from __future__ import annotations

import random
import struct
import time
import zlib
from io import BytesIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.sheets.imaging import (
    MAX_POSE_SIDE,
    POSE_JPEG_BUDGET,
    PoseImage,
    PoseRejected,
    default_pose,
    fit_to_limit,
    normalize_pose,
)

ORIENTATION = 0x0112
MAKE = 0x010F


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Uniform RGB noise, the same on every run."""
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))


def photo(size: tuple[int, int]) -> Image.Image:
    """Smooth gradients with grain, compressing about as badly as a phone photo."""
    small = (max(1, size[0] // 4), max(1, size[1] // 4))
    gradient = Image.linear_gradient("L").resize(small)
    colours = Image.merge(
        "RGB",
        [
            gradient,
            gradient.transpose(Image.Transpose.ROTATE_180),
            gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        ],
    )
    grainy = Image.blend(colours, noise(small), 0.15)
    return grainy.resize(size, Image.Resampling.BICUBIC)


def phone_jpeg(orientation: int) -> bytes:
    """A 4032x3024 sensor image, pure red in its stored top-left corner, with camera EXIF."""
    image = photo((4032, 3024))
    image.paste((255, 0, 0), (0, 0, 400, 400))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "Pocket Camera"
    return encode(image, "JPEG", quality=92, exif=exif)


def decoded(pose: PoseImage) -> Image.Image:
    image = Image.open(BytesIO(pose.jpeg))
    image.load()
    return image


def rgb_at(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    pixel = image.getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel


def assert_valid_pose(pose: PoseImage) -> None:
    image = decoded(pose)
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == (pose.width, pose.height)
    assert max(image.size) <= MAX_POSE_SIDE


def png_with_header(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def black_png(width: int, height: int) -> bytes:
    """A real, fully decodable 1-bit PNG: tiny on disk, `width * height` bytes once decoded."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_with_header(width, height, body)


def test_phone_photo_comes_out_upright_small_and_without_exif() -> None:
    pose = normalize_pose(phone_jpeg(orientation=6))

    image = decoded(pose)
    assert (pose.width, pose.height) == image.size
    assert pose.width < pose.height and 900 <= pose.height <= 1024  # upright, long side capped
    assert pose.source_format == "JPEG"
    assert pose.note is None
    assert len(pose.jpeg) <= POSE_JPEG_BUDGET
    # Orientation 6 means "rotate 90 degrees clockwise to view": stored top-left is now top-right.
    red, green, blue = rgb_at(image, (image.width - 8, 8))
    assert red > 200 and green < 60 and blue < 60
    assert not image.getexif()
    assert b"Exif" not in pose.jpeg
    assert b"Pocket Camera" not in pose.jpeg


def test_png_with_transparency_is_flattened_onto_white() -> None:
    drawing = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    drawing.paste((0, 0, 0, 255), (100, 50, 200, 150))

    pose = normalize_pose(encode(drawing, "PNG"))

    image = decoded(pose)
    assert image.mode == "RGB"
    assert image.size == (300, 200)
    assert min(rgb_at(image, (5, 5))) > 245
    assert max(rgb_at(image, (150, 100))) < 10


def test_animated_gif_uses_the_first_frame_and_says_so() -> None:
    frames = [Image.new("RGB", (120, 120), colour) for colour in ("red", "blue")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)

    pose = normalize_pose(gif)

    assert pose.source_format == "GIF"
    assert pose.note == "GIF"
    red, green, blue = rgb_at(decoded(pose), (60, 60))
    assert red > 200 and green < 60 and blue < 60


def test_phone_mpo_uses_the_main_picture_without_calling_it_animated() -> None:
    main, preview = Image.new("RGB", (200, 150), "green"), Image.new("RGB", (200, 150), "blue")

    pose = normalize_pose(encode(main, "MPO", save_all=True, append_images=[preview]))

    assert pose.source_format == "MPO"
    assert pose.note is None
    assert_valid_pose(pose)


@pytest.mark.parametrize(
    ("image", "fmt"),
    [
        (Image.new("P", (100, 100), 3), "PNG"),
        (Image.new("LA", (100, 100), (40, 128)), "PNG"),
        (Image.new("L", (100, 100), 90), "JPEG"),
        (Image.new("CMYK", (100, 100), (0, 255, 255, 0)), "JPEG"),
        (Image.new("1", (100, 100), 1), "BMP"),
        (Image.new("RGB", (100, 100), "orange"), "WEBP"),
        (Image.new("RGBA", (100, 100), (0, 0, 255, 128)), "WEBP"),
    ],
    ids=["palette-png", "grey-alpha-png", "grey-jpeg", "cmyk-jpeg", "1-bit-bmp", "webp", "webp-a"],
)
def test_every_accepted_format_and_mode_becomes_an_rgb_jpeg(image: Image.Image, fmt: str) -> None:
    pose = normalize_pose(encode(image, fmt))

    assert pose.source_format == fmt
    assert_valid_pose(pose)


def test_sixteen_bit_greyscale_keeps_its_tones_instead_of_turning_white() -> None:
    grey = Image.new("I;16", (100, 100), 0x8000)

    pose = normalize_pose(encode(grey, "PNG"))

    assert all(120 <= value <= 136 for value in rgb_at(decoded(pose), (50, 50)))


def test_large_drawing_is_scaled_so_its_long_side_is_1024() -> None:
    pose = normalize_pose(encode(photo((3000, 1500)), "PNG"))

    assert (pose.width, pose.height) == (1024, 512)
    assert len(pose.jpeg) <= POSE_JPEG_BUDGET


def test_small_images_are_not_upscaled() -> None:
    pose = normalize_pose(encode(photo((500, 300)), "PNG"))

    assert (pose.width, pose.height) == (500, 300)


def test_pure_noise_still_fits_the_pose_size_budget() -> None:
    pose = normalize_pose(encode(noise((1024, 1024)), "PNG"))

    assert len(pose.jpeg) <= POSE_JPEG_BUDGET


@pytest.mark.parametrize(
    ("width", "height"),
    [(8000, 8000), (12000, 10000), (30000, 30000)],
    ids=["over-our-limit", "over-pillow-warning", "over-pillow-error"],
)
def test_decompression_bomb_is_refused_from_its_header(width: int, height: int) -> None:
    bomb = png_with_header(width, height, zlib.compress(bytes(1000)))

    started = time.perf_counter()
    with pytest.raises(PoseRejected) as refused:
        normalize_pose(bomb)

    assert time.perf_counter() - started < 1.0
    assert "megapixels" in str(refused.value.reason)


def test_decodable_bomb_is_refused_before_its_pixels_are_decoded() -> None:
    # 64 megapixels that would decode fine, so only the header check can refuse it.
    bomb = black_png(8000, 8000)
    assert len(bomb) < 100_000

    with pytest.raises(PoseRejected, match="64 megapixels, max 40 megapixels"):
        normalize_pose(bomb)


def test_max_pixels_can_be_lowered() -> None:
    with pytest.raises(PoseRejected, match="megapixels"):
        normalize_pose(encode(photo((2000, 1000)), "JPEG"), max_pixels=1_000_000)


@pytest.mark.parametrize(
    ("width", "height"),
    [(32, 32), (500, 40), (64, 4000)],
    ids=["thumbnail", "short-strip", "too-long-and-thin"],
)
def test_images_too_small_to_show_a_pose_are_refused(width: int, height: int) -> None:
    with pytest.raises(PoseRejected, match=f"{width} x {height} pixels"):
        normalize_pose(encode(Image.new("RGB", (width, height), "white"), "PNG"))


def small_jpeg() -> bytes:
    return encode(photo((400, 300)), "JPEG", quality=90)


@pytest.mark.parametrize(
    "data",
    [
        small_jpeg()[: len(small_jpeg()) // 2],
        random.Random(7).randbytes(5000),
        b"Remember to buy milk.\n" * 40,
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">',
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n",
        encode(Image.new("RGB", (100, 100)), "TIFF"),
        b"",
    ],
    ids=["truncated-jpeg", "random-bytes", "text", "svg", "pdf", "tiff", "empty"],
)
def test_files_that_are_not_usable_images_are_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(PoseRejected) as refused:
        normalize_pose(data)

    reason = str(refused.value.reason)
    assert reason == str(refused.value)
    assert reason.endswith(".") and "attach" in reason.lower()


def fuzz_seeds() -> list[bytes]:
    picture = photo((80, 72))
    frames = [picture, picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    exif = Image.Exif()
    exif[ORIENTATION] = 8
    return [
        encode(picture.convert("RGBA"), "PNG"),
        encode(picture.convert("P"), "PNG", transparency=0),
        encode(picture, "JPEG", quality=80, exif=exif),
        encode(picture, "JPEG", quality=80, progressive=True),
        encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        encode(picture, "WEBP"),
        encode(picture, "BMP"),
    ]


FUZZ_SEEDS = fuzz_seeds()


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(FUZZ_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(0, len(data) - 1)))
        damage = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if damage == "flip" and data:
            data[where] ^= draw(st.integers(1, 255))
        elif damage == "truncate":
            del data[where:]
        elif damage == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[where : where + draw(st.integers(1, 64))]
    return bytes(data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_files())
def test_damaged_files_give_a_pose_or_a_refusal_never_a_crash(data: bytes) -> None:
    try:
        pose = normalize_pose(data)
    except PoseRejected as refused:
        assert refused.reason
    else:
        assert_valid_pose(pose)


@pytest.mark.parametrize(
    ("fmt", "content_type", "filename"),
    [
        ("PNG", "image/png", "character-sheet.png"),
        ("JPEG", "image/jpeg", "character-sheet.jpg"),
        ("WEBP", "image/webp", "character-sheet.webp"),
    ],
)
def test_sheet_that_fits_is_sent_unchanged(fmt: str, content_type: str, filename: str) -> None:
    sheet = encode(photo((512, 256)), fmt)

    fitted = fit_to_limit(sheet, content_type, limit=len(sheet))

    assert fitted.data is sheet
    assert (fitted.filename, fitted.content_type, fitted.scaled) == (filename, content_type, False)


def test_sheet_is_named_by_its_bytes_when_the_content_type_is_vague() -> None:
    sheet = encode(photo((512, 256)), "PNG")

    fitted = fit_to_limit(sheet, "application/octet-stream", limit=10_000_000)

    assert (fitted.filename, fitted.content_type) == ("character-sheet.png", "image/png")


def test_sheet_too_big_for_discord_is_shrunk_to_fit() -> None:
    sheet = encode(noise((1024, 1024)), "PNG")
    assert len(sheet) > 3_000_000

    fitted = fit_to_limit(sheet, "image/png", limit=1_000_000)

    assert fitted.scaled
    assert len(fitted.data) <= 1_000_000
    assert (fitted.filename, fitted.content_type) == ("character-sheet.jpg", "image/jpeg")
    image = Image.open(BytesIO(fitted.data))
    image.load()
    assert image.format == "JPEG"
    assert max(image.size) <= 1024


def test_sheet_is_scaled_down_when_lower_quality_is_not_enough() -> None:
    sheet = encode(photo((2048, 1024)), "PNG")

    fitted = fit_to_limit(sheet, "image/png", limit=60_000)

    assert len(fitted.data) <= 60_000
    assert Image.open(BytesIO(fitted.data)).width < 2048


def test_sheet_that_cannot_fit_an_absurd_limit_raises_value_error() -> None:
    with pytest.raises(ValueError, match="can't be shrunk"):
        fit_to_limit(encode(photo((512, 256)), "PNG"), "image/png", limit=100)


def test_oversized_sheet_that_is_not_an_image_raises_value_error() -> None:
    with pytest.raises(ValueError, match="isn't an image"):
        fit_to_limit(b"<html>Bad gateway</html>" * 100, "image/png", limit=1000)


def test_default_pose_is_a_ready_landscape_sheet() -> None:
    pose = default_pose()

    assert_valid_pose(pose)
    assert (pose.width, pose.height) == (1024, 576)
    assert pose.source_format == "PNG"
    assert pose.note is None
    assert default_pose() is pose
