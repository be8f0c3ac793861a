"""The line of jobs waiting for a worker, and Segmind's pace: in this process
(`bot.state.sqlite.line.LocalLine`, with SQLite) or shared by every process of the bot
(`bot.state.redis.line.SharedLine`, with Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.sheets.job import Job


class Line(Protocol):
    """Where queued jobs wait for a worker; `take` also holds one of the Segmind slots."""

    # How often `renew` must run while jobs are taken (None: never, nothing expires).
    renew_every: float | None

    @property
    def waiting(self) -> int:
        """How many jobs wait (as last seen)."""
        ...

    async def add(self, job: Job, *, first: bool = False) -> int | None:
        """Put a job in line; how many wait before it (None: a worker has it already)."""
        ...

    async def take(self) -> Job | None:
        """The next job for a worker (None once the line is closed)."""
        ...

    async def done(self, job: Job) -> None:
        """A worker is done with a job it took."""
        ...

    async def places(self) -> list[tuple[Job, int]]:
        """The waiting jobs this process can tell about, each with how many wait before it."""
        ...

    async def turn(self, on_wait: Callable[[float], None]) -> str:
        """Wait for Segmind's pace (requests a minute); `on_wait(seconds)` first if it must.
        The turn counts until a window after `answered` (two windows if never answered)."""
        ...

    async def answered(self, turn: str) -> None:
        """Segmind answered the turn's request (only the first answer counts)."""
        ...

    def lost(self) -> list[Job]:
        """Jobs this process put in line that storage lost since last asked (Redis wiped):
        their members are to be told; they are never drawn."""
        ...

    def close(self) -> None:
        """Give workers no more jobs."""
        ...

    async def renew(self) -> None:
        """Keep the leases of what this process took."""
        ...
