"""What was spent: the ledger of finished jobs (written by `Store.finish` with each job's end),
read for /credits, /config show, alerts and `python -m bot usage`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.job import JobState, LedgerEntry
from bot.storage import Store


@dataclass(frozen=True)
class Usage:
    """Sheets delivered and credits spent in a period."""

    sheets: int
    credits: float


class Ledger:
    """Reads of the ledger."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def spent(self, guild_id: int | None, since: float) -> float:
        """Credits spent since a moment, in one server (None: everywhere)."""
        where, args = _in(guild_id)
        rows = await self._store.rows(
            f"SELECT COALESCE(SUM(cost), 0) AS c FROM ledger WHERE at >= ?{where}", since, *args
        )
        return float(rows[0]["c"])

    async def usage(self, guild_id: int | None, since: float) -> Usage:
        """Sheets delivered and credits spent in a server since a moment."""
        rows = await self._store.rows(
            "SELECT COALESCE(SUM(outcome = ?), 0) AS sheets, COALESCE(SUM(cost), 0) AS credits"
            " FROM ledger WHERE guild_id IS ? AND at >= ?",
            JobState.DONE,
            guild_id,
            since,
        )
        return Usage(sheets=int(rows[0]["sheets"]), credits=float(rows[0]["credits"]))

    async def top_spenders(self, guild_id: int, since: float, n: int) -> list[tuple[int, float]]:
        """The members of a server who spent most since a moment: (user id, credits)."""
        rows = await self._store.rows(
            "SELECT user_id, SUM(cost) AS c FROM ledger WHERE guild_id = ? AND at >= ?"
            " GROUP BY user_id HAVING c > 0 ORDER BY c DESC, user_id LIMIT ?",
            guild_id,
            since,
            n,
        )
        return [(int(r["user_id"]), float(r["c"])) for r in rows]

    async def entries(self, since: float, guild_id: int | None = None) -> list[LedgerEntry]:
        """The ledger since a moment, oldest first (one server, or all)."""
        where, args = _in(guild_id)
        rows = await self._store.rows(
            f"SELECT * FROM ledger WHERE at >= ?{where} ORDER BY at, job_id", since, *args
        )
        return [LedgerEntry(**dict(row)) for row in rows]


def _in(guild_id: int | None) -> tuple[str, tuple[int, ...]]:
    return ("", ()) if guild_id is None else (" AND guild_id = ?", (guild_id,))
