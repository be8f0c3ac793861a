"""The Segmind client against the wire-level fake, through a real aiohttp session."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import logging
import socket
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pydantic import SecretStr, ValidationError

from bot.segmind import (
    DEFAULT_NEGATIVE_PROMPT,
    MAX_SEED,
    AsyncUnavailable,
    AuthError,
    Balance,
    CharacterRequest,
    InsufficientCredits,
    InvalidRequest,
    MethodNotAllowed,
    NotFinished,
    NotFound,
    Progress,
    RateLimited,
    RequestExpired,
    RequestStatus,
    SegmindClient,
    SegmindConnectionError,
    SegmindError,
    SegmindFailed,
    SegmindStatusError,
    SegmindTimeout,
    ServerError,
    Sheet,
    Submission,
    UnexpectedResponse,
    error_for_status,
)
from bot.segmind.errors import parse_reset_at
from tests.fake_segmind import (
    CREDITS_PATH,
    DEFAULT_API_KEY,
    GENERATE_PATH,
    AsyncScript,
    FakeSegmind,
    OutputForm,
    Planned,
    jpeg_magic_then_html,
    png_of_size,
    truncated_jpeg,
)

KEY = DEFAULT_API_KEY
E = TypeVar("E", bound=BaseException)


@cache
def pose_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 180, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


def character(**fields: Any) -> CharacterRequest:
    fields = {"prompt": "a knight in silver armour", "seed": 1234, **fields}
    return CharacterRequest.for_pose(pose_jpeg(), **fields)


def make_client(http: aiohttp.ClientSession, base_url: str, **options: Any) -> SegmindClient:
    settings: dict[str, Any] = {
        "api_key": KEY,
        "base_url": base_url,
        "timeout": 5.0,
        "backoff": 0.01,
        "max_attempts": 3,
        "max_rate_limit_wait": 2.0,
        **options,
    }
    return SegmindClient(http, **settings)


def assert_no_key(exc: BaseException) -> None:
    """The key appears nowhere in the exception, its args, or its formatted chain."""
    texts = [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    for text in texts:
        assert KEY not in text


async def expect(cls: type[E], awaitable: Awaitable[object]) -> E:
    with pytest.raises(cls) as caught:
        await awaitable
    assert_no_key(caught.value)
    return caught.value


@pytest.fixture(autouse=True)
def key_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with DEBUG logging captured, and no log line may contain the key."""
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter()
    for phase in ("setup", "call"):
        for record in caplog.get_records(phase):
            assert KEY not in formatter.format(record)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSegmind]:
    async with FakeSegmind() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(http: aiohttp.ClientSession, fake: FakeSegmind) -> SegmindClient:
    return make_client(http, fake.url)


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A port bound but not listening, so connecting to it is refused and nobody can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- happy path ------------------------------------------------------------------------------


async def test_generate_returns_the_sheet_and_what_segmind_said(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    request = character(seed=4242)

    sheet = await client.generate(request)

    with Image.open(io.BytesIO(sheet.image)) as image:
        assert (image.format, image.size) == ("JPEG", (1536, 1024))
    assert sheet.content_type == "image/jpeg"
    assert sheet.seed == 4242
    assert sheet.credits_left == pytest.approx(10.0 - 0.129)
    assert sheet.cost == pytest.approx(0.129)
    assert sheet.request_id is not None
    uuid.UUID(sheet.request_id)
    assert sheet.generation_seconds is not None
    assert 0 < sheet.elapsed < 5
    [received] = fake.requests
    assert received.headers["x-api-key"] == KEY
    assert received.headers["Content-Type"].startswith("application/json")
    assert received.json == request.model_dump(mode="json")


async def test_each_generation_spends_credits(client: SegmindClient, fake: FakeSegmind) -> None:
    first = await client.generate(character(seed=1))
    second = await client.generate(character(seed=2))

    assert first.credits_left == pytest.approx(10.0 - 0.129)
    assert second.credits_left == pytest.approx(10.0 - 2 * 0.129)
    assert first.image != second.image


async def test_missing_or_garbage_headers_fall_back(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    jpeg = pose_jpeg()
    fake.plan(
        Planned.status(200, jpeg, {"Content-Type": "image/jpeg", "x-remaining-credits": "lots"})
    )

    sheet = await client.generate(character(seed=77))

    assert sheet.image == jpeg
    assert sheet.seed == 77
    assert sheet.credits_left is None
    assert (sheet.request_id, sheet.cost, sheet.generation_seconds) == (None, None, None)


@pytest.mark.parametrize("cost", ["-100", "1e9", "nan", "-0.01"])
async def test_an_implausible_cost_is_not_believed_and_said_once(
    client: SegmindClient, fake: FakeSegmind, caplog: pytest.LogCaptureFixture, cost: str
) -> None:
    jpeg = pose_jpeg()
    answer = Planned.status(200, jpeg, {"Content-Type": "image/jpeg", "x-cost": cost})
    fake.plan(answer, answer)

    first = await client.generate(character(seed=1))
    second = await client.generate(character(seed=2))

    assert (first.cost, second.cost) == (None, None)
    said = [r for r in caplog.records if "Ignoring x-cost" in r.getMessage()]
    assert len(said) == (0 if cost == "nan" else 1)  # NaN is no number at all: unknown


async def test_a_plausible_cost_is_kept(client: SegmindClient, fake: FakeSegmind) -> None:
    answer = Planned.status(200, pose_jpeg(), {"Content-Type": "image/jpeg", "x-cost": "0.42"})
    fake.plan(answer)
    assert (await client.generate(character(seed=1))).cost == pytest.approx(0.42)


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        pytest.param(jpeg_magic_then_html(), "image/jpeg", "do not decode", id="jpeg-magic-html"),
        pytest.param(png_of_size(0, 0), "image/png", "do not decode", id="png-0x0"),
        pytest.param(truncated_jpeg(), "image/jpeg", "do not decode", id="jpeg-cut-in-half"),
        pytest.param(png_of_size(20_000, 20_000), "image/png", "do not decode", id="png-bomb"),
        pytest.param(png_of_size(8_000, 7_000), "image/png", "too large", id="png-56-megapixels"),
        pytest.param(b"GIF89a" + b"\x00" * 64, "image/gif", "do not decode", id="gif-garbage"),
    ],
)
async def test_a_body_that_is_not_a_whole_picture_is_not_a_sheet(
    client: SegmindClient, fake: FakeSegmind, body: bytes, content_type: str, words: str
) -> None:
    fake.plan(Planned.status(200, body, {"Content-Type": content_type, "x-request-id": "req-7"}))

    error = await expect(UnexpectedResponse, client.generate(character()))

    assert error.request_id == "req-7"
    assert error.message.startswith("not a usable image: ")
    assert words in error.message
    assert "<" not in error.message
    assert len(fake.requests) == 1


