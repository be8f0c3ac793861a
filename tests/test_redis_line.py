"""The line shared by processes, on a real Redis: two stores and lines stand for two processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from bot.sheets.job import Job, JobState
from bot.state.redis.line import SharedLine
from bot.state.redis.store import PREFIX, RedisStore
from tests.helpers import ROOMY, new

# Long: a job must reach the other process at once, not after a lease ran out.
LEASE = 60


@pytest.fixture
async def two(redis_url: str) -> AsyncIterator[tuple[SharedLine, SharedLine]]:
    """Two processes' lines on one Redis, one Segmind slot between them."""
    async with (
        RedisStore.open(redis_url, lease_seconds=LEASE) as first,
        RedisStore.open(redis_url, lease_seconds=LEASE) as second,
    ):
        for store in (first, second):  # alive, as every process is from its start
            await store.beat()
        yield (
            SharedLine(first, concurrency=1, requests_per_minute=10_000),
            SharedLine(second, concurrency=1, requests_per_minute=10_000),
        )


async def queued(line: SharedLine, store: RedisStore) -> Job:
    admitted = await store.admit(new(), ROOMY)
    assert await store.move(admitted.id, JobState.ACCEPTED, state=JobState.QUEUED)
    await store.release(admitted.id)
    job = await store.job(admitted.id)
    assert job is not None
    await line.add(job)
    return job


async def test_a_job_a_stopping_process_gives_back_is_taken_by_another_at_once(
    two: tuple[SharedLine, SharedLine], redis_url: str
) -> None:
    # An upgrade: the old process stops while its worker waits for the one slot with a job;
    # the new one's worker, blocked reading the line, must get that job, not wait a lease out.
    old, new_ = two
    old_store = old._store
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        drawing = await queued(old, old_store)
        assert await old.take() == drawing  # holds the slot
        waiting = await queued(old, old_store)
        old_waits = asyncio.create_task(old.take())  # has `waiting`, polls for the slot
        new_reads = asyncio.create_task(new_.take())
        key = f"{PREFIX}job:{waiting.id}"
        async with asyncio.timeout(10):
            while await client.hget(key, "holder") != old_store.holder.encode():
                await asyncio.sleep(0.01)
        old.close()
        assert await asyncio.wait_for(old_waits, 10) is None
        await old.done(drawing)  # the slot is free
        taken = await asyncio.wait_for(new_reads, 10)
        assert taken is not None and taken.id == waiting.id
    finally:
        new_.close()
        await client.aclose()


async def told_to_wait(line: SharedLine) -> float:
    """How long `line` is told to wait for its turn (the turn itself is given up)."""
    waits: list[float] = []
    turn = asyncio.create_task(line.turn(waits.append))
    try:
        async with asyncio.timeout(5):
            while not waits:
                await asyncio.sleep(0.01)
    finally:
        turn.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await turn
    return waits[0]


async def test_segmind_s_minute_counts_from_each_answer_for_every_process(redis_url: str) -> None:
    # Segmind counts a request when it arrives, by its answer at the latest: with 10 a minute it
    # saw 11 within 60 s while the minute was counted from each request's start.
    async with (
        RedisStore.open(redis_url, lease_seconds=LEASE) as first,
        RedisStore.open(redis_url, lease_seconds=LEASE) as second,
    ):
        for store in (first, second):
            await store.beat()
        one = SharedLine(first, concurrency=2, requests_per_minute=1)
        other = SharedLine(second, concurrency=2, requests_per_minute=1)
        turn = await one.turn(lambda _: None)  # sent; Segmind may count it any moment
        assert 60 < await told_to_wait(other) <= 120
        await asyncio.sleep(0.5)  # Segmind takes a while to answer
        await one.answered(turn)
        assert await told_to_wait(other) == pytest.approx(60, abs=0.3)  # not 59.5: the start's
        await one.answered(turn)  # a later answer (the end of polling) moves nothing
        assert await told_to_wait(other) == pytest.approx(60, abs=0.3)
