"""Exceptions raised by the Segmind client, and the one table that maps HTTP statuses to them.

Messages are written for operators' logs. They never contain the API key (the client redacts it
from response bodies before they get here) and never contain HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from multidict import CIMultiDict

__all__ = [
    "AsyncUnavailable",
    "AuthError",
    "InsufficientCredits",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFinished",
    "NotFound",
    "RateLimited",
    "RequestExpired",
    "SegmindConnectionError",
    "SegmindError",
    "SegmindFailed",
    "SegmindStatusError",
    "SegmindTimeout",
    "ServerError",
    "UnexpectedResponse",
    "describe_body",
    "error_for_status",
    "parse_reset_at",
]

RATE_LIMIT_RESET_HEADER = "x-rate-limit-reset-at-utc"
REQUEST_ID_HEADER = "x-request-id"
_MAX_DETAIL_CHARS = 200
# Above this an epoch value is taken to be in milliseconds rather than seconds (year 5138 in s).
_EPOCH_MS_THRESHOLD = 1e11


class SegmindError(Exception):
    """Base class for every error raised by the Segmind client."""


class SegmindConnectionError(SegmindError):
    """The connection to Segmind failed; `request_sent` says whether it may have been processed."""

    def __init__(self, message: str, *, request_sent: bool) -> None:
        super().__init__(message)
        self.message = message
        # True means the request may have reached Segmind: it may have run, and been billed.
        self.request_sent = request_sent


class SegmindTimeout(SegmindError):
    """Segmind did not answer in time; `request_sent` says whether it may have been processed."""

    def __init__(self, message: str, *, request_sent: bool, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_sent = request_sent
        # Set when an async request was accepted: its status can still be asked for later.
        self.request_id = request_id


class SegmindFailed(SegmindError):
    """Segmind ran an async request and reported it FAILED (not billed); carries its reason."""

    def __init__(self, message: str, request_id: str | None) -> None:
        super().__init__(message, request_id)
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        return f"Segmind could not draw the sheet: {self.message} (request id {self.request_id})"


class NotFinished(SegmindError):
    """The result of an async request was asked for while it is still QUEUED or PROCESSING."""

    def __init__(self, status: str, request_id: str) -> None:
        super().__init__(status, request_id)
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        return f"Segmind request {self.request_id} is not finished ({self.status})"


class AsyncUnavailable(SegmindError):
    """The async (v2) API is not in use: v1 mode, or Segmind refused v2 for the model."""


class SegmindStatusError(SegmindError):
    """Segmind answered, but not with what was asked for."""

    summary = "unexpected answer"

    def __init__(self, status: int, message: str, request_id: str | None = None) -> None:
        super().__init__(status, message, request_id)
        self.status = status
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        text = f"Segmind answered HTTP {self.status}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class AuthError(SegmindStatusError):
    """401: the API key is missing or invalid."""

    summary = "authentication failed; check the API key"


class NotFound(SegmindStatusError):
    """404 or 410: the endpoint does not exist or was retired (or, for credits, no balance)."""

    summary = "not found"


class RequestExpired(NotFound):
    """404 for an async request older than Segmind's retention (an hour): its result is gone."""

    summary = "request expired"


class MethodNotAllowed(SegmindStatusError):
    """405: the endpoint does not accept this HTTP method (Segmind answers with an HTML page)."""

    summary = "method not allowed"


class InsufficientCredits(SegmindStatusError):
    """406: not enough credits or a team spend limit (also sent for a wrong Content-Type)."""

    summary = "not enough credits, spend limit reached, or wrong content type"


class InvalidRequest(SegmindStatusError):
    """422: a parameter is missing or invalid."""

    summary = "invalid request"


class RateLimited(SegmindStatusError):
    """429: too many requests; `reset_at` (UTC) says when to try again, if Segmind said."""

    summary = "rate limited"

    def __init__(
        self,
        status: int,
        message: str,
        request_id: str | None = None,
        *,
        reset_at: datetime | None = None,
    ) -> None:
        super().__init__(status, message, request_id)
        self.reset_at = reset_at

    def __str__(self) -> str:
        text = super().__str__()
        if self.reset_at is not None:
            text += f"; resets at {self.reset_at.isoformat()}"
        return text


class ServerError(SegmindStatusError):
    """5xx: Segmind failed to process the request."""

    summary = "server error"


class UnexpectedResponse(SegmindStatusError):
    """A 200 that is not an image, a malformed answer, or a status nobody documented."""

    summary = "unexpected answer"


_STATUS_ERRORS: Mapping[int, type[SegmindStatusError]] = {
    401: AuthError,
    404: NotFound,
    405: MethodNotAllowed,
    406: InsufficientCredits,
    410: NotFound,
    422: InvalidRequest,
    429: RateLimited,
    500: ServerError,
    502: ServerError,
    503: ServerError,
    504: ServerError,
}


def error_for_status(status: int, body_text: str, headers: Mapping[str, str]) -> SegmindStatusError:
    """Build the exception for a non-success answer from its status, body and headers."""
    headers = CIMultiDict(headers)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = ServerError if 500 <= status <= 599 else UnexpectedResponse
    detail = None if cls is MethodNotAllowed else describe_body(body_text)
    message = f"{cls.summary}: {detail}" if detail else cls.summary
    request_id = headers.get(REQUEST_ID_HEADER) or None
    if cls is RateLimited:
        reset_at = parse_reset_at(headers.get(RATE_LIMIT_RESET_HEADER))
        return RateLimited(status, message, request_id, reset_at=reset_at)
    return cls(status, message, request_id)


def parse_reset_at(value: str | None) -> datetime | None:
    """Parse `x-rate-limit-reset-at-utc` (ISO-8601 or a Unix epoch) into an aware UTC datetime."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        epoch = float(value)
    except ValueError:
        pass
    else:
        if epoch != epoch or epoch < 0:  # NaN or negative: garbage
            return None
        if epoch > _EPOCH_MS_THRESHOLD:
            epoch /= 1000
        try:
            return datetime.fromtimestamp(epoch, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The header's name says UTC, so a naive timestamp is UTC.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def describe_body(body_text: str) -> str | None:
    """The useful part of an answer's body: its JSON `error`, or a short, HTML-free excerpt."""
    text = body_text.strip()
    if not text:
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("error", "message", "detail"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                return _shorten(value)
    if text.startswith("<"):
        return f"HTML page of {len(text)} characters"
    return _shorten(text)


def _shorten(text: str) -> str:
    """Collapse whitespace and control characters, and truncate for a one-line log message."""
    text = re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()
    if len(text) > _MAX_DETAIL_CHARS:
        return text[: _MAX_DETAIL_CHARS - 1] + "…"
    return text
