"""Storage on a real SQLite file: admission in one step, claims by id, what is kept."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.sheets.job import JobState, NewJob
from bot.sheets.request import SheetRequest
from bot.sheets.rules import CoolingDown, Limits, NotAdmitted, QueueFull, TooManyOfYours
from bot.state.sqlite.store import Store

ROOMY = Limits(cooldown_seconds=0, max_waiting=100, max_per_user=100)


def new(user_id: int = 1, prompt: str = "x") -> NewJob:
    return NewJob(
        user_id=user_id,
        guild_id=2,
        channel_id=3,
        request=SheetRequest(prompt=prompt, seed=5),
        custom_pose=True,
        upload_limit=10 * 2**20,
        interaction_token="token",
        token_expires_at=time.time() + 900,
    )


async def admitted(store: Store, jobs: list[NewJob], limits: Limits) -> int:
    results = await asyncio.gather(
        *(store.admit(job, limits) for job in jobs), return_exceptions=True
    )
    assert all(not isinstance(r, BaseException) or isinstance(r, NotAdmitted) for r in results)
    return sum(1 for r in results if not isinstance(r, BaseException))


async def test_simultaneous_requests_by_one_member_start_exactly_one_cooldown(
    tmp_path: Path,
) -> None:
    limits = Limits(cooldown_seconds=60, max_waiting=100, max_per_user=100)
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        assert await admitted(store, [new() for _ in range(5)], limits) == 1
        with pytest.raises(CoolingDown) as refused:
            await store.admit(new(), limits)
        assert refused.value.until > time.time() + 50


async def test_a_burst_never_exceeds_the_queue_or_a_members_share(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        crowd = [new(user_id=n) for n in range(30)]
        assert await admitted(store, crowd, Limits(0, max_waiting=5, max_per_user=9)) == 5
        with pytest.raises(QueueFull):
            await store.admit(new(user_id=99), Limits(0, max_waiting=5, max_per_user=9))
        mine = [new(user_id=500) for _ in range(20)]
        assert await admitted(store, mine, Limits(0, max_waiting=100, max_per_user=2)) == 2
        with pytest.raises(TooManyOfYours):
            await store.admit(new(user_id=500), Limits(0, max_waiting=100, max_per_user=2))


async def test_a_job_is_claimed_once_and_finished_jobs_free_their_place(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        job = await store.admit(new(), ROOMY)
        assert await store.move(job.id, JobState.ACCEPTED, state=JobState.QUEUED)
        claims = await asyncio.gather(
            *(store.move(job.id, JobState.QUEUED, state=JobState.SENDING) for _ in range(3))
        )
        assert claims.count(True) == 1
        limits = Limits(0, max_waiting=100, max_per_user=1)
        with pytest.raises(TooManyOfYours):
            await store.admit(new(), limits)
        await store.update(job.id, state=JobState.DONE)
        await store.admit(new(), limits)


async def test_cooldown_survives_reopening_the_database(tmp_path: Path) -> None:
    limits = Limits(cooldown_seconds=60, max_waiting=100, max_per_user=100)
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        await store.admit(new(user_id=7), limits)
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        with pytest.raises(CoolingDown):
            await store.admit(new(user_id=7), limits)
        await store.give_back_cooldown(7, 2)
        await store.admit(new(user_id=7), limits)


async def test_listing_jobs_reads_no_pose_or_sheet_bytes(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        job = await store.admit(new(prompt="a typed job"), ROOMY)
        await store.update(job.id, state=JobState.DRAWN, pose=b"pose", result=b"sheet")
        (listed,) = await store.jobs_in(JobState.DRAWN)
        assert listed.request == SheetRequest(prompt="a typed job", seed=5)
        assert not hasattr(listed, "pose") and not hasattr(listed, "result")
        assert await store.pose(job.id) == b"pose"
        assert await store.sheet(job.id) == b"sheet"


async def test_old_poses_are_forgotten_but_waiting_jobs_keep_theirs(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        done, queued, drawn = [await store.admit(new(), ROOMY) for _ in range(3)]
        for job, state in ((done, JobState.DONE), (queued, JobState.QUEUED)):
            await store.update(job.id, state=state, pose=b"pose-bytes")
        await store.update(drawn.id, state=JobState.DRAWN, pose=b"pose-bytes")
        assert await store.forget_old_poses(older_than=time.time() - 60) == 0  # all are new
        assert await store.forget_old_poses(older_than=time.time() + 1) == 1
        assert await store.pose(done.id) is None
        assert await store.pose(queued.id) == b"pose-bytes"
        assert await store.pose(drawn.id) == b"pose-bytes"
