"""What was spent: the ledger of finished jobs (written by the store's `finish` with each job's
end), read for /credits, /config show, alerts and `python -m bot usage`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bot.sheets.job import JobState, LedgerEntry
from bot.sheets.records import Records


@dataclass(frozen=True)
class Usage:
    """Sheets delivered, sheets withheld by the content filter (paid too) and credits spent in
    a period."""

    sheets: int
    credits: float
    withheld: int = 0


class Ledger:
    """Reads of the ledger."""

    def __init__(self, store: Records) -> None:
        self._store = store

    async def spent(self, guild_id: int | None, since: float) -> float:
        """Credits spent since a moment, in one server (None: everywhere)."""
        return sum(entry.cost for entry in await self._store.ledger(since, guild_id))

    async def usage(self, guild_id: int | None, since: float) -> Usage:
        """Sheets delivered and credits spent in a server (None: direct messages) since a
        moment."""
        entries = [e for e in await self._store.ledger(since, guild_id) if e.guild_id == guild_id]
        return Usage(
            sheets=sum(e.outcome == JobState.DONE for e in entries),
            credits=sum(e.cost for e in entries),
            withheld=sum(e.outcome == JobState.WITHHELD for e in entries),
        )

    async def top_spenders(self, guild_id: int, since: float, n: int) -> list[tuple[int, float]]:
        """The members of a server who spent most since a moment: (user id, credits)."""
        spent: defaultdict[int, float] = defaultdict(float)
        for entry in await self._store.ledger(since, guild_id):
            spent[entry.user_id] += entry.cost
        ranked = sorted(((u, c) for u, c in spent.items() if c > 0), key=lambda p: (-p[1], p[0]))
        return ranked[:n]

    async def entries(self, since: float, guild_id: int | None = None) -> list[LedgerEntry]:
        """The ledger since a moment, oldest first (one server, or all)."""
        return await self._store.ledger(since, guild_id)
