"""Cooldowns live in a real SQLite file: race-free, and they survive a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.storage import Store


async def test_simultaneous_claims_by_one_user_start_exactly_one_cooldown(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        results = await asyncio.gather(*(store.claim_cooldown(7, 60) for _ in range(5)))
    assert results.count(None) == 1


async def test_cooldown_survives_reopening_the_database(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        assert await store.claim_cooldown(7, 60) is None
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        assert await store.claim_cooldown(7, 60) is not None
        await store.give_back_cooldown(7)
        assert await store.claim_cooldown(7, 60) is None


async def test_old_poses_are_forgotten_but_waiting_jobs_keep_theirs(tmp_path: Path) -> None:
    from bot.storage import DONE, QUEUED, JobRecord

    def job(state: str, created_at: float) -> JobRecord:
        return JobRecord(
            id=0,
            user_id=1,
            guild_id=2,
            channel_id=3,
            params={"prompt": "x"},
            pose=b"pose-bytes",
            pose_note=None,
            state=state,
            interaction_token=None,
            token_expires_at=None,
            placeholder_id=None,
            created_at=created_at,
        )

    async with Store.open(tmp_path / "bot.sqlite3") as store:
        old_done = await store.add_job(job(DONE, 1000.0))
        old_queued = await store.add_job(job(QUEUED, 1000.0))
        new_done = await store.add_job(job(DONE, 5000.0))
        assert await store.forget_old_poses(older_than=2000.0) == 1
        assert (await store.job(old_done)).pose is None  # type: ignore[union-attr]
        assert (await store.job(old_queued)).pose == b"pose-bytes"  # type: ignore[union-attr]
        assert (await store.job(new_done)).pose == b"pose-bytes"  # type: ignore[union-attr]
