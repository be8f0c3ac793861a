"""A wire-level fake of Segmind's API on 127.0.0.1, strict about what it accepts.

It answers like /work/shared/notes/segmind-api.md describes: 401 for a bad `x-api-key`, 406 for a
wrong Content-Type or too few credits, 422 for a bad body, 500 for an unknown enum value (the real
service passes those to the model), a 405 HTML page for a wrong method, and a real JPEG otherwise.
Tests script failures with `plan(...)`; each generate request consumes one planned answer.

The async (v2) API is served beside it: `POST /v2/<model>` queues a request whose course
(seconds QUEUED, seconds PROCESSING, then COMPLETED or FAILED, and the form of its output) is
scripted with `plan_async(AsyncScript(...))`; status and result are kept `retention` seconds.
`plan_submit`, `plan_status` and `plan_result` script transport failures of each endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import math
import random
import socket
import struct
import time
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web
from multidict import CIMultiDictProxy
from PIL import Image, ImageDraw

DEFAULT_API_KEY = "sk-test-FAKEKEY-0123456789"
MODEL = "consistent-character-ai-neolemon"
GENERATE_PATH = f"/v1/{MODEL}"
SUBMIT_PATH = f"/v2/{MODEL}"
CREDITS_PATH = "/v1/get-user-credits"
MAX_SEED = 999_999_999_999_999

# The names ComfyUI accepts, which is what the real service accepts; wider than the client's subset.
SCHEDULERS = frozenset(
    {"normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"}
)
SAMPLERS = frozenset(
    {
        "euler",
        "euler_ancestral",
        "heun",
        "dpm_2",
        "dpm_2_ancestral",
        "lms",
        "dpmpp_2s_ancestral",
        "dpmpp_sde",
        "dpmpp_2m",
        "dpmpp_2m_sde",
        "dpmpp_3m_sde",
        "ddim",
        "uni_pc",
    }
)
UPSCALE_MODES = frozenset({"Linear", "Chess", "None"})

INT_RANGES: Mapping[str, tuple[int, int]] = {
    "num_inference_steps": (1, 100),
    "seed": (-1, MAX_SEED),
    "samples": (1, 4),
    "upscale_steps": (1, 100),
    "fd_steps": (1, 100),
}
FLOAT_RANGES: Mapping[str, tuple[float, float]] = {
    "guidance_scale": (1, 20),
    "strength": (0, 1),
    "upscale_by": (1, 4),
    "upscale_guidance_scale": (1, 20),
    "fd_guidance_scale": (1, 20),
}
ENUMS: Mapping[str, frozenset[str]] = {
    "scheduler": SCHEDULERS,
    "sampler": SAMPLERS,
    "upscale_scheduler": SCHEDULERS,
    "upscale_sampler": SAMPLERS,
    "upscale_mode_type": UPSCALE_MODES,
    "fd_scheduler": SCHEDULERS,
    "fd_sampler": SAMPLERS,
}
STRINGS = ("prompt", "negative_prompt", "image")
REQUIRED_FIELDS = frozenset({*STRINGS, *INT_RANGES, *FLOAT_RANGES, *ENUMS})

HTML_405 = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Error</title></head>\n'
    "<body><pre>Cannot {method} {path}</pre></body>\n</html>\n"
)

PlannedKind = Literal["status", "rate_limited", "drop", "lost", "truncated", "hang"]
OutputForm = Literal["url", "list", "data_uri", "base64"]


@dataclass(frozen=True)
class Received:
    """One generate request as the fake saw it."""

    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any  # None when the body was not JSON
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True)
class Planned:
    """A scripted answer for the next generate request; build one with the static helpers."""

    kind: PlannedKind
    code: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    reset_in: float = 0.0
    epoch: bool = False

    @staticmethod
    def status(
        code: int,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Planned:
        """Answer `code`; the body defaults to Segmind's `{"error": ...}` JSON."""
        if body is None:
            body = {"error": HTTPStatus(code).phrase}
        if isinstance(body, Mapping):
            data, content_type = json.dumps(body).encode(), "application/json"
        elif isinstance(body, str):
            data, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = body, "application/octet-stream"
        return Planned("status", code, data, {"Content-Type": content_type, **(headers or {})})

    @staticmethod
    def rate_limited(reset_in: float, *, epoch: bool = False) -> Planned:
        """429 with `x-rate-limit-reset-at-utc` `reset_in` seconds ahead (ISO-8601 or epoch)."""
        return Planned("rate_limited", 429, reset_in=reset_in, epoch=epoch)

    @staticmethod
    def drop() -> Planned:
        """Read the request, then close the connection without answering."""
        return Planned("drop")

    @staticmethod
    def lost() -> Planned:
        """Do the work (queue, draw, bill), then close the connection instead of answering."""
        return Planned("lost")

    @staticmethod
    def truncated() -> Planned:
        """Start a 200 image answer, then close the connection halfway through the body."""
        return Planned("truncated")

    @staticmethod
    def hang(seconds: float) -> Planned:
        """Wait `seconds` (or until the fake stops), then answer normally."""
        return Planned("hang", seconds=seconds)

    @staticmethod
    def not_an_image(kind: Literal["html", "json"] = "html") -> Planned:
        """A 200 whose body is an HTML page or a JSON document instead of an image."""
        if kind == "json":
            return Planned.status(200, {"status": "ok", "image": None})
        return Planned.status(
            200, "<html><body>Service update</body></html>", {"Content-Type": "text/html"}
        )

    @staticmethod
    def image_bytes(data: bytes, content_type: str = "image/jpeg") -> Planned:
        """A 200 declaring an image, with `data` as its body (see `jpeg_magic_then_html` etc.)."""
        return Planned.status(200, data, {"Content-Type": content_type})

    @staticmethod
    def html_405() -> Planned:
        """The HTML page Segmind sends for a wrong method."""
        page = HTML_405.format(method="POST", path=GENERATE_PATH)
        return Planned.status(405, page, {"Content-Type": "text/html; charset=utf-8"})


