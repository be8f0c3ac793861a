"""/credits: the Segmind balance and this server's usage, for moderators."""

from __future__ import annotations

import datetime as dt
import time

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord import answers, embeds
from bot.discord.app import SheetBot
from bot.discord.languages import reader
from bot.discord.permissions import is_moderator
from bot.segmind import Balance, SegmindError
from bot.sheets import texts
from bot.sheets.job import DAY
from bot.sheets.rules import Refused


class Credits(commands.Cog):
    """The command moderators use."""

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="credits",
        description=locale_str("Show the Segmind credits left and this server's usage."),
    )
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction) -> None:
        roles = await self.bot.servers.moderator_roles(interaction.guild_id)
        if not is_moderator(interaction, roles):
            raise Refused(texts.MODERATORS_ONLY)
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        ledger, store, now = self.bot.ledger, self.bot.store, time.time()
        try:
            balance: Balance | SegmindError = await self.bot.segmind.credits()
        except SegmindError as exc:
            balance = exc
        midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        report = embeds.CreditsReport(
            balance=balance,
            last_seen=await store.fact("last_credits"),
            today=await ledger.usage(interaction.guild_id, midnight.timestamp()),
            week=await ledger.usage(interaction.guild_id, now - 7 * DAY),
            spent_day=await ledger.spent(interaction.guild_id, now - DAY),
            top_week=await ledger.top_spenders(interaction.guild_id, now - 7 * DAY, 5),
            account_week=await ledger.spent(None, now - 7 * DAY),
        )
        embed = embeds.credits_embed(report, await reader(interaction))
        await interaction.followup.send(
            embed=embed, ephemeral=True, allowed_mentions=answers.NOBODY
        )


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(Credits(bot))
