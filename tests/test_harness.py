"""The harness itself: what it spares when it kills an in-loop bot."""

from __future__ import annotations

import asyncio
import contextlib
import types

import discord
import pytest

from tests.harness import _closing


@pytest.mark.parametrize("client", [discord.Client, discord.AutoShardedClient])
async def test_a_kill_spares_the_clients_closing_task(client: type[discord.Client]) -> None:
    # The bot is an AutoShardedBot: cutting its client's closing task short leaves discord.py's
    # HTTP session open (aiohttp's "Unclosed connector" in a later test, under load). The
    # closing task runs `close`'s inner `_close`: one is made here, never run.
    code = next(
        const
        for const in client.close.__code__.co_consts
        if isinstance(const, types.CodeType) and const.co_name == "_close"
    )
    cells = tuple(types.CellType(None) for _ in code.co_freevars)
    inner = types.FunctionType(code, {}, closure=cells)
    task = asyncio.create_task(inner())
    try:
        assert _closing(task), code.co_qualname
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
