"""How the domain reaches the people it draws for, in its own words. `bot.discord.members`
implements it over Discord; the in-process tests implement it in memory."""

from __future__ import annotations

from typing import Protocol

from bot.sheets.job import Job
from bot.sheets.locales import Text


class Undelivered(Exception):
    """No route reached the member this time."""


class Members(Protocol):
    """Progress, sheets and words for the member of a job; alerts for a server's staff."""

    def show(self, job: Job, text: Text) -> None:
        """Make the job's placeholder say `text` soon (only the latest text is sent); at once."""
        ...

    async def deliver(self, job: Job, image: bytes, *, spoiler: bool = False) -> str:
        """Send a drawn sheet with its card and buttons by the best route open; the route's
        name. Raises `Undelivered`, or `ValueError` when it cannot fit the upload limit.

        A `spoiler` (a flagged sheet, in an age-restricted channel) is sent hidden behind a
        spoiler and only in the job's channel: never by direct message."""
        ...

    async def age_restricted(self, job: Job) -> bool:
        """Whether the job's channel is age-restricted (a thread: its parent). False when it
        cannot be told: a flagged sheet is then withheld."""
        ...

    async def tell_privately(self, job: Job, text: Text, *, reroll: bool) -> str:
        """Tell the member something only they may see (with a Re-roll button if `reroll`):
        through the interaction, else by direct message, never in the channel; the route's
        name. Raises `Undelivered`."""
        ...

    async def tell(self, job: Job, text: Text) -> str:
        """Tell the member how their job ended, in place of its placeholder; the route's name.
        Raises `Undelivered`."""
        ...

    async def tell_directly(self, job: Job, text: Text) -> bool:
        """Tell the member by direct message only; whether it went."""
        ...

    async def post(
        self, channel_id: int, guild_id: int | None, text: Text, *, language: str | None
    ) -> bool:
        """Say something in a server's channel (alerts), pinging nobody, in the server's
        `language` (None: the one Discord says the server prefers); whether it went."""
        ...
