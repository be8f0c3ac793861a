"""/config: a server's own settings, for its moderators. Every answer is private; every change
is stored and logged (who, what, old -> new)."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.discord import answers, embeds
from bot.discord.app import SheetBot
from bot.discord.languages import reader
from bot.discord.permissions import is_moderator
from bot.discord.tree import RefusedByCheck
from bot.sheets import texts
from bot.sheets.alerts import BUDGET_WARNING
from bot.sheets.job import DAY
from bot.sheets.locales import N_, Text
from bot.sheets.rules import Refused
from bot.sheets.safety import SafetyMode
from bot.sheets.servers import ListKind
from bot.sheets.words import BadEntry, parse_words

# The safety modes as moderators pick them (each choice's value is the mode's name).
SAFETY_CHOICES = {
    SafetyMode.AGE_RESTRICTED: N_("age-restricted: flagged sheets only in age-restricted channels"),
    SafetyMode.BLOCK: N_("block: flagged sheets are never posted"),
    SafetyMode.OFF: N_("off: sheets and poses are not checked"),
}


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
class Config(
    commands.GroupCog,
    group_name="config",
    group_description=locale_str(
        "This server's settings: limits, budget, channels, words, roles, safety."
    ),
):
    """What moderators can change for their server."""

    channels = app_commands.Group(
        name="channels", description=locale_str("Where /character may be used.")
    )
    blocked_words = app_commands.Group(
        name="blocked-words", description=locale_str("Words that prompts may not contain.")
    )
    moderator_roles = app_commands.Group(
        name="moderator-roles", description=locale_str("Roles that count as moderators here.")
    )
    safety = app_commands.Group(
        name="safety",
        description=locale_str("What happens to sheets and poses the content filter flags."),
    )

    def __init__(self, bot: SheetBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Manage Server is only the default Discord shows; checked again here, every time.
        roles = await self.bot.servers.moderator_roles(interaction.guild_id)
        if interaction.guild_id is None or not is_moderator(interaction, roles):
            raise RefusedByCheck(Refused(texts.CONFIG_MODERATORS_ONLY))
        return True

    # --- reading ----------------------------------------------------------------------------

    @app_commands.command(name="show", description=locale_str("All of this server's settings."))
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        server = await self.bot.servers.get(interaction.guild_id)
        spent = await self.bot.ledger.spent(interaction.guild_id, time.time() - DAY)
        embed = embeds.server_settings(server, self.bot.settings, spent, await reader(interaction))
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=answers.NOBODY
        )

    # --- numbers ----------------------------------------------------------------------------

    @app_commands.command(
        name="cooldown", description=locale_str("Seconds a member waits between sheets.")
    )
    @app_commands.describe(seconds=locale_str("0 to 86400 (0: no cooldown)"))
    async def cooldown(
        self, interaction: discord.Interaction, seconds: app_commands.Range[int, 0, 86400]
    ) -> None:
        await self._set(interaction, "cooldown_seconds", float(seconds))

    @app_commands.command(
        name="daily-limit", description=locale_str("Sheets per member in any 24 hours.")
    )
    @app_commands.describe(sheets=locale_str("0 to 1000 (0: no limit)"))
    async def daily_limit(
        self, interaction: discord.Interaction, sheets: app_commands.Range[int, 0, 1000]
    ) -> None:
        await self._set(interaction, "daily_limit", sheets)

    @app_commands.command(
        name="budget", description=locale_str("Credits this server may spend in 24 hours.")
    )
    @app_commands.describe(credits=locale_str("0 to 1000000 (0: no budget)"))
    async def budget(
        self, interaction: discord.Interaction, credits: app_commands.Range[float, 0, 1_000_000]
    ) -> None:
        await self._set(interaction, "budget", float(credits))

    @app_commands.command(
        name="alerts", description=locale_str("Where to warn, and below what balance.")
    )
    @app_commands.describe(
        channel=locale_str("The channel for alerts"),
        below=locale_str("Warn when the balance falls below this"),
    )
    async def alerts(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        below: app_commands.Range[float, 0, 1_000_000],
    ) -> None:
        assert interaction.guild_id is not None
        servers, guild, user = self.bot.servers, interaction.guild_id, interaction.user.id
        await servers.change(guild, user, "alerts_channel_id", channel.id)
        await servers.change(guild, user, "alerts_below", float(below))
        await self._done(interaction, texts.alerts_set(channel.id, below, BUDGET_WARNING))

    @app_commands.command(
        name="reroll", description=locale_str("Whether anyone may press Re-roll.")
    )
    @app_commands.describe(open=locale_str("true: anyone; false: the requester and moderators"))
    async def reroll(self, interaction: discord.Interaction, open: bool) -> None:
        await self._set(interaction, "open_reroll", open)

    async def _set(self, interaction: discord.Interaction, setting: str, value: object) -> None:
        assert interaction.guild_id is not None
        old = await self.bot.servers.change(
            interaction.guild_id, interaction.user.id, setting, value
        )
        defaults = {
            "cooldown_seconds": self.bot.settings.cooldown_seconds,
            "open_reroll": self.bot.settings.open_reroll,
            "safety_mode": self.bot.settings.safety_mode,
        }
        text = texts.setting_changed(setting, old, value, defaults.get(setting))
        await self._done(interaction, text)

    # --- content safety ---------------------------------------------------------------------

    @safety.command(
        name="mode", description=locale_str("What to do with sheets the content filter flags.")
    )
    @app_commands.describe(
        mode=locale_str(
            "age-restricted: only in age-restricted channels, as spoilers; block: never; "
            "off: no checks"
        )
    )
    @app_commands.choices(
        mode=[
            app_commands.Choice(name=locale_str(name), value=mode.value)
            for mode, name in SAFETY_CHOICES.items()
        ]
    )
    async def safety_mode(self, interaction: discord.Interaction, mode: str) -> None:
        chosen = SafetyMode(mode)
        if self.bot.safety.must_load_for(chosen):  # a second or two: more than Discord waits
            await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.safety.ready_for(chosen)  # or refused, and the old mode stays
        await self._set(interaction, "safety_mode", chosen.value)

    @safety.command(
        name="log-channel",
        description=locale_str("Where moderators read what was withheld (none: off)."),
    )
    @app_commands.describe(
        channel=locale_str("The channel for one line per withheld sheet or refused pose")
    )
    async def safety_log_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        await self._set(
            interaction, "safety_log_channel_id", None if channel is None else channel.id
        )

    @app_commands.command(
        name="language", description=locale_str("The language the bot speaks in this server.")
    )
    @app_commands.describe(
        locale=locale_str("auto: each member in their own Discord language; or one for everyone")
    )
    @app_commands.choices(
        locale=[
            app_commands.Choice(
                name=locale_str(str(name)) if isinstance(name, Text) else name, value=code
            )
            for code, name in texts.LANGUAGE_NAMES.items()
        ]
    )
    async def language(self, interaction: discord.Interaction, locale: str) -> None:
        await self._set(interaction, "language", None if locale == "auto" else locale)

    # --- lists ------------------------------------------------------------------------------

    @channels.command(name="add", description=locale_str("Allow /character in a channel."))
    async def channels_add(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self._add(interaction, ListKind.CHANNELS, [str(channel.id)])

    @channels.command(
        name="remove", description=locale_str("Stop allowing /character in a channel.")
    )
    async def channels_remove(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self._remove(interaction, ListKind.CHANNELS, [str(channel.id)])

    @channels.command(name="clear", description=locale_str("Allow /character everywhere."))
    async def channels_clear(self, interaction: discord.Interaction) -> None:
        await self._remove(interaction, ListKind.CHANNELS, None)

    @blocked_words.command(name="add", description=locale_str("Refuse prompts with these words."))
    @app_commands.describe(words=locale_str("Comma-separated, e.g. gore, red eyes"))
    async def words_add(self, interaction: discord.Interaction, words: str) -> None:
        await self._add(interaction, ListKind.BLOCKED_WORDS, _words(words))

    @blocked_words.command(name="remove", description=locale_str("Allow these words again."))
    @app_commands.describe(words=locale_str("Comma-separated"))
    async def words_remove(self, interaction: discord.Interaction, words: str) -> None:
        await self._remove(interaction, ListKind.BLOCKED_WORDS, _words(words))

    @moderator_roles.command(name="add", description=locale_str("Count a role as moderators here."))
    async def roles_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        if role.is_default():
            raise Refused(texts.EVERYONE_IS_NO_MODERATOR_ROLE)
        await self._add(interaction, ListKind.MODERATOR_ROLES, [str(role.id)])

    @moderator_roles.command(
        name="remove", description=locale_str("Stop counting a role as moderators.")
    )
    async def roles_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await self._remove(interaction, ListKind.MODERATOR_ROLES, [str(role.id)])

    async def _add(
        self, interaction: discord.Interaction, kind: ListKind, values: list[str]
    ) -> None:
        assert interaction.guild_id is not None
        added = await self.bot.servers.add(interaction.guild_id, interaction.user.id, kind, values)
        await self._done(interaction, texts.list_changed(kind, added, added=True))

    async def _remove(
        self, interaction: discord.Interaction, kind: ListKind, values: list[str] | None
    ) -> None:
        assert interaction.guild_id is not None
        gone = await self.bot.servers.remove(
            interaction.guild_id, interaction.user.id, kind, values
        )
        await self._done(interaction, texts.list_changed(kind, gone, added=False))

    @staticmethod
    async def _done(interaction: discord.Interaction, text: Text) -> None:
        await answers.tell(interaction, text)


def _words(text: str) -> list[str]:
    try:
        words = parse_words(text)
    except BadEntry as exc:
        raise Refused(exc.text) from None
    if not words:
        raise Refused(texts.NO_WORDS)
    return words


async def setup(bot: SheetBot) -> None:
    await bot.add_cog(Config(bot))
