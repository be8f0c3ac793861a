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
