"""Warnings for server staff, in the channel they chose, once per crossing (not on every sheet):
the account's balance fell below their threshold; their server used 80 % of its budget."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.sheets import texts
from bot.sheets.job import DAY
from bot.sheets.ledger import Ledger
from bot.sheets.locales import Text
from bot.sheets.members import Members
from bot.sheets.records import Records
from bot.sheets.servers import Servers, ServerSettings

log = logging.getLogger(__name__)

BUDGET_WARNING = 0.8  # of a server's budget


class Alerts:
    """Raises an alert when a value crosses its line, and again only after it crossed back."""

    def __init__(self, *, store: Records, servers: Servers, members: Members) -> None:
        self._store = store
        self._ledger = Ledger(store)
        self._servers = servers
        self._members = members
        self._lock = asyncio.Lock()  # one crossing, one alert, however many sheets finish

    async def balance_seen(self, credits: float) -> None:
        """Segmind reported the account's balance."""
        async with self._lock:
            for guild_id, server in (await self._servers.with_alerts()).items():
                if server.alerts_below is None:
                    continue
                if await self._crossed(guild_id, "balance", credits < server.alerts_below):
                    await self._post(
                        guild_id, server, texts.balance_alert(credits, server.alerts_below)
                    )

    async def spend_seen(self, guild_id: int | None) -> None:
        """A sheet in this server was paid for."""
        if guild_id is None:
            return
        async with self._lock:
            server = await self._servers.get(guild_id)
            if not server.budget or server.alerts_channel_id is None:
                return
            spent = await self._ledger.spent(guild_id, time.time() - DAY)
            if await self._crossed(guild_id, "budget", spent >= BUDGET_WARNING * server.budget):
                await self._post(
                    guild_id, server, texts.budget_alert(spent, server.budget, BUDGET_WARNING)
                )

    async def _crossed(self, guild_id: int, kind: str, beyond: bool) -> bool:
        was = await self._store.swap_alert(guild_id, kind, beyond)
        return beyond and not was

    async def _post(self, guild_id: int, server: ServerSettings, text: Text) -> None:
        assert server.alerts_channel_id is not None
        log.info("alert for guild %d: %s", guild_id, text)
        await self._members.post(server.alerts_channel_id, guild_id, text, language=server.language)
