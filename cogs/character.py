"""/character: draw a character sheet from a prompt and an optional pose."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import ValidationError

from bot import replies
from bot.app import SheetBot
from bot.intake import Order, explain
from bot.segmind import MAX_SEED


class Character(commands.Cog):
    """The command members use."""

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="character", description="Draw a character sheet: one character in several poses."
    )
    @app_commands.describe(
        prompt="Describe the character: looks, clothes, style.",
        pose="A pose reference image (optional; a default four-view sheet is used otherwise).",
        seed="Reuse a seed to reproduce a sheet (optional; a random one is picked and shown).",
        strength="How closely to follow the pose, 0 to 1 (default 0.8).",
        negative_prompt="What to keep out of the picture (optional).",
        steps="Sampling steps, 1 to 100 (default 20).",
        guidance="How strictly to follow the prompt, 1 to 20 (default 7).",
        upscale="Upscale factor, 1 to 4 (default 2).",
    )
    async def character(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        pose: discord.Attachment | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        strength: app_commands.Range[float, 0.0, 1.0] = 0.8,
        negative_prompt: app_commands.Range[str, 1, 1000] | None = None,
        steps: app_commands.Range[int, 1, 100] = 20,
        guidance: app_commands.Range[float, 1.0, 20.0] = 7.0,
        upscale: app_commands.Range[float, 1.0, 4.0] = 2.0,
    ) -> None:
        try:
            order = Order(
                prompt=prompt.strip(),
                negative_prompt=negative_prompt,
                seed=seed,
                strength=strength,
                steps=steps,
                guidance=guidance,
                upscale=upscale,
            )
        except ValidationError as exc:
            await interaction.response.send_message(
                explain(exc), ephemeral=True, allowed_mentions=replies.NOBODY
            )
            return
        await self.bot.intake.take(interaction, order, pose)


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(Character(bot))
