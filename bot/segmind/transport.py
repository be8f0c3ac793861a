"""One HTTP exchange with Segmind, and the one place that decides what may be sent again.

Segmind has no idempotency key, so a request that runs a model (v1 generate, v2 submit) is never
sent again once it may have reached the server: it could run, and be billed, twice. Such a request
counts as *not sent* only when aiohttp failed while connecting — `ClientConnectorError` (refused,
DNS, TLS, proxy) or `ConnectionTimeoutError` (the `connect` phase, which includes waiting for a
pooled connection). Everything later — a timeout while waiting, `ServerDisconnectedError`,
`ClientPayloadError`, a reset socket — leaves the outcome unknown and is raised at once with
`request_sent=True`. A 502 or 504 comes from a gateway *after* the body went through, so the sheet
may have been drawn and billed behind it: not repeated either. Only 503 (not accepted), a 429 with
a near reset time and one 500 are.

Reads (credits, v2 status and result, the output download) change nothing and are repeated after
any transport error or 5xx, up to `max_attempts`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import SecretStr
from yarl import URL

from .errors import (
    RateLimited,
    SegmindConnectionError,
    SegmindStatusError,
    SegmindTimeout,
    error_for_status,
)

__all__ = ["MAX_SMALL_BODY_BYTES", "Answer", "Transport"]

log = logging.getLogger(__name__)

MAX_SMALL_BODY_BYTES = 64 * 1024
# Added to a rate-limit wait so a reset time rounded to the second is not hit a moment early.
RATE_LIMIT_MARGIN = 0.1
_CHUNK_BYTES = 256 * 1024
_REPEATABLE_STATUSES = frozenset({500, 502, 503, 504})
_REDACTED = "[redacted]"


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, with its body read up to a cap."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    truncated: bool
    request_id: str | None


class Transport:
    """Sends requests with the retry policy of the module docstring; holds the API key."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api_key: SecretStr,
        *,
        connect_timeout: float,
        max_rate_limit_wait: float,
        backoff: float,
        max_attempts: int,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._connect_timeout = connect_timeout
        self._max_rate_limit_wait = max_rate_limit_wait
        self._backoff = backoff
        self._max_attempts = max_attempts

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        time_limit: float,
        body_limit: int,
        repeatable: bool,
        with_key: bool = True,
        is_answer: Callable[[Answer], bool] | None = None,
    ) -> Answer:
        """Send `body` (a JSON document); return the 200 answer (or one `is_answer` accepts) or
        raise a `SegmindError`."""
        rate_limit_budget = self._max_rate_limit_wait
        retried_500 = False
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            backoff = self._backoff * 2 ** (attempt - 1)
            try:
                answer = await self._attempt(method, url, body, time_limit, body_limit, with_key)
            except (SegmindConnectionError, SegmindTimeout) as exc:
                if last or (exc.request_sent and not repeatable):
                    raise
                log.info("Retrying %s %s in %.2fs: %s", method, _path(url), backoff, exc)
                await asyncio.sleep(backoff)
                continue
            if answer.status == 200 or (is_answer is not None and is_answer(answer)):
                return answer
            error = error_for_status(answer.status, self.text(answer), answer.headers)
            delay = None if last else self._retry_delay(error, repeatable, retried_500, backoff)
            if isinstance(error, RateLimited) and delay is not None:
                if delay > rate_limit_budget:
                    raise error
                rate_limit_budget -= delay
            if delay is None:
                raise error
            retried_500 = retried_500 or error.status == 500
            log.info("Retrying %s %s in %.2fs after %s", method, _path(url), delay, error)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(
        self, error: SegmindStatusError, repeatable: bool, retried_500: bool, backoff: float
    ) -> float | None:
        """Seconds to wait before sending again, or None when this answer is final."""
        if isinstance(error, RateLimited):
            wait = _seconds_until(error.reset_at)
            return None if wait is None else wait + RATE_LIMIT_MARGIN
        if repeatable:
            return backoff if error.status in _REPEATABLE_STATUSES else None
        if error.status == 503 or (error.status == 500 and not retried_500):
            return backoff
        return None

    async def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        time_limit: float,
        body_limit: int,
        with_key: bool,
    ) -> Answer:
        """One HTTP exchange, with aiohttp's errors translated by whether the request was sent."""
        started = time.monotonic()
        try:
            async with self._http.request(
                method,
                url,
                data=body,
                headers=self._headers(with_key, body is not None),
                # A connect bound below the total makes a connect-phase timeout recognisable
                # (ConnectionTimeoutError) instead of an ambiguous bare TimeoutError.
                timeout=aiohttp.ClientTimeout(
                    total=time_limit, connect=min(self._connect_timeout, time_limit)
                ),
                # Redirects could carry x-api-key to another host; Segmind does not redirect.
                allow_redirects=not with_key,
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
            _path(url),
            response.status,
            time.monotonic() - started,
            request_id,
            len(data),
        )
        return Answer(response.status, response.headers, data, truncated, request_id)

    def text(self, answer: Answer) -> str:
        """The body as text for error messages, with the API key redacted should it be echoed."""
        return self.redact(answer.body.decode("utf-8", errors="replace"))

    def redact(self, text: str) -> str:
        """`text` without the API key."""
        return text.replace(self._api_key.get_secret_value(), _REDACTED)

    def _headers(self, with_key: bool, with_body: bool) -> dict[str, str]:
        headers = {"x-api-key": self._api_key.get_secret_value()} if with_key else {}
        if with_body:
            headers["Content-Type"] = "application/json"
        return headers

    def redact_bytes(self, body: bytes) -> bytes:
        """`body` without the API key, for answers parsed into messages."""
        return body.replace(self._api_key.get_secret_value().encode(), _REDACTED.encode())

    def _describe(self, exc: BaseException) -> str:
        return self.redact(f"{type(exc).__name__}: {exc}")


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the body; the flag says whether there was more."""
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        buffer += chunk
        if len(buffer) > limit:
            return bytes(buffer[:limit]), True
    return bytes(buffer), False


def _path(url: str) -> str:
    """The URL's path only: a media URL's query string may be a signature."""
    return URL(url).path


def _seconds_until(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
