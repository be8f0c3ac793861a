"""Async client for Segmind's consistent-character model: blocking (v1) and async (v2) calls.

v1 `generate` holds one HTTP request open while the model draws. v2 is three steps the caller can
store between — `submit` (returns a `Submission` with the request id), `poll`, `fetch` — and
`draw` runs them all. What may be sent again is decided in `transport.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Literal

import aiohttp
from pydantic import SecretStr
from yarl import URL

from .errors import (
    AsyncUnavailable,
    MethodNotAllowed,
    NotFound,
    RequestExpired,
    SegmindError,
    SegmindFailed,
    SegmindTimeout,
    UnexpectedResponse,
    describe_body,
)
from .images import NotAnImage, check_image
from .models import CharacterRequest
from .results import Balance, Progress, RequestStatus, Sheet, Submission
from .transport import MAX_SMALL_BODY_BYTES, Answer, Transport
from .v2 import is_terminal_body, parse_progress, parse_result, parse_submission

__all__ = ["Api", "Balance", "SegmindClient", "Sheet"]

log = logging.getLogger(__name__)
# No sheet costs more credits than this; a larger (or negative) x-cost is not believed.
MAX_PLAUSIBLE_COST = 100.0

MODEL = "consistent-character-ai-neolemon"
GENERATE_PATH = f"/v1/{MODEL}"
SUBMIT_PATH = f"/v2/{MODEL}"
CREDITS_PATH = "/v1/get-user-credits"
# A sheet is a few MB at most; the cap stops a broken or hostile answer from ballooning memory.
MAX_IMAGE_BYTES = 30 * 1024 * 1024
# A v2 result may carry the image as base64 inside JSON.
MAX_RESULT_BYTES = MAX_IMAGE_BYTES * 4 // 3 + MAX_SMALL_BODY_BYTES
CREDITS_TIMEOUT = 30.0
# Submit, status and result are quick answers; only the v1 call waits for the drawing.
QUICK_TIMEOUT = 30.0
POLL_GROWTH = 1.5

Api = Literal["auto", "v2", "v1"]
OnSubmitted = Callable[[Submission], Awaitable[None]]
OnProgress = Callable[[Progress], Awaitable[None]]


class SegmindClient:
    """Calls Segmind over a caller-owned aiohttp session.

    `api`: "v1" draws with the blocking call; "v2" with submit and poll; "auto" uses v2 and falls
    back to v1 for the client's life if Segmind refuses v2 for the model (404/405 on submit).
    """

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
        api: Api = "auto",
        poll_interval: float = 1.0,
        max_poll_interval: float = 5.0,
        result_retention: float = 3600.0,
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
        if not 0 < poll_interval <= max_poll_interval or result_retention <= 0:
            raise ValueError("need 0 < poll_interval <= max_poll_interval; result_retention > 0")
        if api not in ("auto", "v2", "v1"):
            raise ValueError(f"api must be 'auto', 'v2' or 'v1', got {api!r}")
        self._transport = Transport(
            http,
            secret,
            connect_timeout=connect_timeout,
            max_rate_limit_wait=max_rate_limit_wait,
            backoff=backoff,
            max_attempts=max_attempts,
        )
        self._origin = url
        self._base_url = str(url).rstrip("/")
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._api = api
        self._poll_interval = poll_interval
        self._max_poll_interval = max_poll_interval
        self._result_retention = result_retention
        self._told_implausible_cost = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, timeout={self._timeout!r}, "
            f"max_attempts={self._max_attempts!r}, api={self._api!r})"
        )

    @property
    def uses_v2(self) -> bool:
        """Whether `draw` submits and polls (False in v1 mode or after an auto fallback)."""
        return self._api != "v1"

    # --- v1 ----------------------------------------------------------------------------------

    async def generate(self, request: CharacterRequest) -> Sheet:
        """Draw one character sheet with the blocking v1 call; raises a `SegmindError`."""
        started = time.monotonic()
        answer = await self._transport.call(
            "POST",
            self._base_url + GENERATE_PATH,
            body=request.json_body(),
            time_limit=self._timeout,
            body_limit=MAX_IMAGE_BYTES,
            repeatable=False,
        )
        content_type = await _image_type(answer)
        headers = answer.headers
        return _drew(
            Sheet(
                image=answer.body,
                content_type=content_type,
                seed=_confirmed_seed(headers, request.seed, answer.request_id),
                credits_left=_float_header(headers, "x-remaining-credits"),
                request_id=answer.request_id,
                generation_seconds=_float_header(headers, "x-generation-time"),
                cost=self._plausible_cost(headers, answer.request_id),
                elapsed=time.monotonic() - started,
            )
        )

    async def credits(self) -> Balance:
        """The account's balance; free to call."""
        answer = await self._transport.call(
            "GET",
            self._base_url + CREDITS_PATH,
            time_limit=min(self._timeout, CREDITS_TIMEOUT),
            body_limit=MAX_SMALL_BODY_BYTES,
            repeatable=True,
        )
        return _balance(answer)

    # --- v2 ----------------------------------------------------------------------------------

    async def draw(
        self,
        request: CharacterRequest,
        *,
        on_submitted: OnSubmitted | None = None,
        on_progress: OnProgress | None = None,
    ) -> Sheet:
        """Draw one sheet: submit, then poll until done, then fetch (or `generate` in v1 mode).

        `on_submitted` runs once Segmind has accepted the request (store its id there);
        `on_progress` runs whenever the status changes. Both are skipped in v1 mode.
        """
        deadline = time.monotonic() + self._timeout
        if self.uses_v2:
            try:
                submission = await self.submit(request)
            except AsyncUnavailable:
                log.debug("Drawing with v1: Segmind refused v2 for %s", MODEL)
            else:
                if on_submitted is not None:
                    await on_submitted(submission)
                return await self._wait(submission, on_progress, deadline)
        return await self.generate(request)

    async def submit(self, request: CharacterRequest) -> Submission:
        """Hand the request to Segmind's queue; never sent twice (see transport.py)."""
        mode = self._api
        if mode == "v1":
            raise AsyncUnavailable("the async API is not in use: v1 mode or refused by Segmind")
        submitted_at = datetime.now(UTC)
        try:
            answer = await self._transport.call(
                "POST",
                self._base_url + SUBMIT_PATH,
                body=request.json_body(),
                time_limit=min(self._timeout, QUICK_TIMEOUT),
                body_limit=MAX_SMALL_BODY_BYTES,
                repeatable=False,
            )
        except (NotFound, MethodNotAllowed) as exc:
            if mode != "auto":
                raise
            if self._api == "auto":  # two submits may be refused at once; say it once
                self._api = "v1"
                log.warning(
                    "Segmind refused the async API for %s (%s); using v1 from now on", MODEL, exc
                )
            raise AsyncUnavailable(f"Segmind refused the async API: {exc}") from exc
        submission = parse_submission(
            self._transport.redact_bytes(answer.body),
            origin=self._origin,
            submitted_at=submitted_at,
            seed=request.seed,
            status=answer.status,
        )
        log.info("Segmind accepted request %s (seed %d)", submission.request_id, request.seed)
        return submission

    async def poll(self, submission: Submission) -> Progress:
        """Ask once where the request is; a FAILED answer is returned, not raised."""
        return await self._poll(submission, QUICK_TIMEOUT)

    async def _poll(self, submission: Submission, time_limit: float) -> Progress:
        answer = await self._read(
            submission, submission.status_url, time_limit, MAX_SMALL_BODY_BYTES
        )
        return parse_progress(
            self._transport.redact_bytes(answer.body),
            request_id=submission.request_id,
            status=answer.status,
        )

    async def fetch(self, submission: Submission) -> Sheet:
        """The finished sheet; `SegmindFailed` if it failed, `NotFinished` if not done yet."""
        return await self._fetch(submission, time.monotonic() + self._timeout)

    async def wait(self, submission: Submission, *, on_progress: OnProgress | None = None) -> Sheet:
        """Poll an accepted request until it finishes (at most the client's timeout), then fetch."""
        return await self._wait(submission, on_progress, time.monotonic() + self._timeout)

    async def _wait(
        self, submission: Submission, on_progress: OnProgress | None, deadline: float
    ) -> Sheet:
        interval = self._poll_interval
        last: RequestStatus | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(interval, remaining))
            progress = await self._poll(submission, max(0.001, deadline - time.monotonic()))
            if progress.status != last and on_progress is not None:
                await on_progress(progress)
            last = progress.status
            if progress.status == RequestStatus.FAILED:
                raise SegmindFailed(progress.error or "no reason given", submission.request_id)
            if progress.status == RequestStatus.COMPLETED:
                return await self._with_balance(await self._fetch(submission, deadline))
            interval = min(interval * POLL_GROWTH, self._max_poll_interval)
        raise SegmindTimeout(
            f"Segmind request {submission.request_id} was not finished within {self._timeout:g}s"
            f" (last status {last}); it may still finish and can be polled again",
            request_sent=True,
            request_id=submission.request_id,
        )

    async def _fetch(self, submission: Submission, deadline: float) -> Sheet:
        remaining = max(0.001, deadline - time.monotonic())
        answer = await self._read(submission, submission.response_url, remaining, MAX_RESULT_BYTES)
        if answer.truncated:
            raise UnexpectedResponse(
                answer.status,
                f"result larger than {MAX_RESULT_BYTES // 2**20} MB",
                submission.request_id,
            )
        body = self._transport.redact_bytes(answer.body)
        result = await asyncio.to_thread(
            parse_result,
            body,
            request_id=submission.request_id,
            status=answer.status,
            max_image_bytes=MAX_IMAGE_BYTES,
        )
        image, truncated = result.output.image, False
        if result.output.url is not None:
            download = await self._download(result.output.url, deadline)
            image, truncated = download.body, download.truncated
        content_type = await _checked_image(image, truncated, answer.status, submission.request_id)
        elapsed = (datetime.now(UTC) - submission.submitted_at).total_seconds()
        return _drew(
            Sheet(
                image=image,
                content_type=content_type,
                seed=submission.seed,
                credits_left=_float_header(answer.headers, "x-remaining-credits"),
                request_id=submission.request_id,
                generation_seconds=result.inference_seconds,
                cost=self._plausible_cost(answer.headers, submission.request_id),
                elapsed=max(0.0, elapsed),
            )
        )

    def _plausible_cost(self, headers: Mapping[str, str], request_id: str | None) -> float | None:
        """What Segmind says the sheet cost, if it can be true. A negative or absurd `x-cost`
        would become the expected cost of every later reservation (one answer disabling every
        budget), so it is ignored, logged once, and the sheet counts at its reservation."""
        cost = _float_header(headers, "x-cost")
        if cost is None or 0 <= cost <= MAX_PLAUSIBLE_COST:
            return cost
        if not self._told_implausible_cost:
            self._told_implausible_cost = True
            log.warning(
                "Ignoring x-cost %r from Segmind (request id %s): not between 0 and %g credits; "
                "sheets count at their reservation instead (said once)",
                headers.get("x-cost"),
                request_id,
                MAX_PLAUSIBLE_COST,
            )
        return None

    async def _with_balance(self, sheet: Sheet) -> Sheet:
        """An async result carries no balance header: ask for it (free), so the sheet can show
        the credits left as a v1 sheet does. Without it if Segmind does not answer."""
        if sheet.credits_left is not None:
            return sheet
        try:
            balance = await self.credits()
        except SegmindError as exc:
            log.info("no balance after request %s: %s", sheet.request_id, exc)
            return sheet
        return dataclasses.replace(sheet, credits_left=balance.credits)

    async def _read(
        self, submission: Submission, url: str, time_limit: float, limit: int
    ) -> Answer:
        """GET a status or result URL: repeatable; a 404 past the retention means expired."""
        try:
            return await self._transport.call(
                "GET",
                url,
                time_limit=min(self._timeout, time_limit),
                body_limit=limit,
                repeatable=True,
                is_answer=lambda answer: is_terminal_body(answer.body),
            )
        except NotFound as exc:
            age = (datetime.now(UTC) - submission.submitted_at).total_seconds()
            if age < self._result_retention:
                raise
            raise RequestExpired(
                exc.status,
                f"Segmind keeps results {self._result_retention:g}s; this one was {age:.0f}s old",
                submission.request_id,
            ) from exc
        except SegmindTimeout as exc:
            # A status or result not read in time: Segmind has the request all the same, and it
            # can still be asked for by its id (the one fact a caller needs to follow it up).
            raise SegmindTimeout(
                f"Segmind request {submission.request_id}: {exc.message}; it may still finish "
                "and can be polled again",
                request_sent=True,
                request_id=submission.request_id,
            ) from exc

    async def _download(self, url: str, deadline: float) -> Answer:
        """The output image from its media URL, without the API key (it may be another host)."""
        return await self._transport.call(
            "GET",
            url,
            time_limit=max(0.001, deadline - time.monotonic()),
            body_limit=MAX_IMAGE_BYTES,
            repeatable=True,
            with_key=False,
        )


def _drew(sheet: Sheet) -> Sheet:
    log.info(
        "Segmind drew a sheet in %.1fs (seed %d, request id %s, credits left %s)",
        sheet.elapsed,
        sheet.seed,
        sheet.request_id,
        sheet.credits_left,
    )
    return sheet


async def _image_type(answer: Answer) -> str:
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


def _balance(answer: Answer) -> Balance:
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
