"""The cards the bot shows: under a finished sheet, /config show, /credits."""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.ops.settings import Settings
from bot.segmind import Balance, SegmindError
from bot.sheets.ledger import Usage
from bot.sheets.servers import ServerSettings
from bot.sheets.texts import (
    SETTING_NAMES,
    balance_unavailable,
    clip,
    listed,
    number,
    setting_value,
    when,
)


def server_settings(server: ServerSettings, defaults: Settings, spent: float) -> discord.Embed:
    """/config show: everything a moderator can set here, and how today's spend stands."""
    embed = discord.Embed(title="This server's settings", colour=discord.Colour.blurple())
    cooldown = server.cooldown_seconds
    embed.add_field(
        name="Cooldown",
        value=(
            f"{number(defaults.cooldown_seconds)} s (the default)"
            if cooldown is None
            else f"{number(cooldown)} s"
        ),
    )
    embed.add_field(
        name="Daily limit per member", value=setting_value("daily_limit", server.daily_limit)
    )
    budget = f"{number(spent, fixed=True)} spent in the last 24 hours"
    if server.budget:
        share = 100 * spent / server.budget
        budget += f" of {number(server.budget, fixed=True)} ({share:.0f} %)"
    embed.add_field(name="Budget", value=budget + ("" if server.budget else " (no budget)"))
    alerts = "off"
    if server.alerts_channel_id is not None and server.alerts_below is not None:
        alerts = (
            f"<#{server.alerts_channel_id}> below {number(server.alerts_below, fixed=True)} "
            "credits, and at 80 % of the budget"
        )
    embed.add_field(name="Alerts", value=alerts, inline=False)
    reroll = defaults.open_reroll if server.open_reroll is None else server.open_reroll
    embed.add_field(
        name="Anyone may re-roll",
        value=setting_value("open_reroll", reroll)
        + (" (the default)" if server.open_reroll is None else ""),
    )
    mode = server.safety_mode or defaults.safety_mode
    safety = setting_value("safety_mode", mode) + (
        " (the default)" if server.safety_mode is None else ""
    )
    if mode != "off":
        safety += (
            f". Safety log: {setting_value('safety_log_channel_id', server.safety_log_channel_id)}"
        )
    embed.add_field(name=SETTING_NAMES["safety_mode"], value=safety, inline=False)
    lists = (
        ("channel", sorted(str(c) for c in server.channels), "everywhere"),
        ("moderator_role", sorted(str(r) for r in server.moderator_roles), "none (Manage Server)"),
        ("blocked_word", list(server.blocked_words), "none"),
    )
    for kind, values, empty in lists:
        text = ", ".join(listed(kind, v) for v in values) if values else empty
        embed.add_field(name=SETTING_NAMES[kind], value=clip(text, 1000), inline=False)
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


def credits_embed(report: CreditsReport) -> discord.Embed:
    """/credits, for moderators: balance, this server's spend, who spends, how long it lasts."""
    embed = discord.Embed(title="Segmind credits", colour=discord.Colour.blurple())
    balance = report.balance
    if isinstance(balance, Balance):
        live = f"{number(balance.credits, fixed=True)} (+ {balance.free_credits:,.4f} free)"
    else:
        live = f"unavailable right now. {balance_unavailable(balance)}"
    embed.add_field(name="Balance now", value=live, inline=False)
    if report.last_seen:
        seen = f"{number(report.last_seen['credits'], fixed=True)} {when(report.last_seen['at'])}"
        embed.add_field(name="Last seen after a sheet", value=seen, inline=False)
    for label, usage in (("Today (UTC)", report.today), ("Last 7 days", report.week)):
        withheld = f" (+ {usage.withheld} withheld)" if usage.withheld else ""
        embed.add_field(
            name=label,
            value=f"{usage.sheets} sheet(s){withheld}, {number(usage.credits, fixed=True)} credits",
        )
    embed.add_field(name="Last 24 hours", value=f"{number(report.spent_day, fixed=True)} credits")
    if report.top_week:
        top = "\n".join(
            f"<@{user}> — {number(credits, fixed=True)}" for user, credits in report.top_week
        )
        embed.add_field(name="Top members this week", value=top, inline=False)
    if isinstance(balance, Balance) and report.account_week > 0:
        days = balance.credits / (report.account_week / 7)
        lasts = f"about {days:,.0f} day(s) at the last 7 days' rate (all servers)"
        embed.add_field(name="The balance lasts", value=lasts, inline=False)
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
    notes: list[str],
) -> discord.Embed:
    """The card under a finished sheet: what was asked, and how to get it again. It shows the
    attached sheet unless `filename` is None (a spoiler: shown, blurred, on its own)."""
    embed = discord.Embed(title="Character sheet", description=clip(prompt, 1000))
    embed.colour = discord.Colour.blurple()
    embed.add_field(name="Seed", value=f"`{seed}`")
    embed.add_field(name="Strength", value=number(strength))
    embed.add_field(name="Took", value=f"{seconds:.0f} s")
    credits = "unknown" if credits_left is None else number(credits_left, fixed=True)
    embed.add_field(name="Credits left", value=credits)
    embed.add_field(name="Asked by", value=f"<@{requester_id}>")
    if notes:
        embed.add_field(name="Notes", value=clip(" ".join(notes), 1000), inline=False)
    if filename is not None:
        embed.set_image(url=f"attachment://{filename}")
    return embed
