"""Async client for Segmind's consistent-character endpoint and credit balance.

Retry policy, and why. Segmind has no idempotency key, so a generate request that may have reached
the server is never sent again: it could run, and be billed, twice. A request counts as *not sent*
only when aiohttp failed while connecting — `ClientConnectorError` (refused, DNS, TLS, proxy) or
`ConnectionTimeoutError` (the `connect` phase, which includes waiting for a pooled connection).
Everything later — a timeout while waiting, `ServerDisconnectedError`, `ClientPayloadError`, a reset
socket — leaves the outcome unknown and is raised at once with `request_sent=True`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import SecretStr
from yarl import URL

from .errors import (
    RateLimited,
    SegmindConnectionError,
    SegmindTimeout,
    UnexpectedResponse,
    describe_body,
    error_for_status,
)
from .images import NotAnImage, check_image
from .models import CharacterRequest

__all__ = ["Balance", "SegmindClient", "Sheet"]

log = logging.getLogger(__name__)

GENERATE_PATH = "/v1/consistent-character-ai-neolemon"
CREDITS_PATH = "/v1/get-user-credits"
# A sheet is a few MB at most; the cap stops a broken or hostile answer from ballooning memory.
MAX_IMAGE_BYTES = 30 * 1024 * 1024
MAX_SMALL_BODY_BYTES = 64 * 1024
CREDITS_TIMEOUT = 30.0
# Added to a rate-limit wait so a reset time rounded to the second is not hit a moment early.
RATE_LIMIT_MARGIN = 0.1
_CHUNK_BYTES = 256 * 1024
_GATEWAY_STATUSES = frozenset({502, 503, 504})
_REDACTED = "[redacted]"


@dataclass(frozen=True)
class Sheet:
    """A generated character sheet and what Segmind said about the call."""

    image: bytes = field(repr=False)
    content_type: str
    seed: int
    credits_left: float | None
    request_id: str | None
    generation_seconds: float | None
    cost: float | None
    elapsed: float  # wall seconds, including retries and waits


@dataclass(frozen=True)
class Balance:
    """The account's credit balance."""

    credits: float
    free_credits: float

    @property
    def total(self) -> float:
        """Paid and free credits together."""
        return self.credits + self.free_credits


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer, with its body read up to a cap."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool
    request_id: str | None


