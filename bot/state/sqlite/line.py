"""One process's line of waiting jobs (with SQLite): round-robin between members, paced here."""

from __future__ import annotations

from collections.abc import Callable

from bot.sheets.job import Job
from bot.sheets.pace import Pace
from bot.sheets.scheduler import Scheduler


class LocalLine:
    """One process's line: round-robin between members, paced in this process."""

    renew_every: float | None = None

    def __init__(self, requests_per_minute: int) -> None:
        self._line: Scheduler[Job] = Scheduler()
        self._pace = Pace(requests_per_minute)

    @property
    def waiting(self) -> int:
        return self._line.waiting

    async def add(self, job: Job, *, first: bool = False) -> int | None:
        return self._line.add(job, first=first)

    async def take(self) -> Job | None:
        return await self._line.take()

    async def done(self, job: Job) -> None:
        self._line.done(job.id)

    async def places(self) -> list[tuple[Job, int]]:
        return [(job, ahead) for ahead, job in enumerate(self._line.order())]

    async def turn(self, on_wait: Callable[[float], None]) -> str:
        wait = self._pace.next_turn()
        if wait > 0:
            on_wait(wait)
        return str(await self._pace.turn())

    async def answered(self, turn: str) -> None:
        self._pace.answered(int(turn))

    def lost(self) -> list[Job]:
        return []  # the SQLite file does not forget jobs behind the process's back

    def close(self) -> None:
        self._line.close()

    async def renew(self) -> None:
        """Nothing expires in one process."""
