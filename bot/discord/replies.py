"""Everything the bot says to people: short, plain, and pinging nobody it should not."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import discord
from discord import app_commands
from pydantic import ValidationError

from bot.ops.settings import Settings
from bot.segmind import (
    AuthError,
    Balance,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    RateLimited,
    RequestExpired,
    SegmindConnectionError,
    SegmindError,
    SegmindFailed,
    SegmindTimeout,
    ServerError,
    UnexpectedResponse,
)
from bot.sheets.ledger import Usage
from bot.sheets.servers import ServerSettings

log = logging.getLogger(__name__)

NOBODY = discord.AllowedMentions.none()


class Refused(app_commands.AppCommandError):
    """A request the bot will not take; `str()` is the reason, told to the member privately.

    An `AppCommandError`, so discord.py hands it to the tree's error handler as it is, from a
    command or from a check.
    """


async def refuse(interaction: discord.Interaction, refusal: Refused) -> None:
    """Tell the member privately why their request was refused (the one place that does)."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                str(refusal), ephemeral=True, allowed_mentions=NOBODY
            )
            return
        # After a deferral the public "thinking" message goes; the reason is for the member alone.
        with contextlib.suppress(discord.HTTPException):  # already gone
            await interaction.delete_original_response()
        await interaction.followup.send(str(refusal), ephemeral=True, allowed_mentions=NOBODY)
    except (discord.HTTPException, RuntimeError) as exc:
        # The interaction expired, or the bot is closing its connection to Discord.
        log.info("could not tell a member why they were refused (%s)", type(exc).__name__)


def only(user_id: int) -> discord.AllowedMentions:
    """Mentions that may ping this one user and nobody else."""
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(user_id)]
    )


def when(timestamp: float) -> str:
    """A Discord timestamp that each reader sees in their own words ("in 40 seconds")."""
    return f"<t:{int(timestamp + 0.999)}:R>"


def cooldown(until: float) -> str:
    return f"You can draw again {when(until)}. Each member can start one sheet per cooldown."


def explain(error: ValidationError) -> str:
    """A refusal naming each option that is out of range."""
    parts = [f"`{err['loc'][0]}` {err['msg'].lower()}" for err in error.errors() if err["loc"]]
    return "Please fix: " + "; ".join(parts) + "."


def too_many_of_yours(count: int) -> str:
    return (
        f"You already have {count} sheet(s) waiting or being drawn; "
        "wait for one to finish, then try again."
    )


def queue_full(limit: int) -> str:
    return f"The queue is full ({limit} sheets waiting). Try again in a few minutes."


def pose_not_a_picture(filename: str, kind: str) -> str:
    return (
        f"The pose `{filename}` isn't a picture I can use ({kind or 'unknown type'}). "
        "Attach a PNG, JPEG, WebP or GIF image."
    )


def pose_too_large(filename: str, size: int, limit: int) -> str:
    return (
        f"The pose `{filename}` is {size / 2**20:.1f} MiB; the limit is {limit / 2**20:.0f} MiB. "
        "Attach a smaller image (a screenshot of the pose works well)."
    )


POSE_UNREADABLE = (
    "That file isn't a picture I can read. Attach a PNG, JPEG, WebP, GIF or BMP image of a pose."
)
POSE_DAMAGED = (
    "That image looks damaged or cut off. Save it again as a PNG or JPEG and attach it once more."
)
POSE_EMPTY = "That attachment is empty. Attach a PNG, JPEG or WebP picture of a pose."


def pose_too_many_pixels(pixels: int | None, max_pixels: int) -> str:
    limit = f"{max_pixels / 1e6:.3g} megapixels"
    size = f"over {limit}" if pixels is None else f"{pixels / 1e6:.3g} megapixels, max {limit}"
    return (
        f"That image is too large: {size}. "
        "Attach a smaller picture, such as a screenshot of the pose."
    )


def pose_too_small(width: int, height: int, min_side: int) -> str:
    return (
        f"That image is only {width} x {height} pixels. Attach a pose picture at least "
        f"{min_side} pixels on each side."
    )


def pose_too_thin(width: int, height: int) -> str:
    return (
        f"That image is {width} x {height} pixels, too long and thin to read a pose from. "
        "Crop it closer to the figure and attach it again."
    )


def first_frame(format_name: str) -> str:
    return f"used the first frame of your animated {format_name}"


DEFAULT_POSE_NOTE = "Drawn on the default pose sheet; attach `pose` to use your own."
RESIZED_NOTE = "The sheet was re-encoded to fit Discord's upload limit."


def daily_limit(count: int, limit: int, until: float | None) -> str:
    again = f"You can draw again {when(until)}." if until else "Wait for one to finish."
    return (
        f"This server allows {limit} sheet(s) per member in 24 hours, and you have "
        f"{count}/{limit}. {again}"
    )


