"""Answering an interaction: a refusal told privately, an apology instead of a spinner, and
mentions that ping nobody the bot should not."""

from __future__ import annotations

import contextlib
import logging

import discord

from bot.discord.languages import reader
from bot.sheets.locales import Said
from bot.sheets.rules import Refused
from bot.sheets.texts import OOPS

log = logging.getLogger(__name__)

NOBODY = discord.AllowedMentions.none()


async def refuse(interaction: discord.Interaction, refusal: Refused) -> None:
    """Tell the member privately, in their language, why their request was refused (the one
    place that does)."""
    words = (await reader(interaction)).say(refusal.text)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(words, ephemeral=True, allowed_mentions=NOBODY)
            return
        # After a deferral the public "thinking" message goes; the reason is for the member alone.
        with contextlib.suppress(discord.HTTPException):  # already gone
            await interaction.delete_original_response()
        await interaction.followup.send(words, ephemeral=True, allowed_mentions=NOBODY)
    except (discord.HTTPException, RuntimeError) as exc:
        # The interaction expired, or the bot is closing its connection to Discord.
        log.info("could not tell a member why they were refused (%s)", type(exc).__name__)


def only(user_id: int) -> discord.AllowedMentions:
    """Mentions that may ping this one user and nobody else."""
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(user_id)]
    )


async def apologize(interaction: discord.Interaction) -> None:
    """Answer an interaction whose handler failed unexpectedly, so no spinner is left behind."""
    oops = (await reader(interaction)).say(OOPS)
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(
                content=oops, embed=None, attachments=[], view=None, allowed_mentions=NOBODY
            )
        else:
            await interaction.response.send_message(oops, ephemeral=True, allowed_mentions=NOBODY)
    except discord.HTTPException:
        pass  # the interaction is gone; the log already has the error


async def tell(interaction: discord.Interaction, text: Said) -> None:
    """Answer privately, in the member's language, whether or not the interaction was
    deferred."""
    words = (await reader(interaction)).say(text)
    if interaction.response.is_done():
        await interaction.edit_original_response(content=words, allowed_mentions=NOBODY)
        return
    await interaction.response.send_message(words, ephemeral=True, allowed_mentions=NOBODY)
