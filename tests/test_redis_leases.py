"""Leases between processes, on a real Redis: two stores stand for two processes of the bot.

What the contract suite cannot show with one process: a job one process works on is not
touched by another until that one's lease runs out, an alert is raised once, and a burst never
runs out of connections.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from bot.sheets.job import Job, JobState, LedgerEntry
from bot.sheets.records import Fenced
from bot.sheets.rules import Limits
from bot.state.codec import new_job_record
from bot.state.redis import admission, lua
from bot.state.redis.store import PREFIX, RedisStore
from tests.helpers import ROOMY, new

LEASE = 0.5


@pytest.fixture
async def two(redis_url: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two processes' stores on one Redis."""
    async with (
        RedisStore.open(redis_url, lease_seconds=LEASE) as first,
        RedisStore.open(redis_url, lease_seconds=LEASE) as second,
    ):
        for process in (first, second):
            await process.beat()  # alive: a process without a heartbeat has its queued jobs taken
        yield first, second


async def queued(store: RedisStore) -> Job:
    job = await store.admit(new(), ROOMY)
    assert await store.move(job.id, JobState.ACCEPTED, state=JobState.QUEUED)
    await store.release(job.id)
    return job


async def test_a_job_one_process_holds_is_neither_taken_nor_written_by_another(
    two: tuple[RedisStore, RedisStore],
) -> None:
    first, second = two
    job = await queued(first)
    assert await first.hold(job.id)
    assert not await second.hold(job.id)
    with pytest.raises(Fenced):
        await second.move(job.id, JobState.QUEUED, state=JobState.SENDING)
    entry = LedgerEntry(job.id, time.time(), job.guild_id, job.user_id, 0.0, "interrupted")
    with pytest.raises(Fenced):
        await second.finish(entry, state=JobState.INTERRUPTED)
    assert (await first.job(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    assert await second.ledger(0) == []
    assert await first.move(job.id, JobState.QUEUED, state=JobState.SENDING)


async def test_a_lease_kept_renewed_holds_and_one_left_alone_runs_out(
    two: tuple[RedisStore, RedisStore],
) -> None:
    first, second = two
    kept, dropped = await queued(first), await queued(first)
    assert await first.hold(kept.id) and await first.hold(dropped.id)
    first.let_go(dropped.id)  # as if its process died: no more renewals
    for _ in range(4):
        await asyncio.sleep(LEASE / 2)
        await first.renew()
    assert not await second.hold(kept.id)
    assert await second.hold(dropped.id)
    # The first process now writes nothing to the job it lost.
    with pytest.raises(Fenced):
        await first.move(dropped.id, JobState.QUEUED, state=JobState.SENDING)


async def test_a_process_taken_over_past_its_lease_can_write_nothing_even_once_it_ended(
    two: tuple[RedisStore, RedisStore],
) -> None:
    # The first process froze while Segmind drew the job; the second took it over, drew it
    # and delivered it. Woken, the first must not rewrite it (done -> drawn -> done).
    first, second = two
    job = await queued(first)
    assert await first.hold(job.id)
    assert await first.move(job.id, JobState.QUEUED, state=JobState.SENDING)
    await asyncio.sleep(LEASE * 1.5)  # frozen: no renewal, but it still thinks it has the job
    assert await second.hold(job.id)
    await second.update(job.id, state=JobState.DRAWN, result=b"sheet")
    entry = LedgerEntry(job.id, time.time(), job.guild_id, job.user_id, 1.0, "done")
    await second.finish(entry, state=JobState.DONE, result=None)
    assert not second.holds(job.id)
    with pytest.raises(Fenced):
        await first.update(job.id, state=JobState.DRAWN, result=b"again")
    late = LedgerEntry(job.id, time.time() + 5, job.guild_id, job.user_id, 1.0, "done")
    with pytest.raises(Fenced):
        await first.finish(late, state=JobState.DONE)
    assert (await second.job(job.id)).state is JobState.DONE  # type: ignore[union-attr]
    assert await second.ledger(0) == [entry]
    assert await second.sheet(job.id) is None
    assert not first.holds(job.id)  # and it knows it has lost it


async def test_renewing_tells_a_process_which_jobs_were_taken_over(
    two: tuple[RedisStore, RedisStore],
) -> None:
    first, second = two
    job = await queued(first)
    assert await first.hold(job.id)
    await asyncio.sleep(LEASE * 1.5)  # frozen past its lease
    assert await second.hold(job.id)
    await first.renew()
    assert not first.holds(job.id)
    assert second.holds(job.id)


async def test_a_released_job_may_be_taken_at_once(two: tuple[RedisStore, RedisStore]) -> None:
    first, second = two
    job = await queued(first)
    assert await first.hold(job.id)
    await first.release(job.id)
    assert await second.hold(job.id)


async def test_an_accepted_job_is_its_admitting_processs_until_it_is_queued(
    two: tuple[RedisStore, RedisStore],
) -> None:
    first, second = two
    job = await first.admit(new(), ROOMY)
    assert not await second.hold(job.id, only_in=JobState.ACCEPTED)  # its pose is on its way
    assert await first.move(job.id, JobState.ACCEPTED, state=JobState.QUEUED)
    await first.release(job.id)
    # Queued since: another process's clean-up of orphaned accepted jobs must leave it alone.
    assert not await second.hold(job.id, only_in=JobState.ACCEPTED)
    assert await second.hold(job.id)


async def test_a_burst_far_larger_than_the_connection_pool_is_admitted_in_full(
    redis_url: str,
) -> None:
    async with RedisStore.open(redis_url, workers=1) as store:
        roomy = Limits(cooldown_seconds=0, max_waiting=1000, max_per_user=1000)
        jobs = await asyncio.gather(*(store.admit(new(user_id=n), roomy) for n in range(300)))
    assert len({job.id for job in jobs}) == 300


async def test_of_two_processes_seeing_one_crossing_one_raises_the_alert(
    two: tuple[RedisStore, RedisStore],
) -> None:
    for _ in range(20):
        first, second = two
        was = await asyncio.gather(
            first.swap_alert(7, "budget", True), second.swap_alert(7, "budget", True)
        )
        assert sorted(was) == [False, True]  # exactly one saw it newly raised
        await first.swap_alert(7, "budget", False)


async def test_an_admission_or_a_claim_repeated_after_a_lost_answer_is_the_same_one(
    two: tuple[RedisStore, RedisStore],
) -> None:
    # A connection cut after Redis ran the script: the client sends it once more.
    one, other = two
    asked, now = new(user_id=1), time.time()
    script = lua.register(one.client, "admit", **admission.CONSTANTS)
    record = {
        k: None if v is None else str(v) for k, v in new_job_record(asked, now, ROOMY).items()
    }
    argv = admission.arguments(asked, ROOMY, now, json.dumps(record), one.holder, 60)
    first_id = await script(args=[PREFIX, *argv])
    again = await script(args=[PREFIX, *argv])  # the same arguments: not a second job
    assert again == first_id and again[0] == b"ok"
    first = await one.job(int(again[1]))
    assert first is not None and await one.hold(first.id)  # the fence admission gave it
    assert (await other.admit(new(user_id=1), ROOMY)).id == first.id + 1
    assert await one.move(first.id, JobState.ACCEPTED, state=JobState.QUEUED)
    assert await one.move(first.id, JobState.ACCEPTED, state=JobState.QUEUED)  # its own repeat
    assert not await one.move(first.id, JobState.ACCEPTED, state=JobState.SENDING)
