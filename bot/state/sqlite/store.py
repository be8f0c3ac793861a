"""SQLite storage: jobs (with their pose and sheet bytes), cooldowns, the ledger, facts.

One connection, the only writer of the file: two connections writing met "database is locked"
under steady load (each waited out the other's transaction), and every job write fell into the
retry path. Each statement commits by itself (autocommit); what must be atomic (admission, a
job's end) runs as one function in the connection's thread inside BEGIN IMMEDIATE … COMMIT, so
nothing else interleaves. Multi-statement writes on the loop hold one lock. The schema changes
through numbered migrations.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, Unpack

import aiosqlite

from bot.sheets.job import SPENDING, Job, JobChange, JobState, LedgerEntry, NewJob
from bot.sheets.records import SERVER_SETTINGS
from bot.sheets.rules import Limits, NotAdmitted
from bot.state.admission import cooldown_place
from bot.state.codec import FIELDS, change_record, new_job, read_job
from bot.state.sqlite.admission import admit, sql_marks
from bot.state.sqlite.characters import SqliteShelves
from bot.state.sqlite.migrations import DatabaseTooNew, migrate


class StorageError(Exception):
    """The database cannot be used; the message says why and what to do."""


_COPIED_TABLES = frozenset(
    {
        "server_settings",
        "server_lists",
        "config_changes",
        "ledger",
        "alert_states",
        "member_cooldowns",
        "facts",
        "characters",
    }
)
_COLUMNS = ", ".join(FIELDS)  # what a listing reads: never the pose or sheet bytes
T = TypeVar("T")
# One request waiting for admission: what it asks, under which limits, when, and its answer.
_Asking = tuple[NewJob, Limits, float, "asyncio.Future[int]"]


class Store(SqliteShelves):
    """The bot's one SQLite database (one process: it holds every job)."""

    backend = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._raw = db._conn  # the sqlite3 connection, used only in aiosqlite's own thread
        self._lock = asyncio.Lock()
        self._asking: list[_Asking] = []  # admissions asked in this loop tick
        self._admitting: set[asyncio.Task[None]] = set()
        self._path = path
        self._identity = _identity(path)

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[Store]:
        """Open (creating if needed) and migrate the database at `path`."""
        try:
            # Checked with plain sqlite3 first: a failed aiosqlite connect leaves a thread behind.
            await asyncio.to_thread(_check_usable, path)
            db = await aiosqlite.connect(path, isolation_level=None)  # autocommit
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
                # Admissions already asked are answered before the connection closes.
                await asyncio.gather(*store._admitting, return_exceptions=True)
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

    async def persistence(self) -> dict[str, str]:
        """SQLite's journal mode and sync level."""
        found = {}
        for name in ("journal_mode", "synchronous"):
            row = await self._one(f"PRAGMA {name}")
            found[name] = str(row[0]) if row else "?"
        return found

    # Admission ---------------------------------------------------------------------------

    async def admit(self, new: NewJob, limits: Limits) -> Job:
        """Check the cooldown, the queue limits and the server's limits and store the job, in
        one transaction (BEGIN IMMEDIATE: atomic in the database itself, not only here).

        Raises a `NotAdmitted` subclass naming the rule that said no. Group commit: every
        request asked in the same loop tick is admitted in one call to the connection's thread
        and one transaction, each in its own savepoint (one refusal undoes only its own).
        """
        now = time.time()
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        answer.add_done_callback(_retrieved)  # a cancelled caller never reads its refusal
        self._asking.append((new, limits, now, answer))
        if len(self._asking) == 1:
            asyncio.get_running_loop().call_soon(self._admit_asked)
        job_id = await asyncio.shield(answer)  # a cancelled caller's job is admitted all the same
        return new_job(new, job_id, now, limits)

    def _admit_asked(self) -> None:
        asked, self._asking = self._asking, []
        task = asyncio.create_task(self._admit_all(asked))
        self._admitting.add(task)
        task.add_done_callback(self._admitting.discard)

    async def _admit_all(self, asked: list[_Asking]) -> None:
        try:
            results = await self._in_thread(self._admit_now, asked)
        except asyncio.CancelledError:  # shutting down: nobody waits for an answer forever
            for *_, answer in asked:
                answer.cancel()
            raise
        except Exception as exc:  # the transaction itself failed: nobody was admitted
            results = [exc] * len(asked)
        for (_, _, _, answer), result in zip(asked, results, strict=True):
            if answer.done():
                continue
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    def _admit_now(self, asked: list[_Asking]) -> list[int | BaseException]:
        db = self._raw
        results: list[int | BaseException] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for new, limits, now, _ in asked:
                db.execute("SAVEPOINT asking")
                try:
                    results.append(admit(db, new, limits, now))
                except (NotAdmitted, sqlite3.Error) as exc:
                    db.execute("ROLLBACK TO asking")
                    results.append(exc)
                db.execute("RELEASE asking")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return results

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        # aiosqlite has no public way to run a function in its connection's thread; its own
        # methods all go through this one. Nothing else runs on the connection meanwhile.
        result: T = await self._db._execute(function, *args)  # type: ignore[no-untyped-call]
        return result

    async def finish(self, entry: LedgerEntry, **fields: Unpack[JobChange]) -> None:
        """End a job: its ledger entry and its last fields in one transaction, so its cost is
        counted once, by its reservation or by the ledger, never both or neither."""
        columns, args = _assignments(fields)
        await self._in_thread(self._finish_now, entry, columns, args)

    def _finish_now(self, entry: LedgerEntry, columns: str, args: list[Any]) -> None:
        db = self._raw
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO ledger (job_id, at, guild_id, user_id, cost, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (entry.job_id, entry.at, entry.guild_id, entry.user_id, entry.cost, entry.outcome),
            )
            db.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*args, entry.job_id))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def give_back_cooldown(self, user_id: int, guild_id: int | None) -> None:
        """End the member's cooldown in a server now (the failure was not their fault)."""
        await self._write(
            "DELETE FROM member_cooldowns WHERE user_id = ? AND guild_id IN (?, -1)",
            user_id,
            cooldown_place(guild_id),
        )

    # Jobs --------------------------------------------------------------------------------

    async def update(self, job_id: int, **fields: Unpack[JobChange]) -> None:
        """Write some columns of a job."""
        await self.move(job_id, None, **fields)

    async def move(
        self, job_id: int, expected: JobState | None, **fields: Unpack[JobChange]
    ) -> bool:
        """Write some columns of a job if it is in the `expected` state (any, if None).

        Returns whether it was; the check and the write are one statement.
        """
        columns, values = _assignments(fields)
        where = "id = ?" + ("" if expected is None else " AND state = ?")
        args = (*values, job_id, *(() if expected is None else (expected,)))
        cursor = await self._db.execute(f"UPDATE jobs SET {columns} WHERE {where}", args)
        return cursor.rowcount == 1  # each statement commits by itself

    async def job(self, job_id: int) -> Job | None:
        """The job with this id, if it is stored."""
        row = await self._one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", job_id)
        return read_job(dict(row)) if row else None

    async def jobs_in(self, *states: JobState) -> list[Job]:
        """Jobs in any of these states, oldest first."""
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM jobs WHERE state IN ({sql_marks(states)}) ORDER BY id", *states
        )
        return [read_job(dict(row)) for row in rows]

    async def sheets_of(
        self, user_id: int, guild_id: int | None, since: float, *, skip: int, take: int
    ) -> tuple[list[Job], int]:
        """A member's delivered sheets in a server since a moment, newest first; how many."""
        where = "user_id = ? AND guild_id IS ? AND state = ? AND finished_at >= ?"
        args = (user_id, guild_id, JobState.DONE.value, since)
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM jobs WHERE {where} "
            "ORDER BY finished_at DESC, id DESC LIMIT ? OFFSET ?",
            *args,
            take,
            skip,
        )
        total = await self._one(f"SELECT COUNT(*) AS n FROM jobs WHERE {where}", *args)
        return [read_job(dict(row)) for row in rows], int(total["n"]) if total else 0

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
            f" AND state NOT IN ({sql_marks(SPENDING)})",
            older_than,
            *SPENDING,
        )

    # Leases: one process works on every job ----------------------------------------------

    async def hold(self, job_id: int, *, only_in: JobState | None = None) -> bool:
        """Whether this process may work on the job: always, with one process."""
        return True

    async def release(self, job_id: int) -> None:
        """Nothing to give back with one process."""

    # The ledger and server settings ------------------------------------------------------

    async def ledger(self, since: float, guild_id: int | None = None) -> list[LedgerEntry]:
        """The ledger since a moment, oldest first (one server, or all)."""
        where, args = ("", ()) if guild_id is None else (" AND guild_id = ?", (guild_id,))
        rows = await self._all(
            f"SELECT * FROM ledger WHERE at >= ?{where} ORDER BY at, job_id", since, *args
        )
        return [LedgerEntry(**dict(row)) for row in rows]

    async def server_settings(self, guild_id: int) -> dict[str, Any] | None:
        """A server's stored settings row, if it has one."""
        row = await self._one("SELECT * FROM server_settings WHERE guild_id = ?", guild_id)
        if row is None:
            return None
        settings = dict(row)
        del settings["guild_id"]
        return settings

    async def set_server_setting(self, guild_id: int, setting: str, value: Any) -> None:
        """Set one of a server's settings (a column of server_settings)."""
        assert setting in SERVER_SETTINGS, setting
        await self._db.execute(
            f"INSERT INTO server_settings (guild_id, {setting}) VALUES (?, ?)"
            f" ON CONFLICT (guild_id) DO UPDATE SET {setting} = excluded.{setting}",
            (guild_id, value),
        )

    async def server_list(self, guild_id: int, kind: str) -> list[str]:
        """One of a server's lists, in the order its entries were added."""
        rows = await self._all(
            "SELECT value FROM server_lists WHERE guild_id = ? AND kind = ? ORDER BY rowid",
            guild_id,
            kind,
        )
        return [str(r["value"]) for r in rows]

    async def add_to_server_list(self, guild_id: int, kind: str, value: str) -> None:
        await self._write(
            "INSERT OR IGNORE INTO server_lists (guild_id, kind, value) VALUES (?, ?, ?)",
            guild_id,
            kind,
            value,
        )

    async def remove_from_server_list(self, guild_id: int, kind: str, value: str) -> None:
        await self._write(
            "DELETE FROM server_lists WHERE guild_id = ? AND kind = ? AND value = ?",
            guild_id,
            kind,
            value,
        )

    async def record_config_change(
        self, at: float, guild_id: int, user_id: int, setting: str, old: str, new: str
    ) -> None:
        """One line of the change log: who changed what, from what, to what (JSON)."""
        await self._write(
            "INSERT INTO config_changes (at, guild_id, user_id, setting, old, new)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            at,
            guild_id,
            user_id,
            setting,
            old,
            new,
        )

    async def guilds_with_alerts(self) -> list[int]:
        rows = await self._all(
            "SELECT guild_id FROM server_settings WHERE alerts_channel_id IS NOT NULL"
        )
        return [int(r["guild_id"]) for r in rows]

    async def safety_modes(self) -> set[str]:
        rows = await self._all(
            "SELECT DISTINCT safety_mode FROM server_settings WHERE safety_mode IS NOT NULL"
        )
        return {str(r["safety_mode"]) for r in rows}

    async def swap_alert(self, guild_id: int, kind: str, raised: bool) -> bool:
        async with self._lock:
            row = await self._one(
                "SELECT raised FROM alert_states WHERE guild_id = ? AND kind = ?", guild_id, kind
            )
            await self._db.execute(
                "INSERT INTO alert_states (guild_id, kind, raised) VALUES (?, ?, ?)"
                " ON CONFLICT (guild_id, kind) DO UPDATE SET raised = excluded.raised",
                (guild_id, kind, int(raised)),
            )
        return bool(row and row["raised"])

    # Everything, for the copy into Redis (`python -m bot copy-to-redis`) -------------------

    async def table(self, name: str) -> list[dict[str, Any]]:
        """Every row of one of the small tables (settings, lists, changes, ledger, facts)."""
        assert name in _COPIED_TABLES, name
        return [dict(row) for row in await self._all(f"SELECT * FROM {name} ORDER BY rowid")]

    async def finished_jobs(self) -> list[Job]:
        """Every finished job (for its Re-roll and Delete buttons), oldest first."""
        return await self.jobs_in(
            JobState.DONE, JobState.FAILED, JobState.INTERRUPTED, JobState.WITHHELD
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
        cursor = await self._db.execute(sql, args)  # commits by itself
        return cursor.rowcount

    async def _one(self, sql: str, *args: Any) -> aiosqlite.Row | None:
        rows = await self._all(sql, *args)
        return rows[0] if rows else None

    async def _all(self, sql: str, *args: Any) -> list[aiosqlite.Row]:
        return list(await self._db.execute_fetchall(sql, args))  # one thread hop


def _retrieved(answer: asyncio.Future[int]) -> None:
    if not answer.cancelled():
        answer.exception()


def _assignments(fields: JobChange) -> tuple[str, list[Any]]:
    columns = change_record(fields)
    return ", ".join(f"{name} = ?" for name in columns), list(columns.values())


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


__all__ = ["StorageError", "Store"]
