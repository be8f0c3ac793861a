"""Use as pose: a message menu command (right-click a message → Apps → Use as pose)."""

# No `from __future__ import annotations`: discord.py reads the callback's annotations.

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord.app import SheetBot


class UseAsPose(commands.Cog):
    """The message menu that draws a sheet on a message's picture."""

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot
        # Its name shows in the Apps menu, so it is translated (a menu is never typed or
        # mentioned, unlike a slash command's name).
        self.menu = app_commands.ContextMenu(
            name=locale_str("Use as pose"), callback=self.use_as_pose
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def use_as_pose(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self.bot.pose_forms.open(interaction, message)


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(UseAsPose(bot))
