"""/character: draw a character sheet from a prompt and an optional pose."""

# No `from __future__ import annotations`: discord.py reads these annotations at import time,
# and the option ranges come from `SheetRequest`, the one definition of each option.

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands
from pydantic import ValidationError

from bot.discord.app import SheetBot
from bot.sheets import texts
from bot.sheets.request import SheetRequest, describe, limits
from bot.sheets.rules import Refused

PROMPT = limits("prompt")
SEED = limits("seed")
STRENGTH = limits("strength")
NEGATIVE = limits("negative_prompt")
STEPS = limits("steps")
GUIDANCE = limits("guidance")
UPSCALE = limits("upscale")
DEFAULTS = {name: field.default for name, field in SheetRequest.model_fields.items()}


class Character(commands.Cog):
    """The command members use."""

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="character",
        description=locale_str("Draw a character sheet: one character in several poses."),
    )
    @app_commands.describe(
        pose=locale_str(
            "A pose reference image (optional; a default four-view sheet is used otherwise)."
        ),
        **{name: locale_str(describe(name)) for name in SheetRequest.model_fields},
    )
    async def character(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, PROMPT[0], PROMPT[1]],
        pose: discord.Attachment | None = None,
        seed: app_commands.Range[int, SEED[0], SEED[1]] | None = DEFAULTS["seed"],
        strength: app_commands.Range[float, STRENGTH[0], STRENGTH[1]] = DEFAULTS["strength"],
        negative_prompt: app_commands.Range[str, NEGATIVE[0], NEGATIVE[1]] | None = None,
        steps: app_commands.Range[int, STEPS[0], STEPS[1]] = DEFAULTS["steps"],
        guidance: app_commands.Range[float, GUIDANCE[0], GUIDANCE[1]] = DEFAULTS["guidance"],
        upscale: app_commands.Range[float, UPSCALE[0], UPSCALE[1]] = DEFAULTS["upscale"],
    ) -> None:
        try:
            request = SheetRequest(
                prompt=prompt,
                negative_prompt=negative_prompt,
                seed=seed,
                strength=strength,
                steps=steps,
                guidance=guidance,
                upscale=upscale,
            )
        except ValidationError as exc:
            raise Refused(texts.explain(exc)) from None
        await self.bot.intake.receive(interaction, request, pose)


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(Character(bot))
