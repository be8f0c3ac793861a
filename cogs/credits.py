"""/credits: the Segmind balance and this server's usage, for moderators."""

from __future__ import annotations

import datetime as dt
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import replies
from bot.app import SheetBot
from bot.permissions import is_moderator
from bot.segmind import SegmindError


class Credits(commands.Cog):
    """The command moderators use."""

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="credits", description="Show the Segmind credits left and this server's usage."
    )
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction) -> None:
        if not is_moderator(interaction, self.bot.settings.moderator_role_ids):
            await interaction.response.send_message(
                replies.MODERATORS_ONLY, ephemeral=True, allowed_mentions=replies.NOBODY
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed = discord.Embed(title="Segmind credits", colour=discord.Colour.blurple())
        try:
            balance = await self.bot.segmind.credits()
            live = f"{balance.credits:,.2f} (+ {balance.free_credits:,.4f} free)"
        except SegmindError as exc:
            live = f"unavailable right now. {replies.balance_unavailable(exc)}"
        embed.add_field(name="Balance now", value=live, inline=False)
        last = await self.bot.store.fact("last_credits")
        if last:
            seen = f"{last['credits']:,.2f} {replies.when(last['at'])}"
            embed.add_field(name="Last seen after a sheet", value=seen, inline=False)
        now = time.time()
        midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        periods = (("Today (UTC)", midnight.timestamp()), ("Last 7 days", now - 7 * 86400))
        for label, since in periods:
            usage = await self.bot.store.usage(interaction.guild_id, since)
            embed.add_field(
                name=label, value=f"{usage.sheets} sheet(s), {usage.credits:,.2f} credits"
            )
        await interaction.followup.send(
            embed=embed, ephemeral=True, allowed_mentions=replies.NOBODY
        )


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(Credits(bot))
