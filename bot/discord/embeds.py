"""The cards the bot shows: under a finished sheet, /config show, /credits."""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.ops.settings import Settings
from bot.segmind import Balance, SegmindError
from bot.sheets import texts
from bot.sheets.alerts import BUDGET_WARNING
from bot.sheets.ledger import Usage
from bot.sheets.locales import Language, Listing, Number, Said, Seconds, Text
from bot.sheets.servers import ServerSettings
from bot.sheets.texts import clip


def server_settings(
    server: ServerSettings, defaults: Settings, spent: float, language: Language
) -> discord.Embed:
    """/config show: everything a moderator can set here, and how today's spend stands."""
    say = language.say
    embed = discord.Embed(title=say(texts.SETTINGS_TITLE), colour=discord.Colour.blurple())

    def shown(setting: str, value: object, default: object = None) -> str:
        if value is None and default is not None:
            return say(texts.by_default(texts.setting_value(setting, default)))
        return say(texts.setting_value(setting, value))

    names = texts.SETTING_NAMES
    embed.add_field(
        name=say(names["cooldown_seconds"]),
        value=shown("cooldown_seconds", server.cooldown_seconds, defaults.cooldown_seconds),
    )
    embed.add_field(name=say(names["daily_limit"]), value=shown("daily_limit", server.daily_limit))
    embed.add_field(name=say(texts.BUDGET), value=say(texts.budget_now(spent, server.budget)))
    alerts: Said = texts.OFF
    if server.alerts_channel_id is not None and server.alerts_below is not None:
        alerts = texts.alerts_shown(server.alerts_channel_id, server.alerts_below, BUDGET_WARNING)
    embed.add_field(name=say(texts.ALERTS), value=say(alerts), inline=False)
    embed.add_field(
        name=say(names["open_reroll"]),
        value=shown("open_reroll", server.open_reroll, defaults.open_reroll),
    )
    mode = server.safety_mode or defaults.safety_mode
    safety = shown("safety_mode", server.safety_mode, defaults.safety_mode)
    if mode != "off":
        log_channel = texts.setting_value("safety_log_channel_id", server.safety_log_channel_id)
        safety = say(texts.safety_shown(safety, log_channel))
    embed.add_field(name=say(names["safety_mode"]), value=safety, inline=False)
    embed.add_field(name=say(names["language"]), value=shown("language", server.language))
    lists = (
        ("channel", sorted(str(c) for c in server.channels), texts.EVERYWHERE),
        ("moderator_role", sorted(str(r) for r in server.moderator_roles), texts.NO_ROLES),
        ("blocked_word", list(server.blocked_words), texts.NONE),
    )
    for kind, values, empty in lists:
        text = say(Listing.of(texts.listed(kind, v) for v in values)) if values else say(empty)
        embed.add_field(name=say(names[kind]), value=clip(text, 1000), inline=False)
    return embed


@dataclass(frozen=True)
class CreditsReport:
    """What /credits shows: the balance, and how this server (and the account) spends."""

    balance: Balance | SegmindError
    last_seen: dict[str, float] | None
    today: Usage
    week: Usage
    spent_day: float
    top_week: list[tuple[int, float]]
    account_week: float


def credits_embed(report: CreditsReport, language: Language) -> discord.Embed:
    """/credits, for moderators: balance, this server's spend, who spends, how long it lasts."""
    say = language.say
    embed = discord.Embed(title=say(texts.CREDITS_TITLE), colour=discord.Colour.blurple())
    balance = report.balance
    if isinstance(balance, Balance):
        live = texts.balance_now(balance.credits, balance.free_credits)
    else:
        live = texts.balance_missing(texts.balance_unavailable(balance))
    embed.add_field(name=say(texts.BALANCE_NOW), value=say(live), inline=False)
    if report.last_seen:
        seen = texts.last_seen(report.last_seen["credits"], report.last_seen["at"])
        embed.add_field(name=say(texts.LAST_SEEN), value=say(seen), inline=False)
    for label, usage in ((texts.TODAY, report.today), (texts.LAST_7_DAYS, report.week)):
        embed.add_field(
            name=say(label), value=say(texts.usage(usage.sheets, usage.withheld, usage.credits))
        )
    embed.add_field(name=say(texts.LAST_24_HOURS), value=say(texts.spent(report.spent_day)))
    if report.top_week:
        top = "\n".join(say(texts.spender(user, credits)) for user, credits in report.top_week)
        embed.add_field(name=say(texts.TOP_MEMBERS), value=top, inline=False)
    if isinstance(balance, Balance) and report.account_week > 0:
        days = balance.credits / (report.account_week / 7)
        embed.add_field(name=say(texts.LASTS), value=say(texts.lasts(days)), inline=False)
    return embed


def sheet_embed(
    *,
    prompt: str,
    seed: int,
    strength: float,
    credits_left: float | None,
    seconds: float,
    requester_id: int,
    filename: str | None,
    notes: list[Text],
    language: Language,
) -> discord.Embed:
    """The card under a finished sheet: what was asked, and how to get it again. It shows the
    attached sheet unless `filename` is None (a spoiler: shown, blurred, on its own)."""
    say = language.say
    embed = discord.Embed(title=say(texts.SHEET_TITLE), description=clip(prompt, 1000))
    embed.colour = discord.Colour.blurple()
    embed.add_field(name=say(texts.SEED), value=f"`{seed}`")
    embed.add_field(name=say(texts.STRENGTH), value=say(Number(strength)))
    embed.add_field(name=say(texts.TOOK), value=say(Seconds(round(seconds))))
    left = texts.UNKNOWN if credits_left is None else texts.credits(credits_left)
    embed.add_field(name=say(texts.CREDITS_LEFT), value=say(left))
    embed.add_field(name=say(texts.ASKED_BY), value=f"<@{requester_id}>")
    if notes:
        shown = " ".join(say(note) for note in notes)
        embed.add_field(name=say(texts.NOTES), value=clip(shown, 1000), inline=False)
    if filename is not None:
        embed.set_image(url=f"attachment://{filename}")
    return embed
