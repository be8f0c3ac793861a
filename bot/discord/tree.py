"""The slash commands' tree: where refusals and unexpected failures become words for the member."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord import answers
from bot.sheets.rules import Refused

log = logging.getLogger(__name__)


class RefusedByCheck(app_commands.CheckFailure):
    """A refusal raised by a check (discord.py passes on only `AppCommandError`s from checks)."""

    def __init__(self, refusal: Refused) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


class SheetTree(app_commands.CommandTree[discord.Client]):
    """The slash commands; a refusal is told privately, anything else gets an apology."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause: BaseException = error
        if isinstance(error, app_commands.CommandInvokeError):
            cause = error.original
        if isinstance(cause, RefusedByCheck):
            cause = cause.refusal
        if isinstance(cause, Refused):
            await answers.refuse(interaction, cause)
            return
        log.error("/%s failed", getattr(interaction.command, "name", "?"), exc_info=error)
        await answers.apologize(interaction)
