"""The waiting line's rules, on the real JobQueue with a stand-in for drawing."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.jobs import JobQueue, Refused
from bot.storage import QUEUED, JobRecord


def job(job_id: int, user_id: int) -> JobRecord:
    return JobRecord(
        id=job_id,
        user_id=user_id,
        guild_id=1,
        channel_id=2,
        params={},
        pose=None,
        pose_note=None,
        state=QUEUED,
        interaction_token=None,
        token_expires_at=None,
        placeholder_id=None,
        created_at=time.time(),
    )


async def test_one_users_burst_does_not_hold_back_another_user() -> None:
    order: list[int] = []

    async def draw(j: JobRecord) -> None:
        order.append(j.user_id)
        await asyncio.sleep(0.01)

    queue = JobQueue(draw, concurrency=1, max_queue=50, max_per_user=5)
    for n in range(5):
        queue.submit(job(n, user_id=100))
    assert queue.submit(job(10, user_id=200)) == 1  # behind only 100's first job
    queue.start()
    while len(order) < 6:
        await asyncio.sleep(0.01)
    await queue.stop(grace=1)
    assert order[:2] == [100, 200]


async def test_places_follow_the_round_robin_order() -> None:
    async def draw(j: JobRecord) -> None:
        await asyncio.sleep(0)

    queue = JobQueue(draw, concurrency=1, max_queue=50, max_per_user=5)
    assert [queue.submit(job(n, 1)) for n in range(3)] == [0, 1, 2]
    assert queue.submit(job(3, 2)) == 1
    assert queue.ahead(2) == 3  # user 1's third job now waits for user 2's first


async def test_concurrency_never_exceeds_the_limit() -> None:
    running = peak = 0

    async def draw(j: JobRecord) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1

    queue = JobQueue(draw, concurrency=3, max_queue=100, max_per_user=100)
    for n in range(20):
        queue.submit(job(n, n % 7))
    queue.start()
    while queue.waiting or queue.running:
        await asyncio.sleep(0.01)
    await queue.stop(grace=1)
    assert peak == 3


async def test_full_queue_and_per_user_cap_are_refused_with_reasons() -> None:
    async def draw(j: JobRecord) -> None:
        await asyncio.sleep(0)

    queue = JobQueue(draw, concurrency=1, max_queue=3, max_per_user=2)
    queue.submit(job(1, 1))
    queue.submit(job(2, 1))
    with pytest.raises(Refused, match="already have 2"):
        queue.check(1)
    queue.submit(job(3, 2))
    with pytest.raises(Refused, match="queue is full"):
        queue.check(3)


async def test_stop_lets_running_jobs_finish_and_keeps_waiting_ones() -> None:
    finished: list[int] = []

    async def draw(j: JobRecord) -> None:
        await asyncio.sleep(0.2)
        finished.append(j.id)

    queue = JobQueue(draw, concurrency=1, max_queue=10, max_per_user=10)
    queue.submit(job(1, 1))
    queue.submit(job(2, 2))
    queue.start()
    await asyncio.sleep(0.05)
    assert await queue.stop(grace=5) == 0
    assert finished == [1]
    with pytest.raises(Refused, match="restarting"):
        queue.check(3)
