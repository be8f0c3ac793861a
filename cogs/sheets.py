"""/sheets: the member's last sheets in this server, privately, ten a page."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord import pages
from bot.discord.app import SheetBot


class Sheets(commands.Cog):
    """The command that finds a member's earlier work."""

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="sheets",
        description=locale_str("Your last character sheets in this server (only you see them)."),
    )
    @app_commands.guild_only()
    async def sheets(self, interaction: discord.Interaction) -> None:
        await pages.show_first(interaction, self.bot.sheets_pages)


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(Sheets(bot))
