"""The waiting line: which queued job goes next, fairly across members. Knows nothing of Discord."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Generic, Protocol, TypeVar


class Waiting(Protocol):
    """What the line needs to know of a job."""

    @property
    def id(self) -> int: ...

    @property
    def user_id(self) -> int: ...


T = TypeVar("T", bound=Waiting)


class Scheduler(Generic[T]):
    """Round-robin by member, first-in-first-out within a member; each job id at most once,
    waiting or taken, so a job put in line twice (a retried recovery) is worked on once.

    Putting a job in line costs O(members with jobs ahead of it), O(1) for a member's first job
    (the usual case): a burst of N requests costs O(N), not O(N²) as when each add built the
    whole order to find its place.
    """

    def __init__(self) -> None:
        self._lines: OrderedDict[int, OrderedDict[int, T]] = OrderedDict()
        self._wake = asyncio.Event()
        self._taken: set[int] = set()
        self._waiting = 0
        self._closed = False

    def add(self, job: T, *, first: bool = False) -> int | None:
        """Put a job in line unless it is there or taken; return how many are ahead of it
        (None: not put in line, a worker has it).

        `first`: at the very front (work already under way, such as a request to follow up).
        """
        if job.id in self._taken:
            return None
        line = self._lines.get(job.user_id)
        if line is None:
            line = self._lines[job.user_id] = OrderedDict()
        if job.id not in line:
            line[job.id] = job
            self._waiting += 1
        self._wake.set()
        if first:
            line.move_to_end(job.id, last=False)
            self._lines.move_to_end(job.user_id, last=False)
            return 0
        if len(line) == 1 and next(reversed(self._lines)) == job.user_id:
            return len(self._lines) - 1  # one job each ahead, from every member before
        return self._place(job.user_id, list(line).index(job.id))

    def _place(self, user_id: int, depth: int) -> int:
        # Round `depth` hands out this member's job after every member before it (each with
        # `depth + 1` turns so far, as far as its jobs last) and before those after it.
        ahead, before = depth, True
        for other_id, other in self._lines.items():
            if other_id == user_id:
                before = False
            else:
                ahead += min(len(other), depth + 1 if before else depth)
        return ahead

    @property
    def waiting(self) -> int:
        """How many jobs wait."""
        return self._waiting

    def order(self) -> list[T]:
        """The jobs in the order `take` will hand them out: one per member per round."""
        lines = [list(line.values()) for line in self._lines.values()]
        rounds = max((len(line) for line in lines), default=0)
        return [line[depth] for depth in range(rounds) for line in lines if depth < len(line)]

    def ahead(self, job_id: int) -> int | None:
        """How many jobs will start before this one (None if it is not waiting)."""
        for index, job in enumerate(self.order()):
            if job.id == job_id:
                return index
        return None

    async def take(self) -> T | None:
        """The next job, waiting for one if need be; None once the line is closed."""
        while not self._closed and not self._lines:
            self._wake.clear()
            await self._wake.wait()
        if self._closed:
            return None
        user_id, line = next(iter(self._lines.items()))
        _, job = line.popitem(last=False)
        self._waiting -= 1
        self._taken.add(job.id)
        if line:
            self._lines.move_to_end(user_id)
        else:
            del self._lines[user_id]
        return job

    def done(self, job_id: int) -> None:
        """The worker that took this job is through with it; it may be put in line again."""
        self._taken.discard(job_id)

    def close(self) -> None:
        """Hand out nothing more; waiting takers get None."""
        self._closed = True
        self._wake.set()
