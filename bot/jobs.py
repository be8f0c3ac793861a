"""The waiting line: accepted jobs, served fairly across users by a bounded set of workers."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from bot.storage import JobRecord

log = logging.getLogger(__name__)

# How many place announcements may be on their way to Discord at once.
ANNOUNCE_AT_ONCE = 8


class Refused(Exception):
    """The queue will not take this job now; `str()` is the reason, for the user."""


class JobQueue:
    """Round-robin by user, first-in-first-out within a user, at most `concurrency` at once."""

    def __init__(
        self,
        run: Callable[[JobRecord], Awaitable[None]],
        *,
        concurrency: int,
        max_queue: int,
        max_per_user: int,
        on_moved: Callable[[JobRecord, int], Awaitable[None]] | None = None,
        announce_every: float = 2.0,
    ) -> None:
        self._run = run
        self._concurrency = concurrency
        self._max_queue = max_queue
        self._max_per_user = max_per_user
        self._on_moved = on_moved
        self._announce_every = announce_every
        self._waiting: OrderedDict[int, deque[JobRecord]] = OrderedDict()
        self._running_users: dict[int, int] = {}
        self._told: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._announcer: asyncio.Task[None] | None = None
        self.accepting = True

    # What users see ----------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """How many jobs wait for a worker."""
        return sum(len(jobs) for jobs in self._waiting.values())

    @property
    def running(self) -> int:
        """How many jobs are being drawn now."""
        return sum(self._running_users.values())

    def check(self, user_id: int) -> None:
        """Raise `Refused` if a new job from this user could not be queued now."""
        if not self.accepting:
            raise Refused("The bot is restarting. Try again in a minute.")
        if self.waiting >= self._max_queue:
            raise Refused(
                f"The queue is full ({self._max_queue} sheets waiting). Try again in a few minutes."
            )
        mine = len(self._waiting.get(user_id, ())) + self._running_users.get(user_id, 0)
        if mine >= self._max_per_user:
            raise Refused(
                f"You already have {mine} sheet(s) waiting or being drawn; "
                "wait for one to finish, then try again."
            )

    def submit(self, job: JobRecord) -> int:
        """Queue a stored (so accepted) job; return how many jobs are ahead of it.

        Callers `check` before accepting; a stored job is queued even past the limits.
        """
        self._waiting.setdefault(job.user_id, deque()).append(job)
        self._wake.set()
        ahead = self.ahead(job.id)
        self._told[job.id] = ahead if ahead is not None else 0
        return self._told[job.id]

    def ahead(self, job_id: int) -> int | None:
        """How many waiting jobs will start before this one (None if it is not waiting)."""
        for index, job in enumerate(self._order()):
            if job.id == job_id:
                return index
        return None

    def _order(self) -> list[JobRecord]:
        # The order in which `_take` will hand the jobs out: one per user per round.
        lines = list(self._waiting.values())
        rounds = max((len(line) for line in lines), default=0)
        return [line[depth] for depth in range(rounds) for line in lines if depth < len(line)]

    # Workers -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the position announcer."""
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]
        if self._on_moved is not None:
            self._announcer = asyncio.create_task(self._announce())

    async def stop(self, grace: float) -> int:
        """Take no more jobs and let running ones finish within `grace` seconds.

        Waiting jobs stay stored for the next start. Returns how many running jobs were cut short.
        """
        self.accepting = False
        self._wake.set()
        if self._announcer is not None:
            self._announcer.cancel()
        if self._running_users:
            log.info("waiting up to %.0fs for %d running job(s)", grace, self.running)
        _, late = await asyncio.wait(self._workers, timeout=grace) if self._workers else ((), ())
        for worker in late:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        return len(late)

    async def _work(self) -> None:
        while (job := await self._take()) is not None:
            self._running_users[job.user_id] = self._running_users.get(job.user_id, 0) + 1
            try:
                await self._run(job)
            except Exception:
                log.exception("job %d failed unexpectedly", job.id)
            finally:
                self._running_users[job.user_id] -= 1
                if not self._running_users[job.user_id]:
                    del self._running_users[job.user_id]

    async def _take(self) -> JobRecord | None:
        while self.accepting and not self._waiting:
            self._wake.clear()
            await self._wake.wait()
        if not self.accepting:
            return None
        user_id, line = next(iter(self._waiting.items()))
        job = line.popleft()
        if line:
            self._waiting.move_to_end(user_id)
        else:
            del self._waiting[user_id]
        self._told.pop(job.id, None)
        return job

    async def _announce(self) -> None:
        # Tell waiting users when their place changes, at most once per interval each,
        # a few edits at a time (each is a round trip to Discord).
        assert self._on_moved is not None
        on_moved = self._on_moved
        edits = asyncio.Semaphore(ANNOUNCE_AT_ONCE)

        async def tell(job: JobRecord, index: int) -> None:
            async with edits:
                try:
                    await on_moved(job, index)
                except Exception:
                    log.exception("could not tell job %d its place", job.id)

        while True:
            await asyncio.sleep(self._announce_every)
            moved = [
                (job, index)
                for index, job in enumerate(self._order())
                if self._told.get(job.id) != index
            ]
            for job, index in moved:
                self._told[job.id] = index
            await asyncio.gather(*(tell(job, index) for job, index in moved))
