"""Shared fixtures: the wire-level fakes, and the real bot run against them (see harness.py).

`harness` runs the bot in the test's own event loop, or, for a test marked
`@pytest.mark.process`, as its own process (`python -m bot`): the tier for what only a process
shows (SIGKILL, real signals, restarts across processes).

`redis_server` is a real redis-server, one per test process (each xdist worker has its own);
`redis_url` empties it before the test and gives its URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import hypothesis
import pytest

from tests.fake_discord import FakeDiscord
from tests.fake_segmind import FakeSegmind
from tests.harness import BotInLoop, BotProcess, Harness
from tests.redis_server import RedisServer

FAILED = pytest.StashKey[bool]()

# The property tests check what is true, not how fast: Hypothesis's 200 ms deadline per example
# failed one of them on a loaded machine ("unreliable test timings"), and a deadline is no part
# of what they prove.
hypothesis.settings.register_profile("suite", deadline=None)
hypothesis.settings.load_profile("suite")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


def _show_logs_if_failed(request: pytest.FixtureRequest, h: Harness) -> None:
    # Printed at teardown, so pytest shows every bot's log (processes' too) beside the failure.
    if request.node.stash.get(FAILED, False):
        print(f"--- the bots' logs ---\n{h.logs}")


@pytest.fixture
async def segmind() -> AsyncIterator[FakeSegmind]:
    async with FakeSegmind() as fake:
        yield fake


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    discord_fake: FakeDiscord,
    segmind: FakeSegmind,
) -> AsyncIterator[Harness]:
    """Both fakes and the bot: in this event loop, or as a process for `mark.process` tests."""
    runner = BotProcess if request.node.get_closest_marker("process") else BotInLoop
    h = Harness(tmp_path, discord_fake, segmind, runner)
    try:
        yield h
    finally:
        await h.stop_all()
        _show_logs_if_failed(request, h)
    h.assert_nothing_leaked()


@pytest.fixture
async def shared_harness(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    discord_fake: FakeDiscord,
    segmind: FakeSegmind,
    redis_url: str,
) -> AsyncIterator[Harness]:
    """As `harness`, with every bot it starts sharing its state in a real Redis."""
    runner = BotProcess if request.node.get_closest_marker("process") else BotInLoop
    h = Harness(tmp_path, discord_fake, segmind, runner, redis_url=redis_url)
    try:
        yield h
    finally:
        await h.stop_all()
        _show_logs_if_failed(request, h)
    h.assert_nothing_leaked()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for this test process, started when a test first asks for it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis (flushed before the test)."""
    redis_server.reset()
    return redis_server.url
