"""The line shared by every process of the bot, in Redis.

Queued jobs are entries of a Stream read through one consumer group, so each goes to one worker
of one process. A worker first takes one of `MAX_CONCURRENT_JOBS` slots (leases in a sorted set,
shared by all processes), and starts a request only when the rolling minute, counted for all
processes in another sorted set, has room under `SEGMIND_RPM`.

A process renews its slots, its jobs' leases and its stream entries while it works. When it dies
they run out: after `JOB_LEASE_SECONDS` another process claims its entries (XAUTOCLAIM) and goes
on with each job from the state it was left in.

Redis may lose everything (restarted without its data, flushed): the line and its group are made
again, and the jobs this process had put in line are reported lost (`lost`), never drawn.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError, ResponseError

from bot.sheets.job import Job, JobState
from bot.state.redis import lua
from bot.state.redis.store import HEARTBEAT_EVERY, PREFIX, RedisStore

log = logging.getLogger(__name__)

STREAM = f"{PREFIX}line"
GROUP = "workers"
# How long a worker's read waits for a new entry before it looks again (slots, closing).
READ_BLOCK_MS = 1000
# How often a worker waiting for a free slot looks again.
SLOT_POLL = 0.05
# How long a worker waits before reading again when Redis did not answer.
UNREACHABLE_RETRY = 1.0
# How often joining the line is tried when Redis does not answer.
ADD_ATTEMPTS = 5
_ALIVE = (JobState.QUEUED, JobState.SENDING, JobState.SUBMITTED, JobState.DRAWN)
# SEGMIND_RPM counts the requests started in a rolling minute, by every process together.
MINUTE = 60.0
# How often a process looks for the stream entries of dead processes.
LOOK_FOR_THE_DEAD = 0.5


class SharedLine:
    """The line, slots and pace of every process of the bot, in Redis."""

    def __init__(self, store: RedisStore, *, concurrency: int, requests_per_minute: int) -> None:
        self._store = store
        self._redis = store.client
        self._concurrency = concurrency
        self._per_minute = requests_per_minute
        self._lease = store.lease_seconds
        self._consumer = store.holder
        self._take_slot = lua.register(self._redis, "take_slot")
        self._next_look = 0.0
        self._start = lua.register(self._redis, "start", MINUTE=MINUTE)
        self._taken: dict[int, tuple[bytes, str]] = {}  # job id -> (stream entry, slot)
        self._handing_back: dict[int, tuple[bytes, str]] = {}  # done with, not yet acked
        self._put_here: dict[int, Job] = {}  # queued by this process, for place announcements
        self._lost: list[Job] = []  # put in line here, then lost by Redis: members to tell
        self._held: set[int] = set()  # of those, taken by a worker when last looked at
        self._waiting = 0
        self._closed = False
        self._unanswered: set[str] = set()  # turns taken here whose request has no answer yet
        self._group_ready = False
        self.renew_every: float | None = max(min(self._lease / 4, HEARTBEAT_EVERY), 0.2)

    @property
    def waiting(self) -> int:
        return self._waiting

    async def add(self, job: Job, *, first: bool = False) -> int | None:
        # Stored as queued already: without its entry no worker would ever find it, so a
        # dropped connection is tried again before giving up.
        for attempt in range(ADD_ATTEMPTS):
            try:
                await self._ensure_group()
                await self._redis.xadd(STREAM, {"job": job.id})
                break
            except (RedisError, OSError) as exc:
                if attempt == ADD_ATTEMPTS - 1:
                    raise
                log.warning("job %d: could not join the shared line yet (%s)", job.id, exc)
                await asyncio.sleep(UNREACHABLE_RETRY)
        self._put_here[job.id] = job
        self._waiting = int(await self._redis.zcard(f"{PREFIX}state:{JobState.QUEUED}"))
        return max(self._waiting - 1, 0)

    async def take(self) -> Job | None:
        # The entry first, then a slot: Redis hands new entries to blocked readers in turn, so
        # every process's workers get their share (polling for slots first favours the one
        # that just finished).
        while not self._closed:
            try:
                job = await self._take_one()
            except (RedisError, OSError) as exc:  # Redis restarting: wait, never lose a worker
                log.warning("the shared line cannot be read (%s); retrying", exc)
                if "NOGROUP" in str(exc):  # Redis lost its data: the group is made again
                    self._group_ready = False
                await asyncio.sleep(UNREACHABLE_RETRY)
                continue
            if job is not None:
                return job
        return None

    async def _take_one(self) -> Job | None:
        await self._ensure_group()
        entry = await self._next_entry()
        job = await self._job_of(entry) if entry is not None else None
        if job is None:
            return None
        slot = f"{self._consumer}:{uuid.uuid4().hex[:8]}"
        while not self._closed:
            try:
                if await self._slot(slot):
                    self._taken[job.id] = (self._taken[job.id][0], slot)
                    return job
            except (RedisError, OSError) as exc:  # the job is ours (renewed) while we wait
                log.warning("job %d: no Segmind slot can be taken yet (%s)", job.id, exc)
                await asyncio.sleep(UNREACHABLE_RETRY)
                continue
            await asyncio.sleep(SLOT_POLL)
        await self._give_back(job)
        return None

    async def done(self, job: Job) -> None:
        self._handing_back[job.id] = self._taken.pop(job.id)
        try:
            await self._hand_back(job.id)
        except (RedisError, OSError) as exc:  # tried again at each renewal, lease kept
            log.warning("job %d: could not give its place back yet (%s)", job.id, exc)

    async def places(self) -> list[tuple[Job, int]]:
        # The jobs this process put in line (it has their interaction tokens), placed among all;
        # none a worker has taken, whose placeholder is now that worker's to edit.
        ids = sorted(self._put_here)
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(f"{PREFIX}job:{job_id}", ["state", "holder"])
                pipe.zcount(f"{PREFIX}state:{JobState.QUEUED}", "-inf", f"({job_id}")
            found = await pipe.execute()
        places = []
        for job_id, (state, holder), ahead in zip(ids, found[::2], found[1::2], strict=True):
            if state is None:  # stored before it was put here: Redis lost it
                self._forget(job_id, lost=True)
            elif state != JobState.QUEUED.encode():
                self._forget(job_id, lost=False)
            elif holder is None:
                self._held.discard(job_id)
                places.append((self._put_here[job_id], int(ahead)))
            else:
                self._held.add(job_id)
        return places

    async def turn(self, on_wait: Callable[[float], None]) -> str:
        told, turn = False, uuid.uuid4().hex
        while True:
            wait = float(await self._start(args=[PREFIX, time.time(), self._per_minute, turn]))
            if wait <= 0:
                self._unanswered.add(turn)
                return turn
            if not told:
                on_wait(wait)
                told = True
            await asyncio.sleep(min(wait, 1.0))  # another process may have taken the turn

    async def answered(self, turn: str) -> None:
        if turn not in self._unanswered:
            return  # a later answer (the end of polling): Segmind counted it before
        self._unanswered.discard(turn)
        try:  # counted from now (XX: a turn the minute already let go of stays gone)
            await self._redis.zadd(f"{PREFIX}starts", {turn: time.time()}, xx=True)
        except (RedisError, OSError) as exc:  # it then counts two minutes from its start
            log.warning("could not date a Segmind answer for the pace (%s)", exc)

    def lost(self) -> list[Job]:
        """The jobs this process put in line that Redis lost since last asked."""
        lost, self._lost = self._lost, []
        return lost

    def close(self) -> None:
        self._closed = True

    async def renew(self) -> None:
        """Keep what this process holds: slots, job leases, stream entries (in that order, so
        an entry never looks abandoned before its job's lease runs out); then hand back the jobs
        whose end could not be told to Redis before. The heartbeat first (the store's). A
        Redis that lost its data first has its line made again."""
        if await self._store.epoch.notice():
            self._wiped()
        slots = {slot: time.time() + self._lease for _, slot in self._taken.values() if slot}
        if slots:
            await self._redis.zadd(f"{PREFIX}slots", slots, xx=True)
        await self._store.renew()
        held = [*self._taken.values(), *self._handing_back.values()]
        entries: list[bytes | str | int | memoryview] = [entry for entry, _ in held]
        if entries:
            await self._ensure_group()
            await self._redis.xclaim(STREAM, GROUP, self._consumer, 0, entries, justid=True)
        for job_id in list(self._handing_back):
            await self._hand_back(job_id)
        self._waiting = int(await self._redis.zcard(f"{PREFIX}state:{JobState.QUEUED}"))

    # -------------------------------------------------------------------------------------

    def _wiped(self) -> None:
        """Redis lost the line: make it again; the jobs put here are lost (their records,
        poses and cooldowns with them). Those a worker holds fail their claim: never sent."""
        self._group_ready = False
        for job_id in list(self._put_here):
            self._forget(job_id, lost=True)

    def _forget(self, job_id: int, *, lost: bool) -> None:
        """Stop announcing a job put here; if Redis lost it, its member is to be told, unless a
        worker had it (that worker tells, or delivers it if its claim came first)."""
        job = self._put_here.pop(job_id)
        if lost and job_id not in self._held:
            self._lost.append(job)
        self._held.discard(job_id)

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _slot(self, slot: str) -> bool:
        args: list[str | float] = [PREFIX, slot, time.time(), self._lease, self._concurrency]
        return bool(await self._take_slot(args=args))

    async def _next_entry(self) -> tuple[bytes, int] | None:
        """An entry of a process that died: queued by it (its heartbeat stopped) or held past
        its lease; else a new one."""
        dead = await self._from_the_dead()
        if dead is not None:
            return dead
        claimed: Any = await self._redis.xautoclaim(
            STREAM, GROUP, self._consumer, int(self._lease * 1000), "0-0", count=1
        )
        for entry_id, fields in claimed[1]:
            if not fields:  # deleted but never acked: Redis 6.2 keeps it pending; drop it
                await self._redis.xack(STREAM, GROUP, entry_id)
                return None
            log.info("claimed job %s from a process that stopped", fields[b"job"].decode())
            return entry_id, int(fields[b"job"])
        read: Any = await self._redis.xreadgroup(
            GROUP, self._consumer, {STREAM: ">"}, count=1, block=READ_BLOCK_MS
        )
        for _, entries in read or []:
            for entry_id, fields in entries:
                return entry_id, int(fields[b"job"])
        return None

    async def _from_the_dead(self) -> tuple[bytes, int] | None:
        """One entry a process without a heartbeat held (it may have been waiting for a slot:
        the job is taken only if still queued)."""
        if time.monotonic() < self._next_look:
            return None
        self._next_look = time.monotonic() + LOOK_FOR_THE_DEAD
        consumers: Any = await self._redis.xinfo_consumers(STREAM, GROUP)
        for consumer in consumers:
            name = _text(consumer["name"])
            if name == self._consumer or await self._redis.exists(f"{PREFIX}alive:{name}"):
                continue
            if not consumer["pending"]:
                await self._redis.xgroup_delconsumer(STREAM, GROUP, name)
                continue
            rows: Any = await self._redis.xpending_range(
                STREAM, GROUP, "-", "+", 1, consumername=name
            )
            for row in rows:
                # Idle since the dead one last renewed it; another live process that claimed
                # it first has just reset that, so the entry is claimed once.
                claimed: Any = await self._redis.xclaim(
                    STREAM, GROUP, self._consumer, int(HEARTBEAT_EVERY * 1000), [row["message_id"]]
                )
                for entry_id, fields in claimed:
                    if fields:
                        log.info("claimed job %s from a process that died", fields[b"job"].decode())
                        return entry_id, int(fields[b"job"])
        return None

    async def _hand_back(self, job_id: int) -> None:
        """Ack the entry of a job a worker is done with, free its slot and its lease. One call
        at a time per job (a worker's and a renewal's may meet); kept for a retry if it fails."""
        taken = self._handing_back.pop(job_id, None)
        if taken is None:
            return  # handed back already, or being handed back
        entry, slot = taken
        try:
            state = await self._redis.hget(f"{PREFIX}job:{job_id}", "state")
            if state != JobState.QUEUED.encode():  # else it failed before its claim: kept
                await self._redis.xack(STREAM, GROUP, entry)  # for a retry after its lease
                await self._redis.xdel(STREAM, entry)
            await self._redis.zrem(f"{PREFIX}slots", slot)
            await self._store.release(job_id)
        except BaseException:
            self._handing_back[job_id] = taken
            raise

    async def _give_back(self, job: Job) -> None:
        """Closing while waiting for a slot: the job goes back in line (at its end)."""
        entry, _ = self._taken.pop(job.id)
        try:
            # Let go first: a worker that reads the new entry must be able to hold the job
            # (one that cannot leaves the entry pending, untouched until a lease runs out).
            await self._store.release(job.id)
            await self._redis.xadd(STREAM, {"job": job.id})
            await self._redis.xack(STREAM, GROUP, entry)
            await self._redis.xdel(STREAM, entry)
        except (RedisError, OSError) as exc:  # then its lease runs out and it is claimed again
            log.warning("job %d: could not be put back in line (%s)", job.id, exc)
            self._store.let_go(job.id)

    async def _job_of(self, entry: tuple[bytes, int]) -> Job | None:
        entry_id, job_id = entry
        if not await self._store.hold(job_id):
            return None  # another process works on it: its entry comes back if that one dies
        try:
            job = await self._store.job(job_id)
            if job is None or job.state not in _ALIVE:
                await self._redis.xack(STREAM, GROUP, entry_id)
                await self._redis.xdel(STREAM, entry_id)
                await self._store.release(job_id)
                return None
        except (RedisError, OSError):
            self._store.let_go(job_id)  # its lease runs out, then its entry is claimed again
            raise
        self._taken[job_id] = (entry_id, "")  # its slot is still to come
        return job


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = ["SharedLine"]
