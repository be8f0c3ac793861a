"""Everything the bot says to people, as plain words: short, actionable, pinging nobody.

The domain's refusals and progress lines and the Discord layer's answers both come from here;
how a text reaches Discord (embeds, ephemeral answers) is `bot.discord`'s business.
"""

from __future__ import annotations

from pydantic import ValidationError

from bot.segmind import (
    AuthError,
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


SPOILER_NOTE = (
    "Behind a spoiler: the content filter flagged this sheet as possibly explicit "
    "(this channel is age-restricted)."
)


def daily_limit(count: int, limit: int, until: float | None, *, direct: bool = False) -> str:
    again = f"You can draw again {when(until)}." if until else "Wait for one to finish."
    where = "In direct messages the bot" if direct else "This server"
    return (
        f"{where} allows {limit} sheet(s) per member in 24 hours, and you have "
        f"{count}/{limit}. {again}"
    )


def budget_spent(spent: float, budget: float, until: float | None, *, direct: bool = False) -> str:
    again = f"Try again {when(until)}." if until else "Try again once running sheets finish."
    whose = (
        "The bot's Segmind budget for direct messages" if direct else "This server's Segmind budget"
    )
    return (
        f"{whose} is spent: {number(spent, fixed=True)} of "
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


DMS_OFF = "I only draw in servers, not in direct messages. Use /character in a server that has me."
POSE_DOWNLOAD_FAILED = "I couldn't download the pose from Discord. Try again."


RESTARTING = "The bot is restarting. Try again in a minute."

STORAGE_NOT_ANSWERING = (
    "The bot's storage is not answering right now. Nothing was charged; try again in a minute."
)


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

LOST = (
    "Sorry — the bot lost your request (its storage was reset) and will not draw it. Nothing "
    "was charged and your cooldown was reset: run the command again."
)


def withheld(seed: int, *, blocked: bool, direct: bool = False) -> str:
    """Told privately to the member whose sheet the content filter kept from view."""
    if direct:
        rule = "sheets it flags are never sent in direct messages"
    elif blocked:
        rule = "this server doesn't post such sheets anywhere"
    else:
        rule = "this server shows such sheets only in age-restricted channels, and this isn't one"
    return (
        "Your character sheet was not posted: the bot's content filter judged it may be "
        f"sexually explicit, and {rule}. Nobody else saw it. Seed `{seed}`. Press Re-roll for "
        "a new seed, or change the prompt. The filter can be wrong; moderators can see what "
        "was withheld."
    )


def pose_flagged(*, blocked: bool) -> str:
    """A pose upload the content filter flagged, refused before anything was drawn."""
    where = "" if blocked else " (or ask in an age-restricted channel)"
    return (
        "The bot's content filter judged your pose picture may be sexually explicit, so it "
        "wasn't used and nothing was drawn or charged. Attach another pose, such as a clothed "
        f"figure or a stick figure{where}, and try again."
    )


def safety_log_line(
    what: str,
    *,
    user_id: int,
    channel_id: int,
    prompt: str,
    score: float | None,
    threshold: float,
    at: float,
) -> str:
    """One line for a server's safety log: who, where, the prompt, the score, when. Shown
    pinging nobody; the prompt in code, so nothing in it renders (mentions, links, markdown)."""
    shown = " ".join(prompt.replace("`", "'").split()) or " "
    judged = "unreadable" if score is None else f"{score:.2f}"
    return (
        f"🛡️ {what}: <@{user_id}> in <#{channel_id}> <t:{int(at)}:f> — score {judged} "
        f"(flagged from {threshold:.2f}) — prompt `{clip(shown, 300)}`"
    )


NOT_YOURS = "Only the member who asked for this sheet (or a moderator) can do that."


EXPIRED = "This sheet is too old to re-roll: its pose was deleted. Run /character again."

NO_PICTURE_IN_MESSAGE = (
    "That message has no picture I can draw on (an attached image, or an embed's image). "
    "Use it on a message with one, or attach a pose to /character."
)

POSE_FORM_GONE = (
    "I no longer know which picture this form was for (it was opened before the bot restarted, "
    "or over an hour ago). Use Apps → Use as pose on the message again."
)

SHEETS_TITLE = "Your sheets in this server"

NOT_YOUR_LIST = "This list belongs to another member. Use /sheets to see yours."


def no_sheets(days: int) -> str:
    return f"You have no sheets in this server from the last {days} days. Draw one with /character."


def sheet_line(number: int, prompt: str, seed: int | None, at: float, link: str) -> str:
    """One sheet in /sheets: the start of its prompt, its seed, when, and where it is."""
    start = clip(" ".join(prompt.split()), 70).replace("[", "(").replace("]", ")")
    return f"**{number}.** {start} — seed `{seed}` — {when(at)} — [open]({link})"


def sheets_footer(page: int, pages: int, total: int, days: int) -> str:
    return f"Page {page} of {pages} · {total} sheet(s) from the last {days} days · newest first"


def bad_character_name(limit: int) -> str:
    return f"Give the character a name of 1 to {limit} characters."


def character_name_taken(name: str, *, shared: bool = False) -> str:
    where = "This server already shares" if shared else "You already have"
    return (
        f"{where} a character called “{name}”. Pick another name, or delete the old one "
        "first with /characters delete."
    )


def characters_full(limit: int, *, shared: bool = False) -> str:
    if shared:
        return (
            f"This server already shares {limit} characters, the most it can. Delete one with "
            "/characters delete, then share again."
        )
    return (
        f"You have {limit} saved characters, the most you can keep. Delete one with "
        "/characters delete, then save again."
    )


def no_such_character(name: str) -> str:
    return (
        f"You have no character called “{name}” (and this server shares none by that name). "
        "See yours with /characters list."
    )


def character_saved(name: str) -> str:
    return f"Saved “{name}”. Draw it again any time with `/characters draw name:{name}`."


def character_deleted(name: str, *, shared: bool = False) -> str:
    return f"Deleted {'the shared character' if shared else 'your character'} “{name}”."


def character_shared(name: str) -> str:
    return (
        f"“{name}” is now shared in this server: every member here can draw it with "
        f"`/characters draw name:{name}`."
    )


SHARED_DELETE_MODERATORS_ONLY = (
    "Only moderators (Manage Server, or a moderator role) can delete a shared character."
)


def blocked_word_in_name(word: str) -> str:
    return f"This server doesn't allow the word “{word}” in names. Pick another name."


SAVE_EXPIRED = "This sheet is too old to save: its pose was deleted. Run /character again."

SHARE_MODERATORS_ONLY = (
    "Only moderators (Manage Server, or a moderator role) can share characters in this server."
)

CHARACTERS_TITLE = "Your characters"


def no_characters() -> str:
    return "You have no saved characters yet. Press Save under one of your sheets to keep one."


def character_line(name: str, prompt: str, seed: int | None, at: float, *, shared: bool) -> str:
    """One character in /characters list: its name (marked if shared), prompt start, seed."""
    start = clip(" ".join(prompt.split()), 60)
    mark = " (shared here)" if shared else ""
    return f"**{name}**{mark} — {start} — seed `{seed}` — saved {when(at)}"


def characters_footer(page: int, pages: int, total: int) -> str:
    return f"Page {page} of {pages} · {total} character(s)"


EDIT_EXPIRED = "This sheet is too old to edit: its pose was deleted. Run /character again."


GONE = "That sheet no longer exists."


UNDELIVERED = (
    "I drew your character sheet but could not post it anywhere for a long time (Discord kept "
    "refusing), so it was dropped. Your cooldown was reset; run /character again."
)


MODERATORS_ONLY = "Only moderators (Manage Server, or a moderator role) can check the credits."


CONFIG_MODERATORS_ONLY = (
    "Only moderators (Manage Server, or a moderator role) can see or change this server's settings."
)


EVERYONE_IS_NO_MODERATOR_ROLE = (
    "@everyone can't be a moderator role: every member has it, so everyone could change these "
    "settings and delete other members' sheets. Pick a role only your moderators have."
)
NO_WORDS = "Give one or more words, separated by commas (for example: gore, red eyes)."


# What each server setting is called when people read about it.
SETTING_NAMES = {
    "cooldown_seconds": "Cooldown",
    "daily_limit": "Daily limit per member",
    "budget": "Budget (credits per 24 hours)",
    "open_reroll": "Anyone may re-roll",
    "safety_mode": "Content safety",
    "safety_log_channel_id": "Safety log",
    "channel": "Allowed channels",
    "moderator_role": "Moderator roles",
    "blocked_word": "Blocked words",
}


# What each content-safety mode does, as moderators read it (/config show, /config safety mode).
SAFETY_MODES = {
    "age-restricted": "age-restricted: sheets the content filter flags are posted only in "
    "age-restricted channels (as spoilers), withheld elsewhere",
    "block": "block: sheets the content filter flags are never posted",
    "off": "off: sheets and poses are not checked (this server's choice)",
}

# A mode that needs the content classifier, chosen while it could not be loaded.
CLASSIFIER_UNAVAILABLE = (
    "The content filter could not be started, so this mode cannot be used yet: the safety "
    "mode was not changed. The operator can see why in the bot's log."
)


def setting_value(setting: str, value: object) -> str:
    if value is None and setting == "safety_log_channel_id":
        return "off"
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
    if setting == "safety_mode":
        return SAFETY_MODES.get(str(value), str(value))
    if setting == "safety_log_channel_id":
        return "off" if not value else f"<#{value}>"
    return str(value)


def setting_changed(setting: str, old: object, new: object, default: object) -> str:
    """A change, as the moderator who made it reads it ("Cooldown: 60 s → 30 s.")."""
    name = SETTING_NAMES.get(setting, setting)
    before = setting_value(setting, old)
    if old is None:
        before = f"{setting_value(setting, default)} (the default)"
    return f"{name}: {before} → {setting_value(setting, new)}."


def listed(kind: str, value: str) -> str:
    return {"channel": f"<#{value}>", "moderator_role": f"<@&{value}>"}.get(kind, f"`{value}`")


def list_changed(kind: str, values: list[str], *, added: bool) -> str:
    name = SETTING_NAMES.get(kind, kind)
    if not values:
        return f"{name}: nothing changed (already {'there' if added else 'absent'})."
    verb = "added" if added else "removed"
    return f"{name}: {verb} {', '.join(listed(kind, v) for v in values)}."


def alerts_set(channel_id: int, below: float) -> str:
    return (
        f"Alerts go to <#{channel_id}>: when the Segmind balance falls below "
        f"{number(below, fixed=True)} credits, and when this server has used 80 % of its budget."
    )


NO_DELIVERY = (
    "I can't post here: I need the View Channel, Send Messages, Attach Files and Embed Links "
    "permissions in this channel. Ask a moderator to grant them, or use another channel."
)


def failure(error: Exception) -> str:
    """What to tell a member whose accepted sheet could not be drawn."""
    return f"{_what_happened(error)} Your cooldown was reset."


def _what_happened(error: Exception) -> str:
    if isinstance(error, SegmindFailed):
        # Segmind's own words go to the log only: they are for the operator, and may be long,
        # technical or misleading to a member.
        if "nsfw" in error.message.lower():
            return (
                "Segmind's safety filter refused to draw this sheet. "
                "Try a different prompt or pose."
            )
        return "Segmind could not draw this sheet. Try again, or with another prompt or seed."
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


def balance_unavailable(error: SegmindError) -> str:
    """Why /credits cannot show the live balance."""
    if isinstance(error, AuthError):
        return "Segmind refused the bot's key; the operator should check SEGMIND_API_KEY."
    if isinstance(error, NotFound):
        return "Segmind has no balance record for this account yet."
    if isinstance(error, RateLimited):
        return "Segmind is rate limiting the bot; try again in a minute."
    return "Segmind did not answer; try again in a minute."


def number(value: float, *, places: int = 2, fixed: bool = False) -> str:
    """A number as people write it: rounded, no "-0", no exponent ("0.55", "1,234.50")."""
    rounded = round(value, places) + 0.0  # adding 0.0 turns -0.0 into 0.0
    text = f"{rounded:,.{places}f}"
    return text if fixed else text.rstrip("0").rstrip(".")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
