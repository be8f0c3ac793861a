"""/characters: draw, list, delete and share the characters members saved (answers private)."""

# No `from __future__ import annotations`: discord.py reads these annotations at import time,
# and the option ranges come from `SheetRequest`, the one definition of each option.

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord import pages
from bot.discord.answers import tell
from bot.discord.app import SheetBot
from bot.discord.characters import Drawing
from bot.sheets.characters import NAME_CHARS
from bot.sheets.request import limits

SEED = limits("seed")
STRENGTH = limits("strength")
EXTRA_CHARS = 500
Name = app_commands.Range[str, 1, NAME_CHARS]


@app_commands.guild_only()
class Characters(
    commands.GroupCog,
    group_name="characters",
    group_description=locale_str("Your saved characters: draw them again, list, delete, share."),
):
    """Saved characters, for members (and sharing, for moderators)."""

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="draw", description=locale_str("Draw a saved character (yours or shared).")
    )
    @app_commands.describe(
        name=locale_str("The character's name."),
        pose=locale_str("A pose for this sheet only (optional; the saved pose otherwise)."),
        seed=locale_str("A seed for this sheet (optional; the saved one otherwise)."),
        strength=locale_str(
            "How closely to follow the pose, 0 to 1 (optional; the saved one otherwise)."
        ),
        extra=locale_str("Words added to the saved prompt, for this sheet only (optional)."),
    )
    async def draw(
        self,
        interaction: discord.Interaction,
        name: Name,
        pose: discord.Attachment | None = None,
        seed: app_commands.Range[int, SEED[0], SEED[1]] | None = None,
        strength: app_commands.Range[float, STRENGTH[0], STRENGTH[1]] | None = None,
        extra: app_commands.Range[str, 1, EXTRA_CHARS] | None = None,
    ) -> None:
        await self.bot.characters.draw(interaction, name, Drawing(pose, seed, strength, extra))

    @app_commands.command(
        name="list", description=locale_str("Your saved characters and this server's.")
    )
    async def list_(self, interaction: discord.Interaction) -> None:
        await pages.show_first(interaction, self.bot.characters)

    @app_commands.command(
        name="delete", description=locale_str("Delete one of your saved characters.")
    )
    @app_commands.describe(name=locale_str("The character's name (moderators: also a shared one)."))
    async def delete(self, interaction: discord.Interaction, name: Name) -> None:
        await tell(interaction, await self.bot.characters.delete(interaction, name))

    @app_commands.command(
        name="share",
        description=locale_str("Moderators: share one of your characters with this server."),
    )
    @app_commands.describe(name=locale_str("One of your own characters."))
    async def share(self, interaction: discord.Interaction, name: Name) -> None:
        await tell(interaction, await self.bot.characters.share(interaction, name))

    @draw.autocomplete("name")
    async def _any_name(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.bot.characters.choices(interaction, current)

    @delete.autocomplete("name")
    async def _deletable_name(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Shared characters only for those who may delete them: moderators.
        own_only = not await self.bot.characters.moderator(interaction)
        return await self.bot.characters.choices(interaction, current, own_only=own_only)

    @share.autocomplete("name")
    async def _own_name(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.bot.characters.choices(interaction, current, own_only=True)


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(Characters(bot))
