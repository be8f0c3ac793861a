"""Reading the answers of Segmind's async (v2) API: submit, status, result and its output.

Pure functions over bytes; `UnexpectedResponse` for anything that is not the documented shape.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yarl import URL

from .errors import NotFinished, SegmindFailed, UnexpectedResponse, describe_body
from .results import Progress, RequestStatus, Submission

__all__ = [
    "Output",
    "Result",
    "is_terminal_body",
    "parse_progress",
    "parse_result",
    "parse_submission",
]

_TERMINAL = frozenset({RequestStatus.COMPLETED.value, RequestStatus.FAILED.value})


@dataclass(frozen=True)
class Output:
    """Where the sheet is: bytes already in the answer, or a URL to download them from."""

    image: bytes = b""  # when the answer carried it (base64 or a data URI)
    url: str | None = None  # else where to download it from, without the API key


@dataclass(frozen=True)
class Result:
    """A COMPLETED result: its output and how long the model ran."""

    output: Output
    inference_seconds: float | None


def parse_submission(
    body: bytes, *, origin: URL, submitted_at: datetime, seed: int, status: int
) -> Submission:
    """The accepted submission; its URLs must be on `origin`, which gets the API key."""
    payload = _json_object(body, status, None, "submit answer")
    request_id = payload.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        raise UnexpectedResponse(status, "submit answer has no request_id", None)
    urls = {}
    for key in ("status_url", "response_url"):
        value = payload.get(key)
        if not isinstance(value, str) or not _same_origin(value, origin):
            raise UnexpectedResponse(
                status, f"submit answer has no {key} on {origin.host}", request_id
            )
        urls[key] = value
    return Submission(request_id, urls["status_url"], urls["response_url"], submitted_at, seed)


def is_terminal_body(body: bytes) -> bool:
    """Whether a body says COMPLETED or FAILED: such a body is an answer, whatever its HTTP code."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("status") in _TERMINAL


def parse_progress(body: bytes, *, request_id: str, status: int) -> Progress:
    """A status answer as `Progress`."""
    payload = _json_object(body, status, request_id, "status answer")
    return Progress(
        _status(payload, status, request_id),
        request_id,
        error=_error(payload) if payload.get("status") == RequestStatus.FAILED else None,
        inference_seconds=_inference_seconds(payload),
    )


def parse_result(body: bytes, *, request_id: str, status: int, max_image_bytes: int) -> Result:
    """A COMPLETED result; `SegmindFailed` when FAILED, `NotFinished` when not yet done."""
    payload = _json_object(body, status, request_id, "result")
    state = _status(payload, status, request_id)
    if state == RequestStatus.FAILED:
        raise SegmindFailed(_error(payload), request_id)
    if state != RequestStatus.COMPLETED:
        raise NotFinished(state.value, request_id)
    output = _output(payload.get("output"), status, request_id, max_image_bytes)
    return Result(output, _inference_seconds(payload))


def _output(value: object, status: int, request_id: str, max_image_bytes: int) -> Output:
    """The image from `output`: a URL, a list of them, a data URI or raw base64."""
    if isinstance(value, list) and value:
        value = value[0]  # samples is 1: one image
    if not isinstance(value, str) or not value.strip():
        raise UnexpectedResponse(status, "COMPLETED result has no output", request_id)
    text = value.strip()
    if text.startswith(("https://", "http://")):
        return Output(url=text)
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise UnexpectedResponse(status, "output data URI is not base64", request_id)
    if len(text) > (max_image_bytes + 2) // 3 * 4:
        raise UnexpectedResponse(
            status, f"output image larger than {max_image_bytes // 2**20} MB", request_id
        )
    try:
        return Output(image=base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise UnexpectedResponse(
            status, "output is neither a URL nor base64 of an image", request_id
        ) from None


def _json_object(body: bytes, status: int, request_id: str | None, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        detail = describe_body(body[:4096].decode("utf-8", "replace"))
        message = f"{what} is not a JSON object" + (f": {detail}" if detail else "")
        raise UnexpectedResponse(status, message, request_id)
    return payload


def _status(payload: dict[str, Any], status: int, request_id: str) -> RequestStatus:
    try:
        return RequestStatus(str(payload.get("status")))
    except ValueError:
        state = str(payload.get("status"))[:40]
        raise UnexpectedResponse(status, f"unknown request status {state!r}", request_id) from None


def _error(payload: dict[str, Any]) -> str:
    value = payload.get("error")
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict) else ""
    return describe_body(text) or "no reason given"


def _inference_seconds(payload: dict[str, Any]) -> float | None:
    metrics = payload.get("metrics")
    value = metrics.get("inference_time") if isinstance(metrics, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _same_origin(url: str, origin: URL) -> bool:
    parsed = URL(url)
    return parsed.is_absolute() and parsed.origin() == origin.origin()