async def test_image_is_decoded_off_the_event_loop(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    loop_thread = threading.get_ident()
    decoded_in: list[int] = []
    real_load = Image.Image.load

    def spy(self: Image.Image) -> Any:
        decoded_in.append(threading.get_ident())
        return real_load(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image.Image, "load", spy)
        await client.generate(character())

    assert decoded_in
    assert loop_thread not in decoded_in


@pytest.mark.parametrize("echoed", ["-5", "-1", "seven", "1.5e3", "", "4243", " 4242 x"])
async def test_a_seed_header_that_is_not_the_sent_seed_is_ignored(
    client: SegmindClient, fake: FakeSegmind, caplog: pytest.LogCaptureFixture, echoed: str
) -> None:
    headers = {"Content-Type": "image/jpeg", "x-seed-value": echoed}
    fake.plan(Planned.status(200, pose_jpeg(), headers))

    sheet = await client.generate(character(seed=4242))

    assert sheet.seed == 4242
    assert any("Ignoring x-seed-value" in r.getMessage() for r in caplog.records)


async def test_a_seed_header_that_matches_is_accepted_quietly(
    client: SegmindClient, fake: FakeSegmind, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Content-Type": "image/jpeg", "x-seed-value": " 4242 "}
    fake.plan(Planned.status(200, pose_jpeg(), headers))

    sheet = await client.generate(character(seed=4242))

    assert sheet.seed == 4242
    assert not any("x-seed-value" in r.getMessage() for r in caplog.records)


async def test_sheet_repr_leaves_out_the_image(client: SegmindClient) -> None:
    sheet = await client.generate(character())

    assert "image=" not in repr(sheet)
    assert len(repr(sheet)) < 300


# --- the status table and the retry policy -----------------------------------------------------

STATUS_ROWS = [
    pytest.param(Planned.status(401, {"error": "Unauthorized"}), AuthError, 401, 1, id="401"),
    pytest.param(Planned.status(404), NotFound, 404, 1, id="404"),
    pytest.param(Planned.html_405(), MethodNotAllowed, 405, 1, id="405-html"),
    pytest.param(
        Planned.status(406, {"error": "Not enough credits"}), InsufficientCredits, 406, 1, id="406"
    ),
    pytest.param(Planned.status(410), NotFound, 410, 1, id="410"),
    pytest.param(Planned.status(422, {"error": "seed: bad"}), InvalidRequest, 422, 1, id="422"),
    pytest.param(Planned.rate_limited(reset_in=3600), RateLimited, 429, 1, id="429-far"),
    pytest.param(Planned.status(500), ServerError, 500, 2, id="500-retried-once"),
    pytest.param(Planned.status(501), ServerError, 501, 1, id="501"),
    pytest.param(Planned.status(502), ServerError, 502, 1, id="502-may-have-drawn"),
    pytest.param(Planned.status(503), ServerError, 503, 3, id="503"),
    pytest.param(Planned.status(504), ServerError, 504, 1, id="504-may-have-drawn"),
    pytest.param(Planned.status(418), UnexpectedResponse, 418, 1, id="418-unmapped"),
    pytest.param(Planned.not_an_image("html"), UnexpectedResponse, 200, 1, id="200-html"),
    pytest.param(Planned.not_an_image("json"), UnexpectedResponse, 200, 1, id="200-json"),
    pytest.param(
        Planned.status(200, b"\x00" * 64, {"Content-Type": "image/jpeg"}),
        UnexpectedResponse,
        200,
        1,
        id="200-image-type-garbage-bytes",
    ),
]


@pytest.mark.parametrize(("planned", "cls", "status", "requests"), STATUS_ROWS)
async def test_status_table_and_how_often_each_is_tried(
    client: SegmindClient,
    fake: FakeSegmind,
    planned: Planned,
    cls: type[SegmindStatusError],
    status: int,
    requests: int,
) -> None:
    fake.plan(*[planned] * 5)

    error = await expect(cls, client.generate(character()))

    assert type(error) is cls
    assert error.status == status
    assert "<" not in error.message
    assert len(fake.requests) == requests


async def test_method_not_allowed_says_so_instead_of_quoting_html(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.html_405())

    error = await expect(MethodNotAllowed, client.generate(character()))

    assert error.message == "method not allowed"


async def test_error_message_carries_segmind_error_and_request_id(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.status(422, {"error": "strength out of range"}, {"x-request-id": "req-9"}))

    error = await expect(InvalidRequest, client.generate(character()))

    assert "strength out of range" in str(error)
    assert error.request_id == "req-9"
    assert "req-9" in str(error)


async def test_an_echoed_api_key_is_redacted(client: SegmindClient, fake: FakeSegmind) -> None:
    fake.plan(Planned.status(401, {"error": f"Invalid key {KEY}"}))

    error = await expect(AuthError, client.generate(character()))

    assert "[redacted]" in error.message


async def test_near_rate_limit_reset_is_waited_out(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.rate_limited(reset_in=0.3))

    sheet = await client.generate(character())

    assert len(fake.requests) == 2
    assert fake.requests[1].at - fake.requests[0].at >= 0.25
    assert sheet.elapsed >= 0.25


async def test_rate_limit_reset_given_as_epoch_is_understood(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.rate_limited(reset_in=0.1, epoch=True))

    await client.generate(character())

    assert len(fake.requests) == 2


async def test_far_rate_limit_reset_raises_at_once_with_reset_time(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.rate_limited(reset_in=3600))
    started = time.monotonic()

    error = await expect(RateLimited, client.generate(character()))

    assert time.monotonic() - started < 1
    assert error.reset_at is not None
    expected = datetime.now(UTC) + timedelta(seconds=3600)
    assert abs((error.reset_at - expected).total_seconds()) < 5
    assert len(fake.requests) == 1


async def test_rate_limit_without_reset_header_is_not_retried(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.status(429, {"error": "Too many requests"}))

    error = await expect(RateLimited, client.generate(character()))

    assert error.reset_at is None
    assert len(fake.requests) == 1


async def test_server_error_is_retried_exactly_once(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.status(500))

    sheet = await client.generate(character())

    assert sheet.image
    assert len(fake.requests) == 2


async def test_gateway_errors_back_off_exponentially_up_to_max_attempts(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = make_client(http, fake.url, backoff=0.05, max_attempts=4)
    fake.plan(*[Planned.status(503)] * 4)

    await expect(ServerError, client.generate(character()))

    times = [received.at for received in fake.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 4
    for gap, backoff in zip(gaps, (0.05, 0.1, 0.2), strict=True):
        assert gap >= backoff * 0.9


async def test_unavailable_then_success_returns_the_sheet(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.status(503), Planned.status(503))

    sheet = await client.generate(character())

    assert sheet.content_type == "image/jpeg"
    assert len(fake.requests) == 3


@pytest.mark.parametrize("code", [502, 504])
async def test_gateway_error_after_the_body_was_sent_is_not_repeated(
    client: SegmindClient, fake: FakeSegmind, code: int
) -> None:
    # The gateway answered after the request reached it: the sheet may be drawn and billed.
    fake.plan(Planned.status(code))

    error = await expect(ServerError, client.generate(character()))

    assert error.status == code
    assert len(fake.requests) == 1


# --- transport failures ----------------------------------------------------------------------


async def test_connection_dropped_after_sending_is_not_retried(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.drop())

    error = await expect(SegmindConnectionError, client.generate(character()))

    assert error.request_sent
    assert "unknown" in str(error)
    assert isinstance(error.__cause__, aiohttp.ServerDisconnectedError)
    assert len(fake.requests) == 1


async def test_answer_cut_off_mid_image_is_not_retried(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.plan(Planned.truncated())

    error = await expect(SegmindConnectionError, client.generate(character()))

    assert error.request_sent
    assert isinstance(error.__cause__, aiohttp.ClientPayloadError)
    assert len(fake.requests) == 1


async def test_timeout_after_sending_is_not_retried(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = make_client(http, fake.url, timeout=0.5)
    fake.plan(Planned.hang(5))
    started = time.monotonic()

    error = await expect(SegmindTimeout, client.generate(character()))

    assert time.monotonic() - started < 2
    assert error.request_sent
    assert "unknown" in str(error)
    assert isinstance(error.__cause__, TimeoutError)
    assert len(fake.requests) == 1


async def test_slow_answer_within_timeout_succeeds(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = make_client(http, fake.url, timeout=2.0)
    fake.plan(Planned.hang(0.2))

    sheet = await client.generate(character())

    assert sheet.elapsed >= 0.2


async def test_refused_connection_is_retried_up_to_max_attempts(unused_port: int) -> None:
    attempts = 0

    async def count(*_: object) -> None:
        nonlocal attempts
        attempts += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(count)
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        client = make_client(http, f"http://127.0.0.1:{unused_port}", max_attempts=3)

        error = await expect(SegmindConnectionError, client.generate(character()))

    assert not error.request_sent
    assert "not sent" in str(error)
    assert isinstance(error.__cause__, aiohttp.ClientConnectorError)
    assert attempts == 3


# --- the fake's own answers (not scripted) -------------------------------------------------


async def test_wrong_key_is_refused(http: aiohttp.ClientSession, fake: FakeSegmind) -> None:
    client = make_client(http, fake.url, api_key="sk-wrong")

    await expect(AuthError, client.generate(character()))

    assert len(fake.requests) == 1


async def test_too_few_credits_is_refused_without_retry(
    client: SegmindClient, fake: FakeSegmind
) -> None:
    fake.credits = 0.1

    error = await expect(InsufficientCredits, client.generate(character()))

    assert "Not enough credits" in error.message
    assert len(fake.requests) == 1


async def test_unknown_endpoint_is_not_found(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = make_client(http, f"{fake.url}/retired")

    await expect(NotFound, client.generate(character()))


async def test_fake_rejects_what_segmind_rejects(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    body = character().model_dump(mode="json")
    headers = {"x-api-key": KEY}
    url = fake.url + GENERATE_PATH
    cases: list[tuple[dict[str, Any], int]] = [
        ({"json": body | {"steps": 3}}, 422),
        ({"json": {k: v for k, v in body.items() if k != "seed"}}, 422),
        ({"json": body | {"image": base64.b64encode(b"not an image").decode()}}, 422),
        ({"json": body | {"strength": 1.5}}, 422),
        ({"json": body | {"scheduler": "bogus"}}, 500),
        ({"data": b"prompt=hi"}, 406),
    ]
    for kwargs, status in cases:
        async with http.post(url, headers=headers, **kwargs) as response:
            assert response.status == status, kwargs
            assert "error" in await response.json()
    async with http.get(url, headers=headers) as response:
        assert response.status == 405
        assert response.content_type == "text/html"
    assert fake.credits == 10.0


async def test_fake_tracks_concurrency(client: SegmindClient, fake: FakeSegmind) -> None:
    fake.delay = 0.2

    await asyncio.gather(client.generate(character(seed=1)), client.generate(character(seed=2)))

    assert fake.max_in_flight == 2
    assert fake.in_flight == 0


# --- credits -------------------------------------------------------------------------------


async def test_credits_reports_the_balance(client: SegmindClient, fake: FakeSegmind) -> None:
    fake.credits = 3.5

    balance = await client.credits()

    assert balance == Balance(credits=3.5, free_credits=0.0)
    assert balance.total == 3.5
    assert fake.credits_requests == 1
    assert fake.requests == []


async def test_credits_with_wrong_key_is_auth_error(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = make_client(http, fake.url, api_key=SecretStr("sk-wrong"))

    await expect(AuthError, client.credits())

    assert fake.credits_requests == 1


# --- the key stays secret ------------------------------------------------------------------


async def test_key_is_not_in_the_clients_repr_or_attributes(http: aiohttp.ClientSession) -> None:
    client = SegmindClient(http, api_key=KEY)

    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert KEY not in repr(vars(client))


@pytest.mark.parametrize(
    "options",
    [
        {"api_key": ""},
        {"base_url": "api.segmind.com"},
        {"timeout": 0},
        {"max_attempts": 0},
        {"backoff": -1},
        {"poll_interval": 0},
        {"poll_interval": 6, "max_poll_interval": 5},
        {"result_retention": 0},
        {"api": "v3"},
    ],
)
async def test_bad_client_settings_are_refused(
    http: aiohttp.ClientSession, options: dict[str, Any]
) -> None:
    settings: dict[str, Any] = {"api_key": KEY, **options}
    with pytest.raises(ValueError) as caught:
        SegmindClient(http, **settings)
    assert KEY not in str(caught.value)


# --- CharacterRequest ------------------------------------------------------------------------


def test_defaults_follow_the_model_page() -> None:
    body = character().model_dump(mode="json")

    assert body | {"prompt": None, "image": None} == {
        "prompt": None,
        "negative_prompt": DEFAULT_NEGATIVE_PROMPT,
        "image": None,
        "num_inference_steps": 20,
        "guidance_scale": 7.0,
        "seed": 1234,
        "samples": 1,
        "strength": 0.8,
        "scheduler": "karras",
        "sampler": "dpmpp_2m",
        "upscale_by": 2.0,
        "upscale_steps": 20,
        "upscale_guidance_scale": 7.0,
        "upscale_scheduler": "karras",
        "upscale_sampler": "dpmpp_2m",
        "upscale_mode_type": "Linear",
        "fd_steps": 20,
        "fd_guidance_scale": 7.0,
        "fd_scheduler": "karras",
        "fd_sampler": "dpmpp_2m",
    }
    assert base64.b64decode(body["image"]) == pose_jpeg()


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": ""},
        {"prompt": "   "},
        {"prompt": "x" * 2001},
        {"negative_prompt": "x" * 2001},
        {"image": ""},
        {"image": "data:image/jpeg;base64,/9j/4AAQ"},
        {"image": "not base64!"},
        {"image": "not base64!"},
        {"num_inference_steps": 0},
        {"num_inference_steps": 101},
        {"guidance_scale": 0.5},
        {"guidance_scale": 20.5},
        {"seed": -1},
        {"seed": MAX_SEED + 1},
        {"samples": 2},
        {"strength": -0.1},
        {"strength": 1.1},
        {"scheduler": "ddim_uniform"},
        {"sampler": "heun"},
        {"upscale_by": 0.9},
        {"upscale_by": 4.1},
        {"upscale_steps": 0},
        {"upscale_guidance_scale": 21},
        {"upscale_scheduler": "bogus"},
        {"upscale_sampler": "bogus"},
        {"upscale_mode_type": "linear"},
        {"fd_steps": 101},
        {"fd_guidance_scale": 0},
        {"fd_scheduler": "Karras"},
        {"fd_sampler": ""},
        {"width": 1024},
    ],
    ids=lambda fields: next(iter(fields)),
)
def test_character_request_rejects_out_of_range_values(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "prompt": "a knight",
        "seed": 1,
        "image": base64.b64encode(pose_jpeg()).decode(),
    }
    with pytest.raises(ValidationError):
        CharacterRequest(**(base | fields))


def test_a_request_for_a_pose_is_its_fields_as_json() -> None:
    request = CharacterRequest.for_pose(pose_jpeg(), prompt="a knight in a café", seed=7)
    assert json.loads(request.json_body()) == request.model_dump(mode="json")
    assert base64.b64decode(request.image, validate=True) == pose_jpeg()


@pytest.mark.parametrize(
    "fields",
    [
        {"seed": 0},
        {"seed": MAX_SEED},
        {"num_inference_steps": 1, "upscale_steps": 100, "fd_steps": 100},
        {"guidance_scale": 1, "upscale_guidance_scale": 20, "fd_guidance_scale": 20},
        {"strength": 0, "upscale_by": 4},
        {"upscale_mode_type": "None", "scheduler": "sgm_uniform", "sampler": "ddim"},
    ],
)
async def test_character_request_at_the_limits_is_accepted_by_the_fake(
    client: SegmindClient, fields: dict[str, Any]
) -> None:
    sheet = await client.generate(character(**fields))

    assert sheet.content_type == "image/jpeg"


def test_character_request_repr_leaves_out_the_image() -> None:
    request = character()

    assert request.image not in repr(request)
    assert request.image not in str(request)
    assert "a knight in silver armour" in repr(request)


def test_character_request_is_frozen() -> None:
    request = character()

    with pytest.raises(ValidationError):
        request.seed = 5  # type: ignore[misc]


# --- error_for_status, pure ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthError),
        (404, NotFound),
        (405, MethodNotAllowed),
        (406, InsufficientCredits),
        (410, NotFound),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (599, ServerError),
        (200, UnexpectedResponse),
        (302, UnexpectedResponse),
        (400, UnexpectedResponse),
        (418, UnexpectedResponse),
    ],
)
def test_error_for_status_table(status: int, cls: type[SegmindStatusError]) -> None:
    error = error_for_status(status, '{"error": "why"}', {"X-Request-Id": "abc"})

    assert type(error) is cls
    assert isinstance(error, SegmindError)
    assert (error.status, error.request_id) == (status, "abc")


def test_error_for_status_reads_the_rate_limit_reset() -> None:
    error = error_for_status(429, "", {"x-rate-limit-reset-at-utc": "2031-01-02T03:04:05Z"})

    assert isinstance(error, RateLimited)
    assert error.reset_at == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert "2031-01-02T03:04:05" in str(error)


def test_error_for_status_truncates_plain_text_and_hides_html() -> None:
    long = error_for_status(500, "boom " * 500, {})
    html = error_for_status(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {})

    assert len(long.message) < 300
    assert "<" not in html.message
    assert "HTML" in html.message


@given(status=st.integers(100, 599), body=st.text(max_size=600))
def test_error_for_status_always_gives_a_short_one_line_message(status: int, body: str) -> None:
    error = error_for_status(status, body, {})

    assert isinstance(error, SegmindStatusError)
    assert "\n" not in error.message
    assert len(error.message) <= 300


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2031-01-02T03:04:05Z", datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2031-01-02T05:04:05+02:00", datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2031-01-02T03:04:05", datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("1924916645", datetime(2030, 12, 31, 3, 4, 5, tzinfo=UTC)),
        ("1924916645000", datetime(2030, 12, 31, 3, 4, 5, tzinfo=UTC)),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_reset_at(value: str | None, expected: datetime | None) -> None:
    assert parse_reset_at(value) == expected


def test_sheet_is_a_plain_value() -> None:
    sheet = Sheet(b"\xff\xd8\xff", "image/jpeg", 1, None, None, None, None, 0.1)

    assert "\\xff" not in repr(sheet)


def test_public_paths_match_the_fake() -> None:
    from bot.segmind import client as client_module

    assert client_module.GENERATE_PATH == GENERATE_PATH
    assert client_module.CREDITS_PATH == CREDITS_PATH


# --- async (v2): submit, poll, fetch ------------------------------------------------------------


def v2_client(http: aiohttp.ClientSession, fake: FakeSegmind, **options: Any) -> SegmindClient:
    """A client that polls fast: 20 ms rising to 100 ms."""
    settings: dict[str, Any] = {
        "api": "v2",
        "poll_interval": 0.02,
        "max_poll_interval": 0.1,
        **options,
    }
    return make_client(http, fake.url, **settings)


def submission_for(fake: FakeSegmind, request_id: str, *, age: float = 0.0) -> Submission:
    """What the bot would have stored for `request_id`."""
    base = f"{fake.url}/v2/requests/{request_id}"
    submitted_at = datetime.now(UTC) - timedelta(seconds=age)
    return Submission(request_id, f"{base}/status", base, submitted_at, 1234)


async def test_draw_submits_polls_and_fetches_the_sheet(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = v2_client(http, fake)
    # Each status lasts several polls: a window of 50 ms (once here) was shorter than a poll's
    # delay on a loaded machine, and QUEUED was never seen.
    fake.plan_async(AsyncScript(queued=0.3, processing=0.3))
    submitted: list[Submission] = []
    seen: list[Progress] = []

    async def on_submitted(submission: Submission) -> None:
        submitted.append(submission)

    async def on_progress(progress: Progress) -> None:
        seen.append(progress)

    sheet = await client.draw(
        character(seed=4242), on_submitted=on_submitted, on_progress=on_progress
    )

    [submission] = submitted
    with Image.open(io.BytesIO(sheet.image)) as image:
        assert (image.format, image.size) == ("JPEG", (1536, 1024))
    assert (sheet.content_type, sheet.seed) == ("image/jpeg", 4242)
    assert sheet.request_id == submission.request_id
    assert sheet.generation_seconds == pytest.approx(0.3)
    assert 0.6 <= sheet.elapsed < 3
    assert submission.submitted_at.tzinfo is not None
    assert [p.status for p in seen] == ["QUEUED", "PROCESSING", "COMPLETED"]
    assert seen[-1].inference_seconds == pytest.approx(0.3)
    [received] = fake.submits
    assert received.json == character(seed=4242).model_dump(mode="json")
    assert received.headers["x-api-key"] == KEY
    assert fake.requests == []  # not a single v1 call
    assert len(fake.result_fetches) == 1
    assert all(lookup.with_key for lookup in fake.status_polls + fake.result_fetches)
    assert fake.credits == pytest.approx(10.0 - 0.129)


async def test_steps_can_be_taken_one_at_a_time_and_resumed_by_another_client(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    fake.plan_async(AsyncScript(processing=0.3))
    submission = await v2_client(http, fake).submit(character())

    progress = await v2_client(http, fake).poll(submission)
    early = await expect(NotFinished, v2_client(http, fake).fetch(submission))
    # What a restarted bot does with the stored fields.
    stored = Submission(**vars(submission))
    sheet = await v2_client(http, fake).wait(stored)

    assert progress == Progress(RequestStatus.PROCESSING, submission.request_id)
    assert (early.status, early.request_id) == ("PROCESSING", submission.request_id)
    assert sheet.request_id == submission.request_id
    assert sheet.seed == 1234
    assert len(fake.submits) == 1


@pytest.mark.parametrize("code", [200, 422])
async def test_a_failed_request_raises_segmind_failed_with_its_reason(
    http: aiohttp.ClientSession, fake: FakeSegmind, code: int
) -> None:
    client = v2_client(http, fake)
    fake.plan_async(AsyncScript(processing=0.05, error="NSFW content detected", failed_code=code))

    error = await expect(SegmindFailed, client.draw(character()))
    [submit] = fake.async_requests
    progress = await client.poll(submission_for(fake, submit))
    again = await expect(SegmindFailed, client.fetch(submission_for(fake, submit)))

    assert error.message == again.message == "NSFW content detected"
    assert error.request_id == submit
    assert "NSFW content detected" in str(error)
    assert progress.status == RequestStatus.FAILED
    assert progress.error == "NSFW content detected"
    assert fake.credits == 10.0  # not billed
    assert fake.result_fetches[0].at > fake.status_polls[0].at  # fetch only by hand
    assert len(fake.result_fetches) == 1


async def test_an_expired_request_is_told_apart_from_an_unknown_one(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeSegmind(retention=0.2) as fake:
        client = v2_client(http, fake, result_retention=0.2)
        submission = await client.submit(character())
        await asyncio.sleep(0.25)

        expired = await expect(RequestExpired, client.poll(submission))
        also = await expect(RequestExpired, client.fetch(submission))

    assert isinstance(expired, NotFound)
    assert (expired.status, expired.request_id) == (404, submission.request_id)
    assert also.request_id == submission.request_id
    assert len(fake.status_polls) == 1  # a 404 is an answer, not retried


async def test_an_unknown_request_id_is_not_found(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = v2_client(http, fake)
    stranger = submission_for(fake, str(uuid.uuid4()))

    error = await expect(NotFound, client.poll(stranger))
    await expect(NotFound, client.fetch(stranger))

    assert type(error) is NotFound
    assert "Request not found" in error.message
    assert len(fake.status_polls) == 1


@pytest.mark.parametrize(
    "planned",
    [
        pytest.param(Planned.lost(), id="answer-lost"),
        pytest.param(Planned.status(502), id="502"),
        pytest.param(Planned.status(504), id="504"),
    ],
)
async def test_a_submit_that_may_have_been_queued_is_never_sent_again(
    http: aiohttp.ClientSession, fake: FakeSegmind, planned: Planned
) -> None:
    fake.plan_submit(planned, planned)

    with pytest.raises(SegmindError) as caught:
        await v2_client(http, fake).draw(character())

    assert isinstance(caught.value, SegmindConnectionError | ServerError)
    if isinstance(caught.value, SegmindConnectionError):
        assert caught.value.request_sent
    assert len(fake.submits) == 1
    assert fake.requests == []  # and no v1 call behind its back


async def test_a_submit_refused_before_it_was_queued_is_sent_again(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    fake.plan_submit(Planned.status(503))

    await v2_client(http, fake).draw(character())

    assert len(fake.submits) == 2
    assert len(fake.async_requests) == 1


async def test_status_and_result_reads_are_retried_after_errors(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    fake.plan_status(Planned.status(502), Planned.drop())
    fake.plan_result(Planned.status(500), Planned.hang(0.05))

    sheet = await v2_client(http, fake).draw(character())

    assert sheet.image
    assert len(fake.status_polls) == 3
    assert len(fake.result_fetches) == 2


async def test_status_errors_that_persist_are_raised(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    fake.plan_status(*[Planned.status(503)] * 3)

    await expect(ServerError, v2_client(http, fake, max_attempts=3).draw(character()))

    assert len(fake.status_polls) == 3


async def test_polling_backs_off_and_never_busy_loops(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = v2_client(http, fake, poll_interval=0.05, max_poll_interval=0.2)
    fake.plan_async(AsyncScript(queued=0.2, processing=0.6))

    await client.draw(character())

    times = [lookup.at for lookup in fake.status_polls]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Sleeps of 0.05, 0.075, 0.11, 0.17, 0.2, 0.2, ... reach 0.8 s at the 7th poll (fewer
    # when the machine is slow, never more).
    assert 4 <= len(times) <= 8
    assert min(gaps) >= 0.07
    assert max(gaps) <= 0.45
    assert gaps[-1] > gaps[0]


async def test_polling_stops_at_the_clients_timeout(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = v2_client(http, fake, timeout=0.4, max_poll_interval=0.1)
    fake.plan_async(AsyncScript(processing=30))
    started = time.monotonic()

    error = await expect(SegmindTimeout, client.draw(character()))

    assert time.monotonic() - started < 1.5
    assert error.request_sent
    [request_id] = fake.async_requests
    assert error.request_id == request_id
    assert 2 <= len(fake.status_polls) <= 8


async def test_a_status_poll_cut_off_by_the_timeout_still_names_the_request(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    # Seen on a loaded machine: the last poll got what little time was left and timed out in
    # the transport, and the error lost the request id a restart needs to follow it up.
    client = v2_client(http, fake, timeout=0.4, max_poll_interval=0.1)
    fake.plan_async(AsyncScript(processing=30))
    fake.plan_status(*[Planned.hang(5)] * 10)  # every poll hangs past the deadline

    error = await expect(SegmindTimeout, client.draw(character()))

    assert error.request_sent
    [request_id] = fake.async_requests
    assert error.request_id == request_id


@pytest.mark.parametrize(
    ("form", "downloads"), [("url", 1), ("list", 1), ("data_uri", 0), ("base64", 0)]
)
async def test_the_output_may_be_a_url_a_list_a_data_uri_or_base64(
    http: aiohttp.ClientSession, fake: FakeSegmind, form: OutputForm, downloads: int
) -> None:
    fake.plan_async(AsyncScript(output=form))

    sheet = await v2_client(http, fake).draw(character(seed=99))

    [queued] = fake.async_requests.values()
    assert sheet.image == queued.image
    assert sheet.content_type == "image/jpeg"
    assert len(fake.downloads) == downloads
    assert not any(lookup.with_key for lookup in fake.downloads)  # a media host gets no key


@pytest.mark.parametrize("form", ["url", "base64"])
async def test_an_output_that_is_not_a_whole_picture_is_not_a_sheet(
    http: aiohttp.ClientSession, fake: FakeSegmind, form: OutputForm
) -> None:
    fake.plan_async(AsyncScript(output=form, image=jpeg_magic_then_html()))

    error = await expect(UnexpectedResponse, v2_client(http, fake).draw(character()))

    [request_id] = fake.async_requests
    assert error.request_id == request_id
    assert "not a usable image" in error.message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"status": "QUEUED"}, id="no-request-id"),
        pytest.param({"request_id": "r1", "status_url": "/s", "response_url": "/r"}, id="relative"),
        pytest.param(
            {
                "request_id": "r1",
                "status_url": "https://elsewhere.example/v2/requests/r1/status",
                "response_url": "https://elsewhere.example/v2/requests/r1",
            },
            id="another-host",
        ),
    ],
)
async def test_a_submit_answer_without_usable_urls_is_never_polled(
    http: aiohttp.ClientSession, fake: FakeSegmind, body: dict[str, Any]
) -> None:
    fake.plan_submit(Planned.status(200, body))

    await expect(UnexpectedResponse, v2_client(http, fake).draw(character()))

    assert fake.status_polls == []
    assert len(fake.submits) == 1


async def test_auto_mode_falls_back_to_v1_for_good_when_v2_is_refused(
    http: aiohttp.ClientSession, fake: FakeSegmind, caplog: pytest.LogCaptureFixture
) -> None:
    client = v2_client(http, fake, api="auto")
    fake.v2_available = False

    first = await client.draw(character(seed=1))
    second = await client.draw(character(seed=2))
    refused = await expect(AsyncUnavailable, client.submit(character()))

    assert (first.seed, second.seed) == (1, 2)
    assert len(fake.submits) == 1
    assert len(fake.requests) == 2
    assert not client.uses_v2
    assert "not in use" in str(refused)
    fallbacks = [r for r in caplog.records if "using v1 from now on" in r.getMessage()]
    assert len(fallbacks) == 1


async def test_auto_mode_says_once_when_many_submits_are_refused_together(
    http: aiohttp.ClientSession, fake: FakeSegmind, caplog: pytest.LogCaptureFixture
) -> None:
    client = v2_client(http, fake, api="auto")
    fake.v2_available = False

    sheets = await asyncio.gather(*(client.draw(character(seed=n)) for n in range(3)))

    assert [sheet.seed for sheet in sheets] == [0, 1, 2]
    assert len(fake.requests) == 3
    fallbacks = [r for r in caplog.records if "using v1 from now on" in r.getMessage()]
    assert len(fallbacks) == 1


async def test_v2_mode_does_not_fall_back(http: aiohttp.ClientSession, fake: FakeSegmind) -> None:
    fake.v2_available = False

    await expect(NotFound, v2_client(http, fake, api="v2").draw(character()))

    assert fake.requests == []


async def test_v1_mode_draws_with_the_blocking_call(
    http: aiohttp.ClientSession, fake: FakeSegmind
) -> None:
    client = v2_client(http, fake, api="v1")
    called: list[object] = []

    async def record(item: object) -> None:
        called.append(item)

    sheet = await client.draw(character(seed=5), on_submitted=record, on_progress=record)

    assert sheet.seed == 5
    assert (len(fake.requests), fake.submits, called) == (1, [], [])
    await expect(AsyncUnavailable, client.submit(character()))