def budget_spent(spent: float, budget: float, until: float | None) -> str:
    again = f"Try again {when(until)}." if until else "Try again once running sheets finish."
    return (
        f"This server's Segmind budget is spent: {number(spent, fixed=True)} of "
        f"{number(budget, fixed=True)} credits in the last 24 hours. {again}"
    )


def wrong_channel(channels: frozenset[int]) -> str:
    where = ", ".join(f"<#{c}>" for c in sorted(channels))
    return f"Sheets are drawn in {where} on this server. Use /character there."


def blocked_word(word: str) -> str:
    return (
        f"This server doesn't allow the word “{word}” in prompts. "
        "Describe the character without it and try again."
    )


def balance_alert(credits: float, below: float) -> str:
    return (
        f"⚠️ The Segmind balance is down to {number(credits, fixed=True)} credits, below this "
        f"server's alert line of {number(below, fixed=True)}. Top up at https://cloud.segmind.com."
    )


def budget_alert(spent: float, budget: float) -> str:
    return (
        f"⚠️ This server has used {number(spent, fixed=True)} of its "
        f"{number(budget, fixed=True)}-credit budget in the last 24 hours (80 % or more)."
    )


POSE_DOWNLOAD_FAILED = "I couldn't download the pose from Discord. Try again."
RESTARTING = "The bot is restarting. Try again in a minute."


def queued(ahead: int) -> str:
    if ahead == 0:
        return "Queued — you're next."
    return f"Queued — {ahead} ahead of you."


SENDING = "Sending your request to Segmind…"
WAITING_AT_SEGMIND = "Waiting at Segmind — your sheet is in Segmind's own queue."


def paced(starts: float) -> str:
    return (
        f"Queued — you're next; Segmind's plan allows only so many sheets a minute, "
        f"so yours starts {when(starts)}."
    )


def drawing(since: float) -> str:
    return f"Drawing your character sheet… (started {when(since)}, usually about 40 seconds)"


INTERRUPTED = (
    "This sheet was interrupted by a restart of the bot — your cooldown was reset, "
    "run the command again."
)
NOT_YOURS = "Only the member who asked for this sheet (or a moderator) can do that."
EXPIRED = "This sheet is too old to re-roll: its pose was deleted. Run /character again."
GONE = "That sheet no longer exists."
UNDELIVERED = (
    "I drew your character sheet but could not post it anywhere for a long time (Discord kept "
    "refusing), so it was dropped. Your cooldown was reset; run /character again."
)
MODERATORS_ONLY = "Only moderators (Manage Server, or a moderator role) can check the credits."
CONFIG_MODERATORS_ONLY = (
    "Only moderators (Manage Server, or a moderator role) can see or change this server's settings."
)
NO_WORDS = "Give one or more words, separated by commas (for example: gore, red eyes)."

# What each server setting is called when people read about it.
SETTING_NAMES = {
    "cooldown_seconds": "Cooldown",
    "daily_limit": "Daily limit per member",
    "budget": "Budget (credits per 24 hours)",
    "open_reroll": "Anyone may re-roll",
    "channel": "Allowed channels",
    "moderator_role": "Moderator roles",
    "blocked_word": "Blocked words",
}


def _setting_value(setting: str, value: object) -> str:
    if value is None:
        return "the default"
    if setting == "cooldown_seconds" and isinstance(value, int | float):
        return f"{number(value)} s"
    if setting == "daily_limit":
        return f"{value} sheet(s)" if value else "no limit"
    if setting == "budget" and isinstance(value, int | float):
        return f"{number(value, fixed=True)} credits" if value else "no budget"
    if setting == "open_reroll":
        return "yes" if value else "no (the requester and moderators)"
    return str(value)


def setting_changed(setting: str, old: object, new: object, default: object) -> str:
    """A change, as the moderator who made it reads it ("Cooldown: 60 s → 30 s.")."""
    name = SETTING_NAMES.get(setting, setting)
    before = _setting_value(setting, old)
    if old is None:
        before = f"{_setting_value(setting, default)} (the default)"
    return f"{name}: {before} → {_setting_value(setting, new)}."


def _listed(kind: str, value: str) -> str:
    return {"channel": f"<#{value}>", "moderator_role": f"<@&{value}>"}.get(kind, f"`{value}`")


def list_changed(kind: str, values: list[str], *, added: bool) -> str:
    name = SETTING_NAMES.get(kind, kind)
    if not values:
        return f"{name}: nothing changed (already {'there' if added else 'absent'})."
    verb = "added" if added else "removed"
    return f"{name}: {verb} {', '.join(_listed(kind, v) for v in values)}."


