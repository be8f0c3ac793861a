"""The bot's records in Redis, shared by several processes (`REDIS_URL`).

The same interface as the SQLite store (`bot.sheets.records.Records`). Every step that checks and
changes (admission, a job's move, its end, a lease) is one Lua script, so it is atomic across
processes. A job is a hash `job:ID` (its pose and sheet in keys of their own); indexes keep the
jobs of each state, each member's active jobs and each server's jobs that may still cost.

A lease says which process works on a job: `hold` takes it (when free or expired), the process
renews it while working. Each claim or takeover also gives the job a new fence (a generation
number); every later write of that job must present it, so a process that was taken over (frozen
past its lease, cut off from Redis) has its writes refused, even once the job has ended, and is
told so (`Fenced`) to stop working on the job.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Unpack

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.ops.settings import redis_address
from bot.sheets.job import (
    DAY,
    SPENDING,
    Job,
    JobChange,
    JobState,
    LedgerEntry,
    NewJob,
)
from bot.sheets.records import Fenced
from bot.sheets.rules import (
    Limits,
)
from bot.state.admission import cooldown_place
from bot.state.codec import BLOBS, change_record, job_record, new_job, new_job_record, read_job
from bot.state.redis import admission, lua
from bot.state.redis.characters import RedisShelves
from bot.state.redis.epoch import Epoch
from bot.state.sqlite.store import StorageError

log = logging.getLogger(__name__)

PREFIX = "sheetbot:"
# Blobs (a pose, a sheet) above this are refused: Redis keeps everything in memory.
MAX_BLOB_BYTES = 32 * 2**20
# Connections to Redis per process besides the workers' reads, and how long a request waits
# for one when all are busy.
SPARE_CONNECTIONS = 48
CONNECTION_WAIT = 30.0
# A pooled connection idle this long is checked (PING) before use: one a Redis restart cut is
# replaced before a command is sent on it. A command whose connection fails anyway is sent once
# more on a fresh one: every command and script is safe to repeat (admission by its request key,
# a job's move by its fence).
HEALTH_CHECK_EVERY = 1
RETRIES = 1
# Finished jobs are kept this long (for re-rolls and deletes), then Redis forgets them.
KEEP_FINISHED = 30 * DAY
# Each process renews its heartbeat this often (with its leases); one not renewed for DEAD_AFTER
# is dead: its queued jobs (not started) and its Segmind slots are taken over at once, without
# waiting for their leases. Leases still guard its jobs in flight.
HEARTBEAT_EVERY = 3.0
DEAD_AFTER = 15.0
# How many ended jobs' fences a process remembers (for a finish retried after a lost answer).
REMEMBER_ENDED = 1000
# Each of a job's bytes (`codec.BLOBS`) in a key of its own: job:ID:pose, job:ID:sheet.
_BLOB_KEYS = {"pose": "pose", "result": "sheet"}


class RedisStore(RedisShelves):
    """The bot's records in one Redis server, shared by every process of the bot."""

    backend = "redis"

    def __init__(self, client: redis.Redis, *, lease_seconds: float) -> None:
        self._redis = client
        self._prefix = PREFIX
        self.lease_seconds = lease_seconds
        self.holder = f"{uuid.uuid4().hex[:12]}"  # this process, as leases name it
        self._scripts = {
            name: lua.register(client, name)
            for name in ("move", "finish", "hold", "release", "renew", "save_character")
        }
        self._scripts["admit"] = lua.register(client, "admit", **admission.CONSTANTS)
        self.epoch = Epoch(client, PREFIX)  # notices a Redis that lost its data
        self._fences: dict[int, int] = {}  # the jobs this process holds, by their fence
        # The fences of jobs this process ended lately: a finish retried (its first answer
        # lost) is still this process's own.
        self._ended: OrderedDict[int, int] = OrderedDict()

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, *, lease_seconds: float = 120, workers: int = 2
    ) -> AsyncIterator[RedisStore]:
        """Connect to Redis at `url` (checked with a PING); `workers` read the shared line."""
        # Each worker's blocking read holds a connection; a burst's admissions need more. Past
        # the pool's size a request waits for a connection instead of failing.
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=workers + SPARE_CONNECTIONS,
            timeout=CONNECTION_WAIT,
            health_check_interval=HEALTH_CHECK_EVERY,
            retry=Retry(NoBackoff(), RETRIES),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        client = redis.Redis.from_pool(pool)  # closing the client closes the pool
        try:
            try:
                await client.ping()
            except (RedisError, OSError, ValueError) as exc:
                raise StorageError(_unreachable(url, exc)) from exc
            yield cls(client, lease_seconds=lease_seconds)
        finally:
            await client.aclose()

    @property
    def client(self) -> redis.Redis:
        """The connection, for the shared queue and limits (`bot.state.redis.line`)."""
        return self._redis

    def file_problem(self) -> str | None:
        return None  # no file: Redis's own persistence is checked by `python -m bot check`

    async def persistence(self) -> dict[str, str]:
        """Redis's persistence settings (appendonly, appendfsync, save)."""
        found: dict[str, str] = {}
        for name in ("appendonly", "appendfsync", "save"):
            value = await self._redis.config_get(name)
            found.update({_text(k): _text(v) for k, v in value.items()})
        return found

    # Admission ---------------------------------------------------------------------------

    async def admit(self, new: NewJob, limits: Limits) -> Job:
        now = time.time()
        fields = json.dumps(_as_text(new_job_record(new, now, limits)))
        asked = admission.arguments(
            new, limits, now, fields, self.holder, self.lease_seconds, self.epoch.highest
        )
        answer = await self._run("admit", *asked)
        job_id = admission.admitted([_text(v) for v in answer], new, limits)
        self.epoch.saw(job_id)
        self._fences[job_id] = 1  # held until it is queued (a pose may take a while)
        return new_job(new, job_id, now, limits)

    # Jobs --------------------------------------------------------------------------------

    async def move(
        self, job_id: int, expected: JobState | None, **fields: Unpack[JobChange]
    ) -> bool:
        return bool(await self._change("move", job_id, [expected or ""], fields, []))

    async def update(self, job_id: int, **fields: Unpack[JobChange]) -> None:
        await self.move(job_id, None, **fields)

    async def finish(self, entry: LedgerEntry, **fields: Unpack[JobChange]) -> None:
        guild = cooldown_place(entry.guild_id)  # direct messages count under 0
        ledger = _ledger_text(entry)
        trailing = [entry.at, guild, KEEP_FINISHED]
        await self._change("finish", entry.job_id, [ledger], fields, trailing)
        fence = self._fences.pop(entry.job_id, None)  # only now: until its end is stored
        if fence is not None:
            self._ended[entry.job_id] = fence
            while len(self._ended) > REMEMBER_ENDED:
                self._ended.popitem(last=False)

    async def job(self, job_id: int) -> Job | None:
        stored = await self._redis.hgetall(f"{PREFIX}job:{job_id}")
        if not stored:
            return None
        self.epoch.saw(job_id)
        return _job(stored)

    async def jobs_in(self, *states: JobState) -> list[Job]:
        ids: set[int] = set()
        for state in states:
            ids.update(
                int(_text(i)) for i in await self._redis.zrange(f"{PREFIX}state:{state}", 0, -1)
            )
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in sorted(ids):
                pipe.hgetall(f"{PREFIX}job:{job_id}")
            stored = await pipe.execute()
        jobs = [_job(s) for s in stored if s]
        return [job for job in jobs if job.state in states]  # it may have moved meanwhile

    async def sheets_of(
        self, user_id: int, guild_id: int | None, since: float, *, skip: int, take: int
    ) -> tuple[list[Job], int]:
        key = _sheets_key(user_id, guild_id)  # written by finish.lua
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", f"({time.time() - KEEP_FINISHED}")
            pipe.zcount(key, since, "+inf")
            pipe.zrevrangebyscore(key, "+inf", since, start=skip, num=take)
            _, total, ids = await pipe.execute()
        async with self._redis.pipeline(transaction=False) as pipe:
            for raw in ids:
                pipe.hgetall(f"{PREFIX}job:{_text(raw)}")
            stored = await pipe.execute()
        return [_job(s) for s in stored if s], int(total)

    async def pose(self, job_id: int) -> bytes | None:
        return _blob(await self._redis.get(f"{PREFIX}job:{job_id}:pose"))

    async def sheet(self, job_id: int) -> bytes | None:
        return _blob(await self._redis.get(f"{PREFIX}job:{job_id}:sheet"))

    async def forget_old_poses(self, older_than: float) -> int:
        forgotten = 0
        for raw in await self._redis.zrangebyscore(f"{PREFIX}poses", "-inf", f"({older_than}"):
            job_id = int(_text(raw))
            state = await self._redis.hget(f"{PREFIX}job:{job_id}", "state")
            if state is not None and JobState(_text(state)) in SPENDING:  # not ended yet
                continue
            forgotten += await self._redis.delete(f"{PREFIX}job:{job_id}:pose")
            await self._redis.zrem(f"{PREFIX}poses", job_id)
        return forgotten

    async def give_back_cooldown(self, user_id: int, guild_id: int | None) -> None:
        await self._redis.delete(f"{PREFIX}cooldown:{user_id}:{cooldown_place(guild_id)}")

    # Leases ------------------------------------------------------------------------------

    async def hold(self, job_id: int, *, only_in: JobState | None = None) -> bool:
        """Take the job's lease if no other process holds it (or its lease ran out), and it
        is in state `only_in` (if given)."""
        now = time.time()
        state = only_in or ""
        fence = int(await self._run("hold", job_id, self.holder, now, self.lease_seconds, state))
        if fence:
            self._fences[job_id] = fence
            self.epoch.saw(job_id)
        return bool(fence)

    async def release(self, job_id: int) -> None:
        await self._run("release", job_id, self.holder, self._fences.get(job_id, 0))
        self._fences.pop(job_id, None)

    def let_go(self, job_id: int) -> None:
        """Stop renewing a job's lease (Redis cannot be told now): it runs out by itself."""
        self._fences.pop(job_id, None)

    async def beat(self) -> None:
        """Say this process is alive (for DEAD_AFTER seconds)."""
        await self._redis.set(f"{PREFIX}alive:{self.holder}", 1, px=int(DEAD_AFTER * 1000))

    def holds(self, job_id: int) -> bool:
        """Whether this process holds the job (as far as it knows)."""
        return job_id in self._fences

    async def renew(self) -> None:
        """Renew the heartbeat, extend the leases of every job this process holds; forget
        those taken over."""
        await self.beat()
        if not self._fences:
            return
        pairs = [value for held in self._fences.items() for value in held]
        lost = await self._run("renew", self.holder, time.time(), self.lease_seconds, *pairs)
        for raw in lost:
            job_id = int(_text(raw))
            log.warning("job %d was taken over by another process: this one lets it go", job_id)
            self._fences.pop(job_id, None)

    # The ledger and server settings ------------------------------------------------------

    async def ledger(self, since: float, guild_id: int | None = None) -> list[LedgerEntry]:
        key = f"{PREFIX}ledger:all" if guild_id is None else f"{PREFIX}ledger:guild:{guild_id}"
        raw = await self._redis.zrangebyscore(key, since, "+inf")
        entries = [_ledger_entry(json.loads(_text(item))) for item in raw]
        return sorted(entries, key=lambda e: (e.at, e.job_id))

    async def server_settings(self, guild_id: int) -> dict[str, Any] | None:
        stored = await self._redis.hgetall(f"{PREFIX}server:{guild_id}")
        return {_text(k): json.loads(_text(v)) for k, v in stored.items()} if stored else None

    async def set_server_setting(self, guild_id: int, setting: str, value: Any) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"{PREFIX}server:{guild_id}", setting, json.dumps(value))
            if setting == "alerts_channel_id":
                if value is None:
                    pipe.srem(f"{PREFIX}servers_with_alerts", guild_id)
                else:
                    pipe.sadd(f"{PREFIX}servers_with_alerts", guild_id)
            await pipe.execute()

    async def server_list(self, guild_id: int, kind: str) -> list[str]:
        return [_text(v) for v in await self._redis.zrange(_list_key(guild_id, kind), 0, -1)]

    async def add_to_server_list(self, guild_id: int, kind: str, value: str) -> None:
        await self._redis.zadd(_list_key(guild_id, kind), {value: time.time()}, nx=True)

    async def remove_from_server_list(self, guild_id: int, kind: str, value: str) -> None:
        await self._redis.zrem(_list_key(guild_id, kind), value)

    async def record_config_change(
        self, at: float, guild_id: int, user_id: int, setting: str, old: str, new: str
    ) -> None:
        change: dict[str | bytes, str | float | int] = {
            "at": at,
            "guild_id": guild_id,
            "user_id": user_id,
            "setting": setting,
            "old": old,
            "new": new,
        }
        await self._redis.xadd(f"{PREFIX}config_changes", change)  # type: ignore[arg-type]

    async def guilds_with_alerts(self) -> list[int]:
        return sorted(
            int(_text(g)) for g in await self._redis.smembers(f"{PREFIX}servers_with_alerts")
        )

    async def safety_modes(self) -> set[str]:
        # Read once, at start-up: one pass over the servers' hashes (their lists are sorted
        # sets), one pipelined read of each one's mode. No index to keep in step on every write,
        # and the modes stored before this was asked are found too.
        keys = [
            key
            async for key in self._redis.scan_iter(
                match=f"{PREFIX}server:*", count=1000, _type="HASH"
            )
        ]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "safety_mode")
            modes = await pipe.execute()
        return {json.loads(_text(m)) for m in modes if m is not None} - {None}

    async def swap_alert(self, guild_id: int, kind: str, raised: bool) -> bool:
        field = f"{guild_id}:{kind}"
        async with self._redis.pipeline(transaction=True) as pipe:  # MULTI: one step
            pipe.hget(f"{PREFIX}alerts_raised", field)
            pipe.hset(f"{PREFIX}alerts_raised", field, int(raised))
            was, _ = await pipe.execute()
        return was is not None and _text(was) == "1"

    # Filling an empty Redis from the SQLite file (`bot.state.copy`) ------------------------

    async def is_empty(self) -> bool:
        """Whether no bot has kept anything here yet (heartbeats and the epoch aside)."""
        async for key in self._redis.scan_iter(match=f"{PREFIX}*", count=1000):
            name = _text(key)
            if not name.startswith(f"{PREFIX}alive:") and name != f"{PREFIX}epoch":
                return False
        return True

    async def import_finished_job(self, job: Job, pose: bytes | None) -> None:
        """A finished job as it was, with its pose if still kept (for Re-roll)."""
        key = f"{PREFIX}job:{job.id}"
        fields: dict[str | bytes, str] = {
            k: v for k, v in _as_text(job_record(job)).items() if v is not None
        }
        ended = job.finished_at or job.created_at
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.zadd(f"{PREFIX}state:{job.state}", {str(job.id): ended})
            if pose is not None:
                pipe.set(f"{key}:pose", pose)
                pipe.zadd(f"{PREFIX}poses", {str(job.id): job.created_at})
                pipe.expire(f"{key}:pose", int(KEEP_FINISHED))
            pipe.expire(key, int(KEEP_FINISHED))
            if job.state is JobState.DONE:
                sheets = _sheets_key(job.user_id, job.guild_id)
                pipe.zadd(sheets, {str(job.id): ended})
                pipe.expire(sheets, int(KEEP_FINISHED))
            await pipe.execute()

    async def import_ledger(self, entries: list[LedgerEntry]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for entry in entries:
                text = _ledger_text(entry)
                pipe.hset(f"{PREFIX}ledger:entries", str(entry.job_id), text)
                pipe.zadd(f"{PREFIX}ledger:all", {text: entry.at})
                place = cooldown_place(entry.guild_id)  # direct messages count under 0
                pipe.zadd(f"{PREFIX}ledger:guild:{place}", {text: entry.at})
            await pipe.execute()

    async def import_cooldown(self, user_id: int, guild_id: int, until: float) -> None:
        """A cooldown still running (guild 0: direct messages)."""
        left_ms = int((until - time.time()) * 1000)
        if left_ms > 0:
            await self._redis.set(f"{PREFIX}cooldown:{user_id}:{guild_id}", str(until), px=left_ms)

    async def continue_ids_after(self, last_id: int) -> None:
        """New jobs get ids after `last_id` (old messages' buttons name older ones)."""
        await self._redis.set(f"{PREFIX}job:next", last_id)

    # Facts -------------------------------------------------------------------------------

    async def fact(self, key: str) -> Any:
        value = await self._redis.hget(f"{PREFIX}facts", key)
        return None if value is None else json.loads(value)

    async def set_fact(self, key: str, value: Any) -> None:
        await self._redis.hset(f"{PREFIX}facts", key, json.dumps(value))

    # -------------------------------------------------------------------------------------

    async def _change(
        self,
        script: str,
        job_id: int,
        leading: list[Any],
        fields: JobChange,
        trailing: list[Any],
    ) -> int:
        """Run a job-writing script: ARGV = P, id, fence, now, *leading, fields, *trailing,
        then the blobs among the fields as (name, bytes) pairs. Raises `Fenced` when the job's
        fence is not this process's (another one took it over)."""
        changes = change_record(fields)
        blobs: list[Any] = []
        for name, key in _BLOB_KEYS.items():
            blob = changes.get(name)
            if blob is not None and len(blob) > MAX_BLOB_BYTES:
                # Kept in memory by Redis: refused, the rest written (a sheet is then delivered
                # from memory, with no copy to survive a crash).
                log.warning(
                    "job %d: its %s (%d bytes) is too large to keep", job_id, key, len(blob)
                )
            elif name in changes:
                blobs += [key, blob or b""]
        record = {k: v for k, v in changes.items() if k not in BLOBS}
        changed = await self._run(
            script,
            job_id,
            self._fences.get(job_id) or self._ended.get(job_id, 0),
            time.time(),
            *leading,
            json.dumps(_as_text(record)),
            *trailing,
            *blobs,
        )
        if int(changed) < 0:
            self._fences.pop(job_id, None)
            self._ended.pop(job_id, None)
            raise Fenced(job_id)
        return int(changed)

    async def _run(self, script: str, *args: Any) -> Any:
        return await self._scripts[script](args=[PREFIX, *args])


def _as_text(record: dict[str, Any]) -> dict[str, str | None]:
    """A job's stored values as the hash keeps them: text, or None for "no value"."""
    return {name: None if value is None else str(value) for name, value in record.items()}


def _job(stored: dict[Any, Any]) -> Job:
    return read_job({_text(k): _text(v) for k, v in stored.items()})


def _ledger_text(entry: LedgerEntry) -> str:
    # Ids as text: Lua reads JSON numbers as doubles, too small for Discord's ids.
    guild = "" if entry.guild_id is None else str(entry.guild_id)
    return json.dumps({**vars(entry), "user_id": str(entry.user_id), "guild_id": guild})


def _ledger_entry(stored: dict[str, Any]) -> LedgerEntry:
    guild = stored["guild_id"]
    return LedgerEntry(
        **{**stored, "user_id": int(stored["user_id"]), "guild_id": int(guild) if guild else None}
    )


def _sheets_key(user_id: int, guild_id: int | None) -> str:
    # As finish.lua builds it: the place (0 for direct messages), then the member.
    return f"{PREFIX}sheets:{cooldown_place(guild_id)}:{user_id}"


def _list_key(guild_id: int, kind: str) -> str:
    return f"{PREFIX}server:{guild_id}:list:{kind}"


def _blob(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _unreachable(url: str, error: BaseException) -> str:
    where = redis_address(url)
    why = f"{type(error).__name__}: {error}".rstrip(".")
    return (
        f"REDIS_URL ({where}) cannot be reached ({why}). Start Redis there, or fix REDIS_URL "
        "(unset it to keep everything in DATABASE_PATH's SQLite file)."
    )


__all__ = ["MAX_BLOB_BYTES", "RedisStore"]