class SegmindClient:
    """Calls Segmind over a caller-owned aiohttp session; see the module docstring for retries."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        api_key: str | SecretStr,
        base_url: str = "https://api.segmind.com",
        timeout: float = 300.0,
        connect_timeout: float = 30.0,
        max_rate_limit_wait: float = 60.0,
        backoff: float = 1.0,
        max_attempts: int = 3,
    ) -> None:
        secret = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not secret.get_secret_value():
            raise ValueError("api_key must not be empty")
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if max_attempts < 1 or backoff < 0 or max_rate_limit_wait < 0:
            raise ValueError("max_attempts must be >= 1; backoff and max_rate_limit_wait >= 0")
        self._http = http
        self._api_key = secret
        self._base_url = str(url).rstrip("/")
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_rate_limit_wait = max_rate_limit_wait
        self._backoff = backoff
        self._max_attempts = max_attempts

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, timeout={self._timeout!r}, "
            f"max_attempts={self._max_attempts!r})"
        )

    async def generate(self, request: CharacterRequest) -> Sheet:
        """Draw one character sheet; raises a `SegmindError` subclass on failure."""
        started = time.monotonic()
        answer = await self._call(
            "POST",
            GENERATE_PATH,
            body=request.model_dump(mode="json"),
            time_limit=self._timeout,
            body_limit=MAX_IMAGE_BYTES,
        )
        content_type = await _image_type(answer)
        headers = answer.headers
        sheet = Sheet(
            image=answer.body,
            content_type=content_type,
            seed=_confirmed_seed(headers, request.seed, answer.request_id),
            credits_left=_float_header(headers, "x-remaining-credits"),
            request_id=answer.request_id,
            generation_seconds=_float_header(headers, "x-generation-time"),
            cost=_float_header(headers, "x-cost"),
            elapsed=time.monotonic() - started,
        )
        log.info(
            "Segmind drew a sheet in %.1fs (seed %d, request id %s, credits left %s)",
            sheet.elapsed,
            sheet.seed,
            sheet.request_id,
            sheet.credits_left,
        )
        return sheet

    async def credits(self) -> Balance:
        """The account's balance; free to call."""
        answer = await self._call(
            "GET",
            CREDITS_PATH,
            body=None,
            time_limit=min(self._timeout, CREDITS_TIMEOUT),
            body_limit=MAX_SMALL_BODY_BYTES,
        )
        return _balance(answer)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None,
        time_limit: float,
        body_limit: int,
    ) -> _Answer:
        """Send with the retry policy; return the 200 answer or raise."""
        rate_limit_budget = self._max_rate_limit_wait
        retried_500 = False
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            backoff = self._backoff * 2 ** (attempt - 1)
            try:
                answer = await self._attempt(method, path, body, time_limit, body_limit)
            except (SegmindConnectionError, SegmindTimeout) as exc:
                if last or exc.request_sent:
                    raise
                log.info("Retrying %s %s in %.2fs: %s", method, path, backoff, exc)
                await asyncio.sleep(backoff)
                continue
            if answer.status == 200:
                return answer
            error = error_for_status(answer.status, self._text(answer), answer.headers)
            if last:
                raise error
            if isinstance(error, RateLimited):
                wait = _seconds_until(error.reset_at)
                if wait is None or wait > rate_limit_budget:
                    raise error
                rate_limit_budget -= wait
                delay = wait + RATE_LIMIT_MARGIN
            elif error.status == 500 and not retried_500:
                retried_500 = True
                delay = backoff
            elif error.status in _GATEWAY_STATUSES:
                delay = backoff
            else:
                raise error
            log.info("Retrying %s %s in %.2fs after %s", method, path, delay, error)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        time_limit: float,
        body_limit: int,
    ) -> _Answer:
        """One HTTP exchange, with aiohttp's errors translated by whether the request was sent."""
        started = time.monotonic()
        try:
            async with self._http.request(
                method,
                self._base_url + path,
                json=body,
                headers={"x-api-key": self._api_key.get_secret_value()},
                # A connect bound below the total makes a connect-phase timeout recognisable
                # (ConnectionTimeoutError) instead of an ambiguous bare TimeoutError.
                timeout=aiohttp.ClientTimeout(
                    total=time_limit, connect=min(self._connect_timeout, time_limit)
                ),
                # Redirects could carry x-api-key to another host; Segmind does not redirect.
                allow_redirects=False,
                raise_for_status=False,
            ) as response:
                limit = body_limit if response.status == 200 else MAX_SMALL_BODY_BYTES
                data, truncated = await _read_capped(response, limit)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise SegmindConnectionError(
                f"could not connect to Segmind ({self._describe(exc)}); the request was not sent",
                request_sent=False,
            ) from exc
        except TimeoutError as exc:
            raise SegmindTimeout(
                f"no complete answer from Segmind within {time_limit:g}s; the request was sent, so "
                "whether it ran (and was billed) is unknown",
                request_sent=True,
            ) from exc
        except aiohttp.ClientError as exc:
            raise SegmindConnectionError(
                f"connection to Segmind failed after the request was sent ({self._describe(exc)});"
                " whether it ran (and was billed) is unknown",
                request_sent=True,
            ) from exc
        request_id = response.headers.get("x-request-id") or None
        log.debug(
            "Segmind %s %s -> %d in %.2fs (request id %s, %d bytes)",
            method,
            path,
            response.status,
            time.monotonic() - started,
            request_id,
            len(data),
        )
        return _Answer(response.status, response.headers, data, truncated, request_id)

    def _text(self, answer: _Answer) -> str:
        """The body as text for error messages, with the API key redacted should it be echoed."""
        return self._redact(answer.body.decode("utf-8", errors="replace"))

    def _describe(self, exc: BaseException) -> str:
        return self._redact(f"{type(exc).__name__}: {exc}")

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key.get_secret_value(), _REDACTED)


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the body; the flag says whether there was more."""
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        buffer += chunk
        if len(buffer) > limit:
            return bytes(buffer[:limit]), True
    return bytes(buffer), False


async def _image_type(answer: _Answer) -> str:
    """The image's real MIME type, or `UnexpectedResponse` if the 200 is not a whole image."""
    declared = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not declared.startswith("image/"):
        detail = describe_body(answer.body[:MAX_SMALL_BODY_BYTES].decode("utf-8", "replace"))
        raise UnexpectedResponse(
            answer.status,
            f"expected an image, got {declared or 'no content type'}"
            + (f": {detail}" if detail else ""),
            answer.request_id,
        )
    sniffed = await _checked_image(answer.body, answer.truncated, answer.status, answer.request_id)
    if sniffed != declared:
        log.debug("Segmind declared %s but sent %s", declared, sniffed)
    return sniffed


async def _checked_image(data: bytes, truncated: bool, status: int, request_id: str | None) -> str:
    """The MIME type of a fully decoded image (decoded in a thread), or `UnexpectedResponse`."""
    if truncated:
        raise UnexpectedResponse(
            status, f"image larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB", request_id
        )
    try:
        return await asyncio.to_thread(check_image, data)
    except NotAnImage as exc:
        raise UnexpectedResponse(status, f"not a usable image: {exc}", request_id) from exc


def _balance(answer: _Answer) -> Balance:
    try:
        payload = json.loads(answer.body)
        credits = _number(payload["credits"])
        free_credits = _number(payload.get("free-credits", 0.0))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UnexpectedResponse(
            answer.status,
            f"credits answer is not {{'credits': number, 'free-credits': number}}"
            f" ({len(answer.body)} bytes)",
            answer.request_id,
        ) from exc
    return Balance(credits=credits, free_credits=free_credits)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError("not a finite number")
    return float(value)


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(headers[name])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _confirmed_seed(headers: Mapping[str, str], sent: int, request_id: str | None) -> int:
    """The seed that was sent: an `x-seed-value` that says otherwise is logged and ignored."""
    echoed = headers.get("x-seed-value")
    if echoed is not None and echoed.strip() != str(sent):
        # A sheet is shown with its seed so it can be reproduced; only the sent one is known true.
        log.warning(
            "Ignoring x-seed-value %r from Segmind (request id %s): the request's seed was %d",
            echoed[:40],
            request_id,
            sent,
        )
    return sent


def _seconds_until(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