def alerts_set(channel_id: int, below: float) -> str:
    return (
        f"Alerts go to <#{channel_id}>: when the Segmind balance falls below "
        f"{number(below, fixed=True)} credits, and when this server has used 80 % of its budget."
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
        name="Daily limit per member", value=_setting_value("daily_limit", server.daily_limit)
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
        value=_setting_value("open_reroll", reroll)
        + (" (the default)" if server.open_reroll is None else ""),
    )
    lists = (
        ("channel", sorted(str(c) for c in server.channels), "everywhere"),
        ("moderator_role", sorted(str(r) for r in server.moderator_roles), "none (Manage Server)"),
        ("blocked_word", list(server.blocked_words), "none"),
    )
    for kind, values, empty in lists:
        text = ", ".join(_listed(kind, v) for v in values) if values else empty
        embed.add_field(name=SETTING_NAMES[kind], value=_clip(text, 1000), inline=False)
    return embed


NO_DELIVERY = (
    "I can't post here: I need the View Channel, Send Messages, Attach Files and Embed Links "
    "permissions in this channel. Ask a moderator to grant them, or use another channel."
)


def failure(error: Exception) -> str:
    """What to tell a member whose accepted sheet could not be drawn."""
    return f"{_what_happened(error)} Your cooldown was reset."


def _what_happened(error: Exception) -> str:
    if isinstance(error, SegmindFailed):
        return f"Segmind could not draw this sheet: {_clip(error.message, 300)}"
    if isinstance(error, RequestExpired):
        return (
            "This sheet was lost: Segmind keeps a finished sheet for an hour, and the bot was "
            "away longer than that."
        )
    if isinstance(error, ServerError) and error.status in (502, 504):
        return (
            "Segmind's gateway failed after it received the request, so the sheet may have "
            "been drawn (and billed) without reaching us. Try again in a minute."
        )
    if isinstance(error, InsufficientCredits):
        return (
            "The server's Segmind credits have run out, so no sheet was drawn. "
            "A moderator can check /credits."
        )
    if isinstance(error, AuthError):
        return (
            "The bot is misconfigured (Segmind refused its key), so no sheet was drawn. "
            "The operator has been told in the logs."
        )
    if isinstance(error, RateLimited):
        return "Segmind is busy right now (rate limited). Try again in a minute."
    if isinstance(error, SegmindTimeout):
        return "Segmind took too long to answer. Try again in a few minutes."
    if isinstance(error, InvalidRequest):
        return "Segmind refused these settings. Try a different prompt or values."
    if isinstance(error, ServerError | SegmindConnectionError | UnexpectedResponse):
        return "Segmind had a problem drawing this sheet. Try again in a minute."
    if isinstance(error, SegmindError):
        return "Segmind could not draw this sheet. Try again later."
    return "Something went wrong on our side while drawing. Try again."


OOPS = "Something went wrong on our side. The operator can see what in the logs; try again."


async def apologize(interaction: discord.Interaction) -> None:
    """Answer an interaction whose handler failed unexpectedly, so no spinner is left behind."""
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(
                content=OOPS, embed=None, attachments=[], view=None, allowed_mentions=NOBODY
            )
        else:
            await interaction.response.send_message(OOPS, ephemeral=True, allowed_mentions=NOBODY)
    except discord.HTTPException:
        pass  # the interaction is gone; the log already has the error


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
        embed.add_field(
            name=label,
            value=f"{usage.sheets} sheet(s), {number(usage.credits, fixed=True)} credits",
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


def balance_unavailable(error: SegmindError) -> str:
    """Why /credits cannot show the live balance."""
    if isinstance(error, AuthError):
        return "Segmind refused the bot's key; the operator should check SEGMIND_API_KEY."
    if isinstance(error, NotFound):
        return "Segmind has no balance record for this account yet."
    if isinstance(error, RateLimited):
        return "Segmind is rate limiting the bot; try again in a minute."
    return "Segmind did not answer; try again in a minute."


def sheet_embed(
    *,
    prompt: str,
    seed: int,
    strength: float,
    credits_left: float | None,
    seconds: float,
    requester_id: int,
    filename: str,
    notes: list[str],
) -> discord.Embed:
    """The card under a finished sheet: what was asked, and how to get it again."""
    embed = discord.Embed(title="Character sheet", description=_clip(prompt, 1000))
    embed.colour = discord.Colour.blurple()
    embed.add_field(name="Seed", value=f"`{seed}`")
    embed.add_field(name="Strength", value=number(strength))
    embed.add_field(name="Took", value=f"{seconds:.0f} s")
    credits = "unknown" if credits_left is None else number(credits_left, fixed=True)
    embed.add_field(name="Credits left", value=credits)
    embed.add_field(name="Asked by", value=f"<@{requester_id}>")
    if notes:
        embed.add_field(name="Notes", value=_clip(" ".join(notes), 1000), inline=False)
    embed.set_image(url=f"attachment://{filename}")
    return embed


def number(value: float, *, places: int = 2, fixed: bool = False) -> str:
    """A number as people write it: rounded, no "-0", no exponent ("0.55", "1,234.50")."""
    rounded = round(value, places) + 0.0  # adding 0.0 turns -0.0 into 0.0
    text = f"{rounded:,.{places}f}"
    return text if fixed else text.rstrip("0").rstrip(".")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
