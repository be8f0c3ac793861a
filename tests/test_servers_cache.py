"""Server settings are read once per burst and never kept failed (bot.sheets.servers)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any, cast

from bot.sheets.records import Records
from bot.sheets.servers import Servers, ServerSettings


class StallingStore:
    """Only what `Servers` reads: the first read stalls, then fails; later ones answer."""

    def __init__(self) -> None:
        self.reads = 0
        self.fail = asyncio.Event()

    async def server_settings(self, guild_id: int) -> dict[str, Any] | None:
        self.reads += 1
        if self.reads == 1:
            await self.fail.wait()
            raise ConnectionError("the store went away")
        return None

    async def server_list(self, guild_id: int, kind: str) -> list[str]:
        return []


async def test_a_read_every_waiter_gave_up_on_fails_quietly_and_is_not_kept() -> None:
    store = StallingStore()
    servers = Servers(cast(Records, store))
    unhandled: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unhandled.append(context))
    with contextlib.suppress(TimeoutError):  # the member was told storage is not answering
        await asyncio.wait_for(servers.get(1), 0.05)
    store.fail.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert await servers.get(1) == ServerSettings()  # read again, not the failure kept
    assert store.reads == 2
    gc.collect()  # a failed future nobody retrieved would complain now
    await asyncio.sleep(0)
    assert unhandled == []
