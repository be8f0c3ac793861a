"""The harness itself: what it must never do to the bot it runs."""

from __future__ import annotations

import asyncio
import contextlib

import discord

from tests.harness import closing


async def test_killing_a_bot_never_cancels_discord_pys_closing_of_a_sharded_client() -> None:
    # The bot is an AutoShardedBot: its closing task is AutoShardedClient.close's, not
    # Client.close's. Cancelled, it left the HTTP session open ("Unclosed connector" later).
    for client in (
        discord.AutoShardedClient(intents=discord.Intents.none()),
        discord.Client(intents=discord.Intents.none()),
    ):
        closed = asyncio.ensure_future(client.close())
        while client._closing_task is None and not closed.done():
            await asyncio.sleep(0)  # one loop step at a time, until close() started its task
        task = client._closing_task
        assert task is not None and closing(task), task
        with contextlib.suppress(Exception):
            await closed
