"""SQLite storage: jobs (with their pose and sheet bytes), cooldowns, and small facts.

Every write holds one lock, so the statements of one step (admission above all) never interleave
with another's on the shared connection. The schema changes through numbered migrations.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from bot.migrations import DatabaseTooNew, migrate
from bot.request import SheetRequest


class JobState(StrEnum):
    """A job's states, in the order of its life. Only `bot.jobs.Jobs` moves a job along."""

    ACCEPTED = "accepted"  # admitted; its pose is being fetched
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker: the request may have reached Segmind
    SUBMITTED = "submitted"  # Segmind took it and gave a request id: followed up, even later
    DRAWN = "drawn"  # paid for: the sheet is stored until it is delivered
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    REFUSED = "refused"  # accepted, then refused before it was queued (e.g. a bad pose)


WAITING = (JobState.ACCEPTED, JobState.QUEUED)
ACTIVE = (*WAITING, JobState.SENDING, JobState.SUBMITTED)
# Jobs whose cost is committed but not yet in the ledger.
SPENDING = (*ACTIVE, JobState.DRAWN)
DAY = 86400.0


@dataclass(frozen=True)
class Outcome:
    """What Segmind said about a drawn sheet."""

    seed: int
    credits_left: float | None
    seconds: float
    content_type: str
    cost: float | None


@dataclass(frozen=True)
class NewJob:
    """A request about to be admitted."""

    user_id: int
    guild_id: int | None
    channel_id: int
    request: SheetRequest  # with its seed fixed
    custom_pose: bool
    upload_limit: int
    interaction_token: str | None
    token_expires_at: float | None


@dataclass(frozen=True)
class Job(NewJob):
    """One accepted request, as stored (without its pose and sheet bytes)."""

    id: int
    state: JobState
    created_at: float
    placeholder_id: int | None = None
    pose_note: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    outcome: Outcome | None = None
    error: str | None = None
    delivery_attempts: int = 0
    deliver_after: float | None = None
    reserved: float = 0.0
    request_id: str | None = None
    status_url: str | None = None
    response_url: str | None = None
    submitted_at: float | None = None


@dataclass(frozen=True)
class Limits:
    """What admission checks, in one step (the last three per server; 0 = no limit)."""

    cooldown_seconds: float
    max_waiting: int
    max_per_user: int
    daily_limit: int = 0
    budget: float = 0.0
    expected_cost: float = 0.0


@dataclass(frozen=True)
class LedgerEntry:
    """One finished job in the ledger: when, where, who, what it cost, how it ended."""

    job_id: int
    at: float
    guild_id: int | None
    user_id: int
    cost: float
    outcome: str


class NotAdmitted(Exception):
    """Admission said no; the subclass says which rule."""


class CoolingDown(NotAdmitted):
    def __init__(self, until: float) -> None:
        super().__init__(f"cooling down until {until}")
        self.until = until


class QueueFull(NotAdmitted):
    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} waiting")
        self.limit = limit


class TooManyOfYours(NotAdmitted):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} of this member's")
        self.count = count


class DailyLimitReached(NotAdmitted):
    def __init__(self, count: int, limit: int, until: float | None) -> None:
        super().__init__(f"{count} of {limit} sheets in 24 hours")
        self.count, self.limit, self.until = count, limit, until


class BudgetSpent(NotAdmitted):
    def __init__(self, spent: float, budget: float, until: float | None) -> None:
        super().__init__(f"{spent} of {budget} credits in 24 hours")
        self.spent, self.budget, self.until = spent, budget, until


class StorageError(Exception):
    """The database cannot be used; the message says why and what to do."""


# The columns a listing reads: never the pose or sheet bytes.
_COLUMNS = (
    "id, user_id, guild_id, channel_id, params, pose_note, state, interaction_token,"
    " token_expires_at, placeholder_id, created_at, started_at, finished_at, error, outcome,"
    " delivery_attempts, deliver_after, reserved, request_id, status_url, response_url,"
    " submitted_at"
)
_WRITABLE = frozenset(
    {
        "state",
        "pose",
        "pose_note",
        "placeholder_id",
        "interaction_token",
        "started_at",
        "finished_at",
        "cost",
        "credits_left",
        "error",
        "result",
        "outcome",
        "delivery_attempts",
        "deliver_after",
        "request_id",
        "status_url",
        "response_url",
        "submitted_at",
        "reserved",
    }
)


