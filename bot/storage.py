"""SQLite storage: cooldowns, jobs (with their pose bytes and usage), and small facts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS cooldowns (
    user_id INTEGER PRIMARY KEY,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER NOT NULL,
    params TEXT NOT NULL,
    pose BLOB,
    pose_note TEXT,
    state TEXT NOT NULL,
    interaction_token TEXT,
    token_expires_at REAL,
    placeholder_id INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    cost REAL,
    credits_left REAL,
    error TEXT,
    result BLOB,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_by_guild ON jobs (guild_id, finished_at);
CREATE TABLE IF NOT EXISTS facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# A job's states, in the order of its life. "drawn" keeps the sheet until it is delivered.
QUEUED, SENDING, DRAWN, DONE = "queued", "sending", "drawn", "done"
FAILED, INTERRUPTED = "failed", "interrupted"


@dataclass
class JobRecord:
    """One accepted request, as stored."""

    id: int
    user_id: int
    guild_id: int | None
    channel_id: int
    params: dict[str, Any]
    pose: bytes | None
    pose_note: str | None
    state: str
    interaction_token: str | None
    token_expires_at: float | None
    placeholder_id: int | None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    cost: float | None = None
    credits_left: float | None = None
    error: str | None = None
    result: bytes | None = None
    outcome: dict[str, Any] | None = None


@dataclass(frozen=True)
class Usage:
    """Sheets drawn and credits spent in a period."""

    sheets: int
    credits: float


class Store:
    """The bot's one SQLite database; every method is a short transaction."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[Store]:
        """Open (creating if needed) the database at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(path) as db:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.executescript(SCHEMA)
            await db.commit()
            yield cls(db)

    # Cooldowns ---------------------------------------------------------------------------

    async def claim_cooldown(self, user_id: int, seconds: float) -> float | None:
        """Start the user's cooldown unless one is running; return when the running one ends.

        One statement, so simultaneous claims by one user cannot both succeed.
        """
        now = time.time()
        cursor = await self._db.execute(
            "INSERT INTO cooldowns (user_id, until) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET until = excluded.until "
            "WHERE cooldowns.until <= ?",
            (user_id, now + seconds, now),
        )
        await self._db.commit()
        if cursor.rowcount == 1:
            return None
        row = await self._fetchone("SELECT until FROM cooldowns WHERE user_id = ?", (user_id,))
        return float(row["until"]) if row else None

    async def give_back_cooldown(self, user_id: int) -> None:
        """End the user's cooldown now (the failure was not their fault)."""
        await self._db.execute("DELETE FROM cooldowns WHERE user_id = ?", (user_id,))
        await self._db.commit()

    # Jobs --------------------------------------------------------------------------------

    async def add_job(self, job: JobRecord) -> int:
        """Store a newly accepted job and return its id."""
        cursor = await self._db.execute(
            "INSERT INTO jobs (user_id, guild_id, channel_id, params, pose, pose_note, state,"
            " interaction_token, token_expires_at, placeholder_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.user_id,
                job.guild_id,
                job.channel_id,
                json.dumps(job.params),
                job.pose,
                job.pose_note,
                job.state,
                job.interaction_token,
                job.token_expires_at,
                job.placeholder_id,
                job.created_at,
            ),
        )
        await self._db.commit()
        assert cursor.lastrowid is not None
        job.id = cursor.lastrowid
        return job.id

    async def update_job(self, job_id: int, **fields: Any) -> None:
        """Write some columns of a job (its state first of all)."""
        if "outcome" in fields:
            fields["outcome"] = json.dumps(fields["outcome"])
        columns = ", ".join(f"{name} = ?" for name in fields)
        await self._db.execute(
            f"UPDATE jobs SET {columns} WHERE id = ?",
            (*fields.values(), job_id),
        )
        await self._db.commit()

    async def job(self, job_id: int) -> JobRecord | None:
        """The job with this id, if it is stored."""
        row = await self._fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(row) if row else None

    async def pose(self, job_id: int) -> bytes | None:
        """The stored pose of a job, if it still has one."""
        row = await self._fetchone("SELECT pose FROM jobs WHERE id = ?", (job_id,))
        return row["pose"] if row else None

    async def jobs_in(self, states: Iterable[str]) -> list[JobRecord]:
        """Jobs in any of these states, oldest first."""
        wanted = list(states)
        marks = ", ".join("?" for _ in wanted)
        async with self._db.execute(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id",
            wanted,
        ) as cursor:
            return [_job(row) async for row in cursor]

    async def forget_old_poses(self, older_than: float) -> int:
        """Drop the pose bytes of finished jobs created before `older_than`."""
        cursor = await self._db.execute(
            "UPDATE jobs SET pose = NULL WHERE pose IS NOT NULL AND created_at < ?"
            " AND state NOT IN (?, ?, ?)",
            (older_than, QUEUED, SENDING, DRAWN),
        )
        await self._db.commit()
        return cursor.rowcount

    async def usage(self, guild_id: int | None, since: float) -> Usage:
        """Sheets drawn and credits spent in a server since a moment."""
        row = await self._fetchone(
            "SELECT COUNT(*) AS sheets, COALESCE(SUM(cost), 0) AS credits FROM jobs"
            " WHERE state IN (?, ?) AND guild_id IS ? AND finished_at >= ?",
            (DRAWN, DONE, guild_id, since),
        )
        assert row is not None
        return Usage(sheets=int(row["sheets"]), credits=float(row["credits"]))

    # Facts -------------------------------------------------------------------------------

    async def fact(self, key: str) -> Any:
        """A small stored value (JSON), or None."""
        row = await self._fetchone("SELECT value FROM facts WHERE key = ?", (key,))
        return json.loads(row["value"]) if row else None

    async def set_fact(self, key: str, value: Any) -> None:
        """Store a small value (JSON)."""
        await self._db.execute(
            "INSERT INTO facts (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )
        await self._db.commit()

    async def _fetchone(self, sql: str, args: Iterable[Any]) -> aiosqlite.Row | None:
        async with self._db.execute(sql, tuple(args)) as cursor:
            return await cursor.fetchone()


def _job(row: aiosqlite.Row) -> JobRecord:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["outcome"] = json.loads(data["outcome"]) if data["outcome"] else None
    return JobRecord(**data)
