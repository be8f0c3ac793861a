"""The job engine's lifecycle in process: the real `Jobs`, `Books`, `Deliveries` and `Recovery`
on a real SQLite file and the real Segmind client against the wire-level fake Segmind, with the
members in memory (the domain's `Members` protocol) and a fake clock for the retry schedule.

No bot process and no Discord: what crosses a process boundary is tested in the wire-level
tiers (test_job_engine.py, test_exactly_once.py, test_scale_out.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Unpack

import aiohttp
import pytest

from bot.ops.metrics import Metrics
from bot.segmind import SegmindClient
from bot.sheets import texts
from bot.sheets.deliveries import DeliveryRules
from bot.sheets.engine import EngineRules, JobEngine
from bot.sheets.job import Job, JobChange, JobState, LedgerEntry
from bot.sheets.locales import Text
from bot.sheets.members import Undelivered
from bot.sheets.open_nsfw import load_open_nsfw
from bot.sheets.rules import CoolingDown, Limits, Refused
from bot.sheets.safety import ClassifierWhenNeeded, Safety, SafetyMode, SafetyRules
from bot.sheets.servers import Servers, ServerSettings
from bot.state.sqlite.line import LocalLine
from bot.state.sqlite.store import Store
from tests.fake_segmind import FakeSegmind, Planned
from tests.helpers import new

MEMBER = 7001
GUILD = 9001
RETRY_SECONDS = 30.0
RETRY_HOURS = 2.0
COOLDOWN = 600.0


class Clock:
    """The retry schedule's time; moves only when the test says."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MemoryMembers:
    """The domain's `Members`, in memory: what each member was shown, sent and told."""

    def __init__(self) -> None:
        self.shown: dict[int, list[str]] = {}
        self.sheets: dict[int, list[bytes]] = {}
        self.told: dict[int, list[str]] = {}
        self.direct: dict[int, list[str]] = {}
        self.posts: list[str] = []
        self.unreachable = False  # every route refused, as in a Discord outage
        self.changed = asyncio.Condition()

    # What the member read, in English (the language of a job admitted without one).
    def show(self, job: Job, text: Text) -> None:
        self.shown.setdefault(job.id, []).append(str(text))

    async def deliver(self, job: Job, image: bytes, *, spoiler: bool = False) -> str:
        if self.unreachable:
            raise Undelivered(f"job {job.id}")
        self.sheets.setdefault(job.id, []).append(image)
        await self._notify()
        return "interaction"

    async def age_restricted(self, job: Job) -> bool:
        return False

    async def tell_privately(self, job: Job, text: Text, *, reroll: bool) -> str:
        return await self.tell(job, text)

    async def tell(self, job: Job, text: Text) -> str:
        if self.unreachable:
            raise Undelivered(f"job {job.id}")
        self.told.setdefault(job.id, []).append(str(text))
        await self._notify()
        return "interaction"

    async def tell_directly(self, job: Job, text: Text) -> bool:
        self.direct.setdefault(job.id, []).append(str(text))
        await self._notify()
        return True

    async def post(
        self, channel_id: int, guild_id: int | None, text: Text, *, language: str | None
    ) -> bool:
        self.posts.append(str(text))
        return True

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `done()` holds (woken by every delivery and message)."""
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(done)


class Engine:
    """The job engine as the bot wires it (`JobEngine`), on one database file."""

    def __init__(
        self, store: Store, segmind: SegmindClient, members: MemoryMembers, clock: Clock
    ) -> None:
        self.store = store
        self.members = members
        self.line = LocalLine(requests_per_minute=1000)
        servers, metrics = Servers(store), Metrics()
        self.engine = JobEngine(
            store=store,
            line=self.line,
            segmind=segmind,
            members=members,
            servers=servers,
            safety=Safety(
                ClassifierWhenNeeded(load_open_nsfw),  # mode off: never loaded
                SafetyRules(threshold=0.3, default_mode=SafetyMode.OFF),
                metrics,
                members,
            ),
            metrics=metrics,
            rules=EngineRules(
                limits=Limits(cooldown_seconds=COOLDOWN, max_waiting=10, max_per_user=3),
                concurrency=1,
                sheet_cost=0.1,
                delivery=DeliveryRules(retry_seconds=RETRY_SECONDS, retry_hours=RETRY_HOURS),
            ),
            clock=clock,
        )
        self.jobs = self.engine.jobs
        self.deliveries = self.engine.deliveries
        self.recovery = self.engine.recovery

    async def ask(self, prompt: str = "a knight", *, user_id: int = MEMBER) -> Job:
        """A member's request, admitted and queued with the default pose."""
        job = await self.jobs.accept(new(user_id, GUILD, prompt=prompt), ServerSettings())
        await self.jobs.queue(job, placeholder_id=None, pose=None, pose_note=None)
        return job

    async def stored(self, job: Job) -> Job:
        stored = await self.store.job(job.id)
        assert stored is not None
        return stored

    async def state(self, job: Job) -> JobState:
        return (await self.stored(job)).state

    async def settled(self, job: Job, state: JobState, timeout: float = 10.0) -> None:
        """Wait until the job is stored in `state` (its worker writes it after delivering)."""
        async with asyncio.timeout(timeout):
            while await self.state(job) is not state:
                await asyncio.sleep(0.01)

    async def first_attempt_made(self, job: Job) -> Job:
        """Wait until the worker's first delivery attempt is stored; the job as stored."""
        async with asyncio.timeout(10):
            while (stored := await self.store.job(job.id)) is None or not stored.delivery_attempts:
                await asyncio.sleep(0.01)
        return stored


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(http: aiohttp.ClientSession, segmind: FakeSegmind) -> SegmindClient:
    return SegmindClient(
        http, api_key=segmind.api_key, base_url=segmind.url, api="v1", backoff=0.01
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@asynccontextmanager
async def engine_on(
    path: Path,
    client: SegmindClient,
    clock: Clock,
    *,
    start: bool = True,
    kind: type[Store] = Store,
) -> AsyncIterator[Engine]:
    """An engine on the database at `path`; stopped (a graceful shutdown) afterwards."""
    async with kind.open(path) as store:
        engine = Engine(store, client, MemoryMembers(), clock)
        if start:
            engine.jobs.start()  # the workers only: background work is started by each test
        try:
            yield engine
        finally:
            await engine.engine.stop(grace=5)


async def test_an_accepted_request_is_drawn_once_delivered_and_in_the_ledger(
    tmp_path: Path, client: SegmindClient, clock: Clock, segmind: FakeSegmind
) -> None:
    async with engine_on(tmp_path / "bot.db", client, clock) as engine:
        job = await engine.ask()
        await engine.settled(job, JobState.DONE)
        assert len(engine.members.sheets[job.id]) == 1
        assert len(segmind.requests) == 1
        assert segmind.requests[0].json["seed"] == 5
        (entry,) = await engine.store.ledger(0)
        assert entry.outcome == "done"
        assert entry.cost == pytest.approx(segmind.cost)
        assert engine.members.shown[job.id][0] == str(texts.queued(0))


async def test_a_second_request_within_the_cooldown_is_refused_in_the_members_words(
    tmp_path: Path, client: SegmindClient, clock: Clock
) -> None:
    async with engine_on(tmp_path / "bot.db", client, clock, start=False) as engine:
        await engine.ask()
        with pytest.raises(CoolingDown) as refused:
            await engine.ask("a second knight")
        assert str(refused.value).startswith("You can draw again <t:")


async def test_a_stopping_engine_refuses_new_requests_and_keeps_the_queued_ones(
    tmp_path: Path, client: SegmindClient, clock: Clock, segmind: FakeSegmind
) -> None:
    path = tmp_path / "bot.db"
    async with engine_on(path, client, clock, start=False) as engine:
        queued = await engine.ask()
        await engine.jobs.stop(grace=1)
        with pytest.raises(Refused, match="restarting"):
            await engine.ask("too late", user_id=MEMBER + 1)
    async with engine_on(path, client, clock) as engine:
        await engine.recovery.settle_leftovers()
        await engine.members.until(lambda: queued.id in engine.members.sheets)
    assert len(segmind.requests) == 1


async def test_a_sheet_no_route_reaches_is_kept_and_tried_again_with_doubling_waits(
    tmp_path: Path, client: SegmindClient, clock: Clock, segmind: FakeSegmind
) -> None:
    async with engine_on(tmp_path / "bot.db", client, clock) as engine:
        engine.members.unreachable = True
        job = await engine.ask()
        stored = await engine.first_attempt_made(job)
        assert stored.state is JobState.DRAWN
        assert stored.deliver_after == pytest.approx(clock.now + RETRY_SECONDS)

        await engine.deliveries.deliver_kept()  # not due yet: nothing happens
        assert (await engine.stored(job)).delivery_attempts == 1

        clock.advance(RETRY_SECONDS)
        await engine.deliveries.deliver_kept()  # second attempt, refused: the wait doubles
        again = await engine.stored(job)
        assert again.delivery_attempts == 2
        assert again.deliver_after == pytest.approx(clock.now + 2 * RETRY_SECONDS)

        engine.members.unreachable = False
        clock.advance(2 * RETRY_SECONDS)
        await engine.deliveries.deliver_kept()
        assert len(engine.members.sheets[job.id]) == 1
        assert await engine.state(job) is JobState.DONE
    assert len(segmind.requests) == 1  # kept, never drawn again


async def test_a_sheet_undelivered_for_the_whole_window_is_given_up_and_the_member_told_by_dm(
    tmp_path: Path, client: SegmindClient, clock: Clock
) -> None:
    async with engine_on(tmp_path / "bot.db", client, clock) as engine:
        engine.members.unreachable = True
        job = await engine.ask()
        await engine.first_attempt_made(job)
        clock.advance(RETRY_HOURS * 3600 + 1)
        await engine.deliveries.deliver_kept()
        assert await engine.state(job) is JobState.FAILED
        assert engine.members.direct[job.id] == [str(texts.UNDELIVERED)]
        assert job.id not in engine.members.sheets
        await engine.ask("again")  # the cooldown was given back


async def test_a_sheet_segmind_could_not_draw_tells_the_member_and_gives_the_cooldown_back(
    tmp_path: Path, client: SegmindClient, clock: Clock, segmind: FakeSegmind
) -> None:
    segmind.plan(*[Planned.status(500, {"error": "boom"})] * 3)
    async with engine_on(tmp_path / "bot.db", client, clock) as engine:
        job = await engine.ask()
        await engine.members.until(lambda: job.id in engine.members.told)  # after it is stored
        assert await engine.state(job) is JobState.FAILED
        (said,) = engine.members.told[job.id]
        assert "Segmind had a problem" in said and "cooldown was reset" in said
        (entry,) = await engine.store.ledger(0)
        assert (entry.outcome, entry.cost) == ("failed", 0.0)
        await engine.ask("again")  # no cooldown left to wait out


async def test_a_failed_jobs_cooldown_is_given_back_before_its_end_is_stored(
    tmp_path: Path, client: SegmindClient, clock: Clock, segmind: FakeSegmind
) -> None:
    # A member who sees the job end (its state, the log, the notice) and asks again at once must
    # not meet its cooldown. Found in a full run: the end was stored, then the cooldown deleted.
    path = tmp_path / "bot.db"
    held_when_stored: list[bool] = []

    def cooldown_holds(user_id: int) -> bool:
        with contextlib.closing(sqlite3.connect(path)) as db:
            query = "SELECT 1 FROM member_cooldowns WHERE user_id = ?"
            return db.execute(query, (user_id,)).fetchone() is not None

    class Watched(Store):
        async def finish(self, entry: LedgerEntry, **fields: Unpack[JobChange]) -> None:
            await super().finish(entry, **fields)
            held_when_stored.append(await asyncio.to_thread(cooldown_holds, entry.user_id))

    segmind.plan(*[Planned.status(500, {"error": "boom"})] * 3)
    async with engine_on(path, client, clock, kind=Watched) as engine:
        job = await engine.ask()
        await engine.settled(job, JobState.FAILED)
    assert held_when_stored == [False]


async def test_after_a_crash_a_job_cut_off_while_sending_is_reported_never_sent_again(
    tmp_path: Path, client: SegmindClient, clock: Clock, segmind: FakeSegmind
) -> None:
    path = tmp_path / "bot.db"
    async with engine_on(path, client, clock, start=False) as engine:
        job = await engine.ask()
        # The worker claimed it, then the process died before Segmind answered.
        assert await engine.store.move(job.id, JobState.QUEUED, state=JobState.SENDING)
    async with engine_on(path, client, clock) as engine:
        await engine.recovery.settle_leftovers()
        assert await engine.state(job) is JobState.INTERRUPTED
        assert engine.members.told[job.id] == [str(texts.INTERRUPTED)]
        await engine.ask("again")  # the cooldown was given back
        await engine.members.until(lambda: len(engine.members.sheets) == 1)
    assert len(segmind.requests) == 1  # only the new request: the cut-off one is never resent