class Store:
    """The bot's one SQLite database."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        # Admission's own connection, used in a thread: its transaction is one call.
        self._admissions = sqlite3.connect(
            path, timeout=5, isolation_level=None, check_same_thread=False
        )
        self._admissions.execute("PRAGMA synchronous=NORMAL")  # as the main connection's
        self._admissions_lock = threading.Lock()
        self._path = path
        self._identity = _identity(path)

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[Store]:
        """Open (creating if needed) and migrate the database at `path`."""
        try:
            # Checked with plain sqlite3 first: a failed aiosqlite connect leaves a thread behind.
            await asyncio.to_thread(_check_usable, path)
            db = await aiosqlite.connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(_unusable(path, exc)) from exc
        try:
            db.row_factory = aiosqlite.Row
            try:
                await db.execute("PRAGMA journal_mode=WAL")
                await db.execute("PRAGMA synchronous=NORMAL")
                await migrate(db)
            except sqlite3.Error as exc:
                raise StorageError(_unusable(path, exc)) from exc
            except DatabaseTooNew as exc:
                raise StorageError(
                    f"DATABASE_PATH ({path}) was written by a newer version of the bot "
                    f"(schema {exc.found}; this version knows up to {exc.known}). "
                    "Run the newer version, or point DATABASE_PATH at another file."
                ) from exc
            store = cls(db, path)
            try:
                yield store
            finally:
                store._admissions.close()
        finally:
            await db.close()

    def file_problem(self) -> str | None:
        """Why the open database is no longer the file at its path (deleted, replaced), if so."""
        if _identity(self._path) == self._identity:
            return None
        return (
            f"DATABASE_PATH ({self._path}) was deleted or replaced while the bot runs: what it "
            "stores from now on (cooldowns, queued jobs, history) is lost at the next restart. "
            "Restore the file from a backup, or restart the bot to start a new one."
        )

    # Admission ---------------------------------------------------------------------------

    async def admit(self, new: NewJob, limits: Limits) -> Job:
        """Check the cooldown, the queue limits and the server's limits and store the job, in
        one transaction (BEGIN IMMEDIATE: atomic in the database itself, not only here).

        Raises a `NotAdmitted` subclass naming the rule that said no. One call to a thread,
        so a burst's admissions do not wait on the event loop between their statements.
        """
        now = time.time()
        job_id = await asyncio.to_thread(self._admit_now, new, limits, now)
        return Job(
            **vars(new),
            id=job_id,
            state=JobState.ACCEPTED,
            created_at=now,
            reserved=limits.expected_cost,
        )

    def _admit_now(self, new: NewJob, limits: Limits, now: float) -> int:
        with self._admissions_lock:
            db = self._admissions
            db.execute("BEGIN IMMEDIATE")
            try:
                job_id = _admit(db, new, limits, now)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return job_id

    async def finish(self, entry: LedgerEntry, **fields: Any) -> None:
        """End a job: its ledger entry and its last fields in one transaction, so its cost is
        counted once, by its reservation or by the ledger, never both or neither."""
        columns, args = _assignments(fields)
        async with self._lock:
            try:
                await self._db.execute(
                    "INSERT OR REPLACE INTO ledger (job_id, at, guild_id, user_id, cost, outcome)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        entry.job_id,
                        entry.at,
                        entry.guild_id,
                        entry.user_id,
                        entry.cost,
                        entry.outcome,
                    ),
                )
                await self._db.execute(
                    f"UPDATE jobs SET {columns} WHERE id = ?", (*args, entry.job_id)
                )
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    async def give_back_cooldown(self, user_id: int, guild_id: int | None) -> None:
        """End the member's cooldown in a server now (the failure was not their fault)."""
        await self._write(
            "DELETE FROM member_cooldowns WHERE user_id = ? AND guild_id IN (?, -1)",
            user_id,
            guild_id or 0,
        )

    # Jobs --------------------------------------------------------------------------------

    async def update(self, job_id: int, **fields: Any) -> None:
        """Write some columns of a job."""
        await self.move(job_id, None, **fields)

    async def move(self, job_id: int, expected: JobState | None, **fields: Any) -> bool:
        """Write some columns of a job if it is in the `expected` state (any, if None).

        Returns whether it was; the check and the write are one statement.
        """
        columns, values = _assignments(fields)
        where = "id = ?" + ("" if expected is None else " AND state = ?")
        args = (*values, job_id, *(() if expected is None else (expected,)))
        async with self._lock:
            cursor = await self._db.execute(f"UPDATE jobs SET {columns} WHERE {where}", args)
            await self._db.commit()
        return cursor.rowcount == 1

    async def job(self, job_id: int) -> Job | None:
        """The job with this id, if it is stored."""
        row = await self._one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", job_id)
        return _job(row) if row else None

    async def jobs_in(self, *states: JobState) -> list[Job]:
        """Jobs in any of these states, oldest first."""
        marks = ", ".join("?" for _ in states)
        async with self._db.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE state IN ({marks}) ORDER BY id", states
        ) as cursor:
            return [_job(row) async for row in cursor]

    async def pose(self, job_id: int) -> bytes | None:
        """The stored pose of a job, if it still has one."""
        row = await self._one("SELECT pose FROM jobs WHERE id = ?", job_id)
        return row["pose"] if row else None

    async def sheet(self, job_id: int) -> bytes | None:
        """The stored sheet of a drawn job not yet delivered."""
        row = await self._one("SELECT result FROM jobs WHERE id = ?", job_id)
        return row["result"] if row else None

    async def forget_old_poses(self, older_than: float) -> int:
        """Drop the pose bytes of finished jobs created before `older_than`."""
        return await self._write(
            "UPDATE jobs SET pose = NULL WHERE pose IS NOT NULL AND created_at < ?"
            " AND state NOT IN (?, ?, ?, ?, ?)",
            older_than,
            *ACTIVE,
            JobState.DRAWN,
        )

    # Facts -------------------------------------------------------------------------------

    async def fact(self, key: str) -> Any:
        """A small stored value (JSON), or None."""
        row = await self._one("SELECT value FROM facts WHERE key = ?", key)
        return json.loads(row["value"]) if row else None

    async def set_fact(self, key: str, value: Any) -> None:
        """Store a small value (JSON)."""
        await self._write(
            "INSERT INTO facts (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            json.dumps(value),
        )

    async def _write(self, sql: str, *args: Any) -> int:
        async with self._lock:
            cursor = await self._db.execute(sql, args)
            await self._db.commit()
        return cursor.rowcount

    async def _one(self, sql: str, *args: Any) -> aiosqlite.Row | None:
        async with self._db.execute(sql, args) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, *args: Any) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    # For the modules that keep their own tables here (server settings, alerts).

    async def write(self, sql: str, *args: Any) -> int:
        """One writing statement, committed; returns the rows it changed."""
        return await self._write(sql, *args)

    async def rows(self, sql: str, *args: Any) -> list[aiosqlite.Row]:
        """The rows of one query."""
        return await self._all(sql, *args)