@dataclass(frozen=True)
class AsyncScript:
    """How one submitted async request goes: seconds QUEUED, seconds PROCESSING, then the end."""

    queued: float = 0.0
    processing: float = 0.0
    error: str | None = None  # FAILED with this message instead of COMPLETED
    failed_code: int = 200  # the HTTP status FAILED bodies come with (Segmind also sends 422)
    output: OutputForm = "url"
    image: bytes | None = None  # what the output carries instead of the drawn sheet


@dataclass(frozen=True)
class AsyncRequest:
    """One queued async request as the fake keeps it."""

    request_id: str
    script: AsyncScript
    created: float  # time.monotonic()
    image: bytes

    def status(self, now: float) -> str:
        age = now - self.created
        if age < self.script.queued:
            return "QUEUED"
        if age < self.script.queued + self.script.processing:
            return "PROCESSING"
        return "FAILED" if self.script.error is not None else "COMPLETED"


@dataclass(frozen=True)
class Lookup:
    """One status poll, result fetch or output download: which request, and when."""

    request_id: str
    at: float  # time.monotonic()
    with_key: bool  # whether the request carried an x-api-key header


class FakeSegmind:
    """Serves the generate and credits endpoints on 127.0.0.1 and records what it received."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        credits: float = 10.0,
        cost: float = 0.129,
        delay: float = 0.0,
        image_size: tuple[int, int] = (1536, 1024),
        retention: float = 3600.0,
    ) -> None:
        self.api_key = api_key
        self.credits = credits
        self.cost = cost
        self.delay = delay
        self.image_size = image_size
        self.url = ""
        self.requests: list[Received] = []
        self.credits_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._planned: deque[Planned] = deque()
        # The async (v2) API.
        self.retention = retention
        self.v2_available = True  # False: "v2 unavailable for this model", a 404 on submit
        self.async_script = AsyncScript()
        self.async_requests: dict[str, AsyncRequest] = {}
        self.submits: list[Received] = []
        self.status_polls: list[Lookup] = []
        self.result_fetches: list[Lookup] = []
        self.downloads: list[Lookup] = []
        self._async_planned: deque[AsyncScript] = deque()
        self._submit_planned: deque[Planned] = deque()
        self._status_planned: deque[Planned] = deque()
        self._result_planned: deque[Planned] = deque()
        self._rendered: dict[int, bytes] = {}
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", GENERATE_PATH, self._generate_route)
        app.router.add_route("*", CREDITS_PATH, self._credits_route)
        app.router.add_route("*", SUBMIT_PATH, self._submit_route)
        app.router.add_get("/v2/requests/{id}/status", self._status_route)
        app.router.add_get("/v2/requests/{id}", self._result_route)
        app.router.add_get("/v2/outputs/{id}", self._output_route)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1 and set `url`."""
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        """Release hanging requests and shut the server down."""
        self._stopping.set()
        await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def plan(self, *responses: Planned) -> None:
        """Queue scripted answers, consumed first in, first out by generate requests."""
        self._planned.extend(responses)

    def plan_async(self, *scripts: AsyncScript) -> None:
        """Queue the courses of the next async requests (else `async_script` applies)."""
        self._async_planned.extend(scripts)

    def plan_submit(self, *responses: Planned) -> None:
        """Queue scripted answers for async submits."""
        self._submit_planned.extend(responses)

    def plan_status(self, *responses: Planned) -> None:
        """Queue scripted answers for status polls."""
        self._status_planned.extend(responses)

    def plan_result(self, *responses: Planned) -> None:
        """Queue scripted answers for result fetches."""
        self._result_planned.extend(responses)

    def output_url(self, request_id: str) -> str:
        """Where the fake serves a request's image (no API key needed, like a media host)."""
        return f"{self.url}/v2/outputs/{request_id}.jpg"

    # --- routes -----------------------------------------------------------------------------

    async def _generate_route(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _html_405(request)
        body = await request.read()
        self.requests.append(Received(request.headers, body, _json_or_none(body), time.monotonic()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._planned:
                return await self._scripted(
                    self._planned.popleft(), request, lambda: self._generate(request, body)
                )
            return await self._generate(request, body)
        finally:
            self.in_flight -= 1

    async def _credits_route(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return _html_405(request)
        self.credits_requests += 1
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "Unauthorized, please check your API key")
        return web.json_response({"credits": self.credits, "free-credits": 0.0})

    async def _unknown_route(self, request: web.Request) -> web.StreamResponse:
        return _error(404, f"Model or path not found: {request.path}")

    # --- generate -----------------------------------------------------------------------------

    async def _refusal(self, request: web.Request, body: bytes) -> web.Response | None:
        """What Segmind answers a generate or submit body it will not run, or None."""
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "Unauthorized, please check your API key")
        if request.content_type != "application/json":
            return _error(406, "Content-Type must be application/json")
        payload = _json_or_none(body)
        if not isinstance(payload, dict):
            return _error(422, "The body must be a JSON object")
        problem = _field_problem(payload)
        if problem is None and not await asyncio.to_thread(_is_image_base64, payload["image"]):
            problem = "image must be a URL or base64 of an image file"
        if problem is not None:
            return _error(422, problem)
        return None

    async def _generate(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if refusal := await self._refusal(request, body):
            return refusal
        payload = json.loads(body)
        if unknown := _unknown_enum(payload):
            # The service hands enum values to the ComfyUI workflow, which fails with a 500.
            return _error(500, f"Workflow failed: value not in list: {unknown}")
        if self.credits < self.cost:
            return _error(406, "Not enough credits")
        started = time.monotonic()
        await self._wait(self.delay)
        seed = payload["seed"] if payload["seed"] != -1 else random.randint(0, MAX_SEED)
        image = await self._render(seed)
        self.credits = round(self.credits - self.cost, 6)
        headers = {
            "x-remaining-credits": str(self.credits),
            "x-cost": str(self.cost),
            "x-seed-value": str(seed),
            "x-request-id": str(uuid.uuid4()),
            "x-generation-time": f"{time.monotonic() - started:.3f}",
        }
        return web.Response(body=image, content_type="image/jpeg", headers=headers)

    async def _scripted(
        self,
        planned: Planned,
        request: web.Request,
        proceed: Callable[[], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if planned.kind == "hang":
            await self._wait(planned.seconds)
            return await proceed()
        if planned.kind == "drop":
            _abort(request)
            return web.Response()
        if planned.kind == "lost":
            await proceed()
            _abort(request)
            return web.Response()
        if planned.kind == "truncated":
            image = await self._render(0)
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            response.content_length = len(image)
            await response.prepare(request)
            await response.write(image[: len(image) // 2])
            _abort(request)
            return response
        if planned.kind == "rate_limited":
            return _error(429, "Rate limit exceeded", _reset_header(planned))
        return web.Response(status=planned.code, body=planned.body, headers=planned.headers)

    # --- async (v2) -----------------------------------------------------------------------------

    async def _submit_route(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _html_405(request)
        body = await request.read()
        self.submits.append(Received(request.headers, body, _json_or_none(body), time.monotonic()))
        if self._submit_planned:
            return await self._scripted(
                self._submit_planned.popleft(), request, lambda: self._submit(request, body)
            )
        return await self._submit(request, body)

    async def _submit(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if refusal := await self._refusal(request, body):
            return refusal
        if not self.v2_available:
            return _error(404, f"Model {MODEL} is not available in async mode")
        payload = json.loads(body)
        script = self._async_planned.popleft() if self._async_planned else self.async_script
        if script.error is None and (unknown := _unknown_enum(payload)):
            script = replace(script, error=f"Workflow failed: value not in list: {unknown}")
        if script.error is None:  # FAILED requests are not billed
            if self.credits < self.cost:
                return _error(406, "Not enough credits")
            self.credits = round(self.credits - self.cost, 6)
        seed = payload["seed"] if payload["seed"] != -1 else random.randint(0, MAX_SEED)
        image = script.image if script.image is not None else await self._render(seed)
        request_id = str(uuid.uuid4())
        self.async_requests[request_id] = AsyncRequest(request_id, script, time.monotonic(), image)
        base = f"{self.url}/v2/requests/{request_id}"
        return web.json_response(
            {
                "request_id": request_id,
                "status": "QUEUED",
                "poll_url": f"{self.url}/v1/requests/{request_id}",
                "status_url": f"{base}/status",
                "response_url": base,
            }
        )

    async def _status_route(self, request: web.Request) -> web.StreamResponse:
        request_id = request.match_info["id"]
        self.status_polls.append(_lookup(request, request_id))
        answer = self._async_answer(request, request_id, with_output=False)
        if self._status_planned:
            return await self._scripted(self._status_planned.popleft(), request, answer)
        return await answer()

    async def _result_route(self, request: web.Request) -> web.StreamResponse:
        request_id = request.match_info["id"]
        self.result_fetches.append(_lookup(request, request_id))
        answer = self._async_answer(request, request_id, with_output=True)
        if self._result_planned:
            return await self._scripted(self._result_planned.popleft(), request, answer)
        return await answer()

    def _async_answer(
        self, request: web.Request, request_id: str, *, with_output: bool
    ) -> Callable[[], Awaitable[web.StreamResponse]]:
        async def answer() -> web.StreamResponse:
            if request.headers.get("x-api-key") != self.api_key:
                return _error(401, "Unauthorized, please check your API key")
            queued = self._live(request_id)
            if queued is None:
                return _error(404, "Request not found")
            status = queued.status(time.monotonic())
            body: dict[str, Any] = {"request_id": request_id, "status": status}
            if status in ("COMPLETED", "FAILED"):
                body["metrics"] = {"inference_time": queued.script.processing}
            if status == "FAILED":
                body["error"] = queued.script.error
                return web.json_response(body, status=queued.script.failed_code)
            if with_output:
                body["error"] = None
                body["output"] = self._output(queued) if status == "COMPLETED" else None
            return web.json_response(body)

        return answer

    async def _output_route(self, request: web.Request) -> web.StreamResponse:
        request_id = request.match_info["id"].removesuffix(".jpg")
        self.downloads.append(_lookup(request, request_id))
        queued = self.async_requests.get(request_id)
        if queued is None:
            return _error(404, "No such object")
        return web.Response(body=queued.image, content_type="image/jpeg")

    def _live(self, request_id: str) -> AsyncRequest | None:
        """The request, unless unknown or older than the retention (Segmind answers 404)."""
        queued = self.async_requests.get(request_id)
        if queued is None or time.monotonic() - queued.created >= self.retention:
            return None
        return queued

    def _output(self, queued: AsyncRequest) -> str | list[str]:
        encoded = base64.b64encode(queued.image).decode("ascii")
        form = queued.script.output
        if form == "list":
            return [self.output_url(queued.request_id)]
        if form == "data_uri":
            return f"data:image/jpeg;base64,{encoded}"
        if form == "base64":
            return encoded
        return self.output_url(queued.request_id)

    async def _wait(self, seconds: float) -> None:
        """Sleep, but end early when the fake stops so shutdown never waits on a hang."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _render(self, seed: int) -> bytes:
        if seed not in self._rendered:
            self._rendered[seed] = await asyncio.to_thread(_render_sheet, seed, self.image_size)
        return self._rendered[seed]


def jpeg_magic_then_html() -> bytes:
    """A body that starts like a JPEG and goes on as an HTML page (a proxy's error page)."""
    return b"\xff\xd8\xff\xe0" + b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def png_of_size(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` and whose pixel data is empty."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    """The first half of a real JPEG: the magic, the header and half the scan."""
    image = _render_sheet(7, (256, 192))
    return image[: len(image) // 2]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _field_problem(payload: Mapping[str, Any]) -> str | None:
    """The first thing wrong with the body's fields and ranges, as Segmind's 422 would say."""
    if missing := sorted(REQUIRED_FIELDS - payload.keys()):
        return f"Missing required parameters: {', '.join(missing)}"
    if unknown := sorted(payload.keys() - REQUIRED_FIELDS):
        return f"Unknown parameters: {', '.join(unknown)}"
    for name in STRINGS:
        if not isinstance(payload[name], str):
            return f"{name} must be a string"
    if not payload["prompt"].strip():
        return "prompt must not be empty"
    for name, (low, high) in INT_RANGES.items():
        integer = payload[name]
        if isinstance(integer, bool) or not isinstance(integer, int) or not low <= integer <= high:
            return f"{name} must be an integer from {low} to {high}"
    for name, (bottom, top) in FLOAT_RANGES.items():
        number = payload[name]
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
            or not bottom <= number <= top
        ):
            return f"{name} must be a number from {bottom} to {top}"
    for name in ENUMS:
        if not isinstance(payload[name], str):
            return f"{name} must be a string"
    return None


def _unknown_enum(payload: Mapping[str, Any]) -> str | None:
    for name, allowed in ENUMS.items():
        if payload[name] not in allowed:
            return f"{name}={payload[name]!r}"
    return None


def _is_image_base64(text: str) -> bool:
    try:
        data = base64.b64decode(text, validate=True)
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (binascii.Error, ValueError, OSError, SyntaxError):
        return False
    return True


def _render_sheet(seed: int, size: tuple[int, int]) -> bytes:
    """A JPEG whose colours depend on the seed: three 'views' of a character on a backdrop."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for view in range(3):
        left = width * view // 3 + width // 12
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((left, height // 8, left + width // 6, height // 3), fill=colour)
        draw.rectangle((left, height // 3, left + width // 6, height * 7 // 8), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _html_405(request: web.Request) -> web.Response:
    page = HTML_405.format(method=request.method, path=request.path)
    return web.Response(status=405, text=page, content_type="text/html")


def _reset_header(planned: Planned) -> dict[str, str]:
    reset = datetime.now(UTC) + timedelta(seconds=planned.reset_in)
    value = f"{reset.timestamp():.3f}" if planned.epoch else reset.isoformat()
    return {"x-rate-limit-reset-at-utc": value}


def _lookup(request: web.Request, request_id: str) -> Lookup:
    return Lookup(request_id, time.monotonic(), "x-api-key" in request.headers)


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
