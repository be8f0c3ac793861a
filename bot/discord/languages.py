"""Which language each reader is answered in; the words themselves are `bot.sheets.locales`'."""

from __future__ import annotations

import asyncio
import gettext
from typing import Protocol, cast

import discord
from discord import app_commands

from bot.sheets.locales import (
    ENGLISH,
    Language,
    for_member,
    for_server,
    ready,
    supported,
    translations,
)
from bot.sheets.servers import Servers

# How long an answer waits for the server's chosen language when storage is slow (then it is
# said in the member's own: a refusal must still reach them within Discord's 3 s).
CHOSEN_WAIT = 0.5
# Discord's limits: a menu command's name, and a description or a choice's name.
NAME_CHARS = 32
DESCRIPTION_CHARS = 100
COMMAND_NAME = app_commands.TranslationContextLocation.command_name


class _HasServers(Protocol):
    servers: Servers


async def chosen(interaction: discord.Interaction) -> str | None:
    """The language the member's server chose with /config language (None: each member's)."""
    if interaction.guild_id is None:
        return None
    servers = cast(_HasServers, interaction.client).servers
    try:
        server = await asyncio.wait_for(servers.get(interaction.guild_id), CHOSEN_WAIT)
    except Exception:
        return None
    return server.language


def member_code(interaction: discord.Interaction, chosen: str | None) -> str:
    return for_member(chosen, interaction.locale.value)


def server_code(interaction: discord.Interaction, chosen: str | None) -> str:
    guild = interaction.guild_locale
    return for_server(chosen, guild.value if guild is not None else None)


async def reader(interaction: discord.Interaction) -> Language:
    """The language to answer this member in: their server's choice, else their own."""
    return await ready(member_code(interaction, await chosen(interaction)))


class CommandTranslator(app_commands.Translator):
    """Puts the commands' descriptions and choices (and the Apps menu's name) into every
    language the bot speaks, for Discord to show each member in theirs. Slash command and
    option names are never `locale_str`s, so stay English: moderators mention and document
    them, and localized names break command mentions.

    Its catalogs are its own, read when Discord's commands are synced and let go after
    (`unload`): a process keeps in memory only the languages its members speak."""

    def __init__(self) -> None:
        self._catalogs: dict[str, gettext.NullTranslations] = {}

    async def unload(self) -> None:
        self._catalogs.clear()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        code = supported(locale.value)
        if code is None or code == ENGLISH:
            return None  # Discord shows the English
        if code not in self._catalogs:
            self._catalogs[code] = await asyncio.to_thread(translations, code)
        said = self._catalogs[code].gettext(string.message)
        limit = NAME_CHARS if context.location is COMMAND_NAME else DESCRIPTION_CHARS
        if said == string.message or not 1 <= len(said) <= limit:
            return None  # untranslated, or one Discord would refuse (with the whole sync)
        return said