def _admit(db: sqlite3.Connection, new: NewJob, limits: Limits, now: float) -> int:
    if limits.cooldown_seconds > 0:
        (until,) = db.execute(
            "SELECT MAX(until) FROM member_cooldowns WHERE user_id = ? AND guild_id IN (?, -1)",
            (new.user_id, new.guild_id or 0),
        ).fetchone()
        if until is not None and until > now:
            raise CoolingDown(float(until))
    waiting, mine = db.execute(
        f"SELECT COALESCE(SUM(state IN ({_marks(WAITING)})), 0), COALESCE(SUM(user_id = ?), 0)"
        f" FROM jobs WHERE state IN ({_marks(ACTIVE)})",
        (*WAITING, new.user_id, *ACTIVE),
    ).fetchone()
    if mine >= limits.max_per_user:
        raise TooManyOfYours(int(mine))
    if waiting >= limits.max_waiting:
        raise QueueFull(limits.max_waiting)
    if new.guild_id is not None:
        _check_server_limits(db, new, limits, now)
    cursor = db.execute(
        "INSERT INTO jobs (user_id, guild_id, channel_id, params, state, interaction_token,"
        " token_expires_at, created_at, reserved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.user_id,
            new.guild_id,
            new.channel_id,
            _params(new),
            JobState.ACCEPTED,
            new.interaction_token,
            new.token_expires_at,
            now,
            limits.expected_cost,
        ),
    )
    if limits.cooldown_seconds > 0:
        db.execute(
            "INSERT INTO member_cooldowns (user_id, guild_id, until) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, guild_id) DO UPDATE SET until = excluded.until",
            (new.user_id, new.guild_id or 0, now + limits.cooldown_seconds),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _check_server_limits(db: sqlite3.Connection, new: NewJob, limits: Limits, now: float) -> None:
    # Inside admission's transaction: what is counted here cannot change before the insert.
    day_ago = now - DAY
    spending = f"state IN ({_marks(SPENDING)})"
    if limits.daily_limit:
        drawn = [
            at
            for (at,) in db.execute(
                "SELECT at FROM ledger WHERE guild_id = ? AND user_id = ? AND at > ?"
                " AND outcome = ? ORDER BY at",
                (new.guild_id, new.user_id, day_ago, JobState.DONE),
            )
        ]
        (active,) = db.execute(
            f"SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND {spending}",
            (new.guild_id, new.user_id, *SPENDING),
        ).fetchone()
        count = len(drawn) + active
        if count >= limits.daily_limit:
            over = count - limits.daily_limit  # how many must leave the window first
            until = drawn[over] + DAY if over < len(drawn) else None
            raise DailyLimitReached(count, limits.daily_limit, until)
    if limits.budget:
        spent = db.execute(
            "SELECT at, cost FROM ledger WHERE guild_id = ? AND at > ? AND cost > 0 ORDER BY at",
            (new.guild_id, day_ago),
        ).fetchall()
        (reserved,) = db.execute(
            f"SELECT COALESCE(SUM(reserved), 0) FROM jobs WHERE guild_id = ? AND {spending}",
            (new.guild_id, *SPENDING),
        ).fetchone()
        committed = sum(cost for _, cost in spent) + reserved
        excess = committed + limits.expected_cost - limits.budget
        if excess > 1e-9:
            until = None
            for at, cost in spent:  # the moment enough of the spend leaves the window
                excess -= cost
                if excess <= 1e-9:
                    until = at + DAY
                    break
            raise BudgetSpent(committed, limits.budget, until)


def _assignments(fields: dict[str, Any]) -> tuple[str, list[Any]]:
    unknown = set(fields) - _WRITABLE
    assert not unknown, f"not a job column: {unknown}"
    if isinstance(fields.get("outcome"), Outcome):
        fields = {**fields, "outcome": json.dumps(vars(fields["outcome"]))}
    return ", ".join(f"{name} = ?" for name in fields), list(fields.values())


def _marks(values: tuple[object, ...]) -> str:
    return ", ".join("?" for _ in values)


def _params(new: NewJob) -> str:
    # The request's options plus two facts about the job, as schema 1 stored them.
    fields = new.request.model_dump()
    return json.dumps({**fields, "upload_limit": new.upload_limit, "custom_pose": new.custom_pose})


def _job(row: aiosqlite.Row) -> Job:
    data = dict(row)
    state = JobState(data.pop("state"))
    params = json.loads(data.pop("params"))
    stored_outcome = data.pop("outcome")
    outcome = json.loads(stored_outcome) if stored_outcome else None
    return Job(
        **data,
        state=state,
        request=SheetRequest.model_validate(
            {name: params[name] for name in SheetRequest.model_fields if name in params}
        ),
        upload_limit=int(params.get("upload_limit") or 10 * 2**20),
        custom_pose=bool(params.get("custom_pose")),
        outcome=Outcome(**outcome) if outcome else None,
    )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _check_usable(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA schema_version").fetchone()  # reads the header: is it a database?
    finally:
        db.close()


def _unusable(path: Path, error: BaseException) -> str:
    damaged = ("not a database", "malformed")
    if isinstance(error, sqlite3.DatabaseError) and any(word in str(error) for word in damaged):
        why = "is not a SQLite database (or is damaged)"
    elif path.is_dir():
        why = "is a folder, not a file"
    elif isinstance(error, OSError) and error.strerror:
        why = f"cannot be created: {error.strerror}"
    else:
        why = f"cannot be opened: {error}"
    return (
        f"DATABASE_PATH ({path}) {why}. Point DATABASE_PATH at a file in a folder the bot may "
        "write to (it is created if missing), or restore it from a backup."
    )


__all__ = [
    "CoolingDown",
    "Job",
    "JobState",
    "Limits",
    "NewJob",
    "NotAdmitted",
    "Outcome",
    "QueueFull",
    "StorageError",
    "Store",
    "TooManyOfYours",
]
