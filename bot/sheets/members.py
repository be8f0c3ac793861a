"""How the domain reaches the people it draws for, in its own words. `bot.discord.members`
implements it over Discord; the in-process tests implement it in memory."""

from __future__ import annotations

from typing import Protocol

from bot.sheets.job import Job


class Undelivered(Exception):
    """No route reached the member this time."""


class Members(Protocol):
    """Progress, sheets and words for the member of a job; alerts for a server's staff."""

    def show(self, job: Job, text: str) -> None:
        """Make the job's placeholder say `text` soon (only the latest text is sent); at once."""
        ...

    async def deliver(self, job: Job, image: bytes) -> str:
        """Send a drawn sheet with its card and buttons by the best route open; the route's
        name. Raises `Undelivered`, or `ValueError` when it cannot fit the upload limit."""
        ...

    async def tell(self, job: Job, text: str) -> str:
        """Tell the member how their job ended, in place of its placeholder; the route's name.
        Raises `Undelivered`."""
        ...

    async def tell_directly(self, job: Job, text: str) -> bool:
        """Tell the member by direct message only; whether it went."""
        ...

    async def post(self, channel_id: int, guild_id: int | None, text: str) -> bool:
        """Say something in a server's channel (alerts), pinging nobody; whether it went."""
        ...
