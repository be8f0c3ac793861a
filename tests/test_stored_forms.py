"""What a job's life leaves in each home, key by key and column by column, as recorded in
tests/stored_forms/: a database or a keyspace written by an earlier version is carried on as it is,
so a change to how the stores are written must never change what they write.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from bot.sheets.job import Job, JobState, LedgerEntry, NewJob, Outcome
from bot.sheets.records import Records
from bot.sheets.request import SheetRequest
from bot.sheets.rules import Limits
from bot.state.redis.store import PREFIX, RedisStore
from bot.state.sqlite.store import Store

FORMS = Path(__file__).parent / "stored_forms"
NOW = 1_500_000_000.25  # every store's clock, for the test: what it writes is the same each run
GUILD = 412345678901234567
USER = 312345678901234567
RULES = Limits(
    cooldown_seconds=600,
    max_waiting=10,
    max_per_user=10,
    daily_limit=5,
    budget=100.0,
    expected_cost=2.5,
)


def asked(guild_id: int | None) -> NewJob:
    return NewJob(
        user_id=USER,
        guild_id=guild_id,
        channel_id=512345678901234567,
        request=SheetRequest(prompt="Ryū, a knight — «full plate»", seed=4294967295, steps=42),
        custom_pose=True,
        upload_limit=25 * 2**20,
        interaction_token="aW50ZXJhY3Rpb24",
        token_expires_at=NOW + 900.5,
        language="de",
        server_language="ja",
    )


async def drawn(records: Records) -> Job:
    """A job taken from admission to drawn (not yet delivered), as the job engine takes it."""
    job = await records.admit(asked(GUILD), RULES)
    await records.move(
        job.id,
        JobState.ACCEPTED,
        state=JobState.QUEUED,
        placeholder_id=612345678901234567,
        pose=b"pose bytes",
        pose_note="your pose was cropped",
    )
    await records.release(job.id)
    await records.hold(job.id)
    await records.move(job.id, JobState.QUEUED, state=JobState.SENDING, started_at=NOW + 1.5)
    await records.update(
        job.id,
        state=JobState.SUBMITTED,
        request_id="req-ü-1",
        status_url="https://api.example/requests/1/status",
        response_url="https://api.example/requests/1",
        submitted_at=NOW + 2.25,
    )
    outcome = Outcome(
        seed=123456789, credits_left=987.25, seconds=12.5, content_type="image/png", cost=0.75
    )
    await records.update(
        job.id,
        state=JobState.DRAWN,
        result=b"sheet bytes",
        outcome=outcome,
        finished_at=NOW + 30.0,
        cost=0.75,
        credits_left=987.25,
        reserved=0.75,
    )
    await records.update(job.id, delivery_attempts=2, deliver_after=NOW + 90.0)
    return job


async def ended(records: Records, job: Job) -> None:
    """The drawn job delivered, and a second one (in direct messages) refused."""
    entry = LedgerEntry(job.id, NOW + 40.0, GUILD, USER, 0.75, JobState.DONE.value)
    await records.finish(entry, state=JobState.DONE, interaction_token=None, result=None)
    other = await records.admit(asked(None), RULES)
    refused = LedgerEntry(other.id, NOW + 41.0, None, USER, 0.0, JobState.REFUSED.value)
    await records.finish(
        refused,
        state=JobState.REFUSED,
        interaction_token=None,
        finished_at=NOW + 41.0,
        error="refused after acceptance",
    )


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)


def expected(name: str) -> Any:
    return json.loads((FORMS / f"{name}.json").read_text())


@pytest.mark.usefixtures("fixed_clock")
async def test_a_jobs_life_leaves_the_same_rows_in_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    async with Store.open(path) as store:
        job = await drawn(store)
        assert _rows(path) == expected("sqlite-drawn")
        await ended(store, job)
    assert _rows(path) == expected("sqlite-ended")


@pytest.fixture
async def shared(redis_url: str) -> AsyncIterator[tuple[RedisStore, redis.Redis]]:
    async with RedisStore.open(redis_url) as store:
        yield store, store.client


@pytest.mark.usefixtures("fixed_clock")
async def test_a_jobs_life_leaves_the_same_keys_in_redis(
    shared: tuple[RedisStore, redis.Redis],
) -> None:
    store, client = shared
    job = await drawn(store)
    assert await _keys(client, store.holder) == expected("redis-drawn")
    await ended(store, job)
    assert await _keys(client, store.holder) == expected("redis-ended")


@pytest.mark.usefixtures("fixed_clock")
async def test_a_job_copied_from_sqlite_leaves_the_same_keys_in_redis(
    tmp_path: Path, shared: tuple[RedisStore, redis.Redis]
) -> None:
    store, client = shared
    async with Store.open(tmp_path / "bot.sqlite3") as sqlite:
        await ended(sqlite, await drawn(sqlite))
        for job in await sqlite.finished_jobs():
            await store.import_finished_job(job, await sqlite.pose(job.id))
    assert await _keys(client, store.holder) == expected("redis-copied")


def _rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, each value with its SQLite type."""
    db = sqlite3.connect(path)
    try:
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        found = {}
        for table in sorted(tables):
            cursor = db.execute(f"SELECT * FROM {table} ORDER BY rowid")
            columns = [column[0] for column in cursor.description]
            found[table] = [
                {name: _typed(value) for name, value in zip(columns, row, strict=True)}
                for row in cursor
            ]
        return found
    finally:
        db.close()


def _typed(value: Any) -> list[Any]:
    if isinstance(value, bytes):
        return ["blob", value.decode()]
    return [type(value).__name__, value]


async def _keys(client: redis.Redis, holder: str) -> dict[str, Any]:
    """Every key with its type, its remaining life in seconds (-1: none) and its content."""
    found: dict[str, Any] = {}
    async for raw in client.scan_iter(count=1000):
        key = _text(raw)
        if key.startswith((f"{PREFIX}alive:", f"{PREFIX}admitted:")):  # a process's heartbeat,
            # a request's key for admission's repeats (15 minutes): not a job's form
            continue
        kind = _text(await client.type(key))
        if kind == "string":
            content: Any = _text(await client.get(key))
        elif kind == "hash":
            content = {_text(k): _text(v) for k, v in (await client.hgetall(key)).items()}
        elif kind == "zset":
            scored: list[Any] = await client.zrange(key, 0, -1, withscores=True)
            content = [[_text(member), score] for member, score in scored]
        elif kind == "set":
            content = sorted(_text(m) for m in await client.smembers(key))
        else:
            content = kind
        found[key] = [kind, await client.ttl(key), content]
    anonymous: dict[str, Any] = json.loads(
        json.dumps(found, sort_keys=True).replace(holder, "HOLDER")
    )
    return anonymous


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
