"""A stand-in for a phone photo: 4032 x 3024 JPEG, 1-3 MB, EXIF orientation "rotate 90"."""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

SIZE = (4032, 3024)
ORIENTATION_TAG = 0x0112
ROTATE_90_CW = 6  # how phones store a portrait shot: landscape pixels plus this tag
# Where drawn photos are kept between runs: drawing one takes ~2 s of CPU.
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench"


def cached_phone_photo(seed: int = 1, *, quality: int = 90) -> bytes:
    """`phone_photo(seed, quality=quality)`, drawn once and then read from `CACHE`.

    Keyed by this file's contents too, so a change to how the photo is drawn draws it again.
    """
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    path = CACHE / f"phone-{seed}-q{quality}-{version}.jpg"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    photo = phone_photo(seed, quality=quality)
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(photo)
    partial.replace(path)  # whole or not at all, even with two runs at once
    return photo


def phone_photo(seed: int = 1, *, quality: int = 90) -> bytes:
    """Smooth scene, blurred shapes, mid-frequency texture and sensor noise, like a photo.

    Pure noise would not compress at all and flat colour would compress to nothing; this mix
    lands at about 2.3 MB at quality 90, in the 1-3 MB range of a 12 MP phone JPEG.
    """
    rng = random.Random(seed)
    width, height = SIZE
    # Low frequencies: a coarse random colour field, smoothly enlarged, with some objects on it.
    coarse = Image.merge("RGB", [Image.effect_noise((24, 18), 90) for _ in range(3)])
    scene = coarse.resize(SIZE, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(scene)
    for _ in range(40):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(80, 600)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in "rgb"))
    scene = scene.filter(ImageFilter.GaussianBlur(6))
    # Mid frequencies (texture) and per-pixel sensor noise, both centred on zero.
    texture = Image.effect_noise((width // 4, height // 4), 10).resize(
        SIZE, Image.Resampling.BICUBIC
    )
    noise = Image.merge("RGB", [Image.effect_noise(SIZE, 3) for _ in range(3)])
    photo = ImageChops.add(scene, Image.merge("RGB", [texture] * 3), offset=-128)
    photo = ImageChops.add(photo, noise, offset=-128)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = ROTATE_90_CW
    exif[0x010F] = "Apple"  # Make
    exif[0x0110] = "iPhone 12"  # Model
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()
