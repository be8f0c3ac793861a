"""Everything the bot says to people, in English; each message is a `Text`, put into the
reader's language where it reaches them (`bot.sheets.locales`). Short, actionable, pinging nobody.

The English is also each message's id in the catalogs (`bot/locales`): `make translations`
extracts it, with the `TRANSLATORS:` comments, for translators who never see the code. Values
in braces (`{seed}`) are filled in; a translation keeps every one of them. Slash commands,
channels and roles (`/character`, `<#…>`) and code in backticks stay as they are.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

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
from bot.sheets.locales import Listing, Number, Percent, Said, Seconds, Text, _, n_


def when(timestamp: float) -> str:
    """A Discord timestamp that each reader sees in their own words ("in 40 seconds")."""
    return f"<t:{int(timestamp + 0.999)}:R>"


# Mentions and dates Discord shows in each reader's own words, and code shown as it is.
def member(user_id: int) -> str:
    return f"<@{user_id}>"


def channel(channel_id: int) -> str:
    return f"<#{channel_id}>"


def date(timestamp: float) -> str:
    return f"<t:{int(timestamp)}:f>"


def code(value: object) -> str:
    return f"`{value}`"


def credits(value: float) -> Number:
    """An amount of Segmind credits, always with its two decimals ("1,234.50")."""
    return Number(value, fixed=True)


def cooldown(until: float) -> Text:
    # TRANSLATORS: {when} is a Discord timestamp the reader's app shows as "in 40 seconds".
    return _(
        "You can draw again {when}. Each member can start one sheet per cooldown.",
        when=when(until),
    )


def explain(error: ValidationError) -> Text:
    """A refusal naming each option that is out of range."""
    # TRANSLATORS: one wrong option of a request: {option} is its name, such as `seed`;
    # {reason} is what is wrong with it, such as "must be at most 1".
    parts = [
        _("{option} {reason}", option=code(err["loc"][0]), reason=_wrong(err))
        for err in error.errors()
        if err["loc"]
    ]
    # TRANSLATORS: {problems} is a list of wrong options ("`seed` must be at least 0").
    return _("Please fix: {problems}.", problems=Listing.of(parts))


def _wrong(err: ErrorDetails) -> Text:
    bounds = err.get("ctx") or {}
    kind = err["type"]
    if kind == "greater_than_equal":
        # TRANSLATORS: what is wrong with an option (after its name): {limit} is a number
        return _("must be at least {limit}", limit=Number(bounds["ge"], places=4))
    if kind == "less_than_equal":
        # TRANSLATORS: what is wrong with an option (after its name): {limit} is a number
        return _("must be at most {limit}", limit=Number(bounds["le"], places=4))
    if kind == "string_too_long":
        # TRANSLATORS: what is wrong with an option (after its name)
        return _("must be at most {limit} characters long", limit=bounds["max_length"])
    if kind in ("float_parsing", "int_parsing", "int_from_float"):
        # TRANSLATORS: what is wrong with an option (after its name)
        return _("must be a number")
    if kind in ("string_too_short", "missing") or "visible text" in err["msg"]:
        # TRANSLATORS: what is wrong with an option (after its name)
        return _("must not be empty")
    # TRANSLATORS: what is wrong with an option (after its name)
    return _("is not valid")


def too_many_of_yours(count: int) -> Text:
    return n_(
        "You already have {count} sheet waiting or being drawn; wait for it to finish, then "
        "try again.",
        "You already have {count} sheets waiting or being drawn; wait for one to finish, then "
        "try again.",
        count,
    )


def queue_full(limit: int) -> Text:
    return _(
        "The queue is full ({limit} sheets waiting). Try again in a few minutes.",
        limit=Number(limit),
    )


def pose_not_a_picture(filename: str, kind: str) -> Text:
    # TRANSLATORS: {kind} is a file type such as "application/pdf".
    return _(
        "The pose `{filename}` isn't a picture I can use ({kind}). "
        "Attach a PNG, JPEG, WebP or GIF image.",
        filename=filename,
        # TRANSLATORS: a file of no known type, in brackets after the file's name
        kind=kind or _("unknown type"),
    )


def pose_too_large(filename: str, size: int, limit: int) -> Text:
    return _(
        "The pose `{filename}` is {size} MiB; the limit is {limit} MiB. "
        "Attach a smaller image (a screenshot of the pose works well).",
        filename=filename,
        size=Number(size / 2**20, places=1, fixed=True),
        limit=Number(limit / 2**20, places=0),
    )


POSE_UNREADABLE = _(
    "That file isn't a picture I can read. Attach a PNG, JPEG, WebP, GIF or BMP image of a pose."
)


POSE_DAMAGED = _(
    "That image looks damaged or cut off. Save it again as a PNG or JPEG and attach it once more."
)


POSE_EMPTY = _("That attachment is empty. Attach a PNG, JPEG or WebP picture of a pose.")


def pose_too_many_pixels(pixels: int | None, max_pixels: int) -> Text:
    limit = Number(max_pixels / 1e6, places=2)
    if pixels is None:
        return _(
            "That image is too large: over {limit} megapixels. "
            "Attach a smaller picture, such as a screenshot of the pose.",
            limit=limit,
        )
    return _(
        "That image is too large: {size} megapixels, max {limit} megapixels. "
        "Attach a smaller picture, such as a screenshot of the pose.",
        size=Number(pixels / 1e6, places=2),
        limit=limit,
    )


def pose_too_small(width: int, height: int, min_side: int) -> Text:
    return _(
        "That image is only {width} x {height} pixels. Attach a pose picture at least "
        "{min_side} pixels on each side.",
        width=width,
        height=height,
        min_side=min_side,
    )


def pose_too_thin(width: int, height: int) -> Text:
    return _(
        "That image is {width} x {height} pixels, too long and thin to read a pose from. "
        "Crop it closer to the figure and attach it again.",
        width=width,
        height=height,
    )


def first_frame(format_name: str) -> Text:
    """The note on a sheet drawn on an animation's first frame; `format_name` is what the job
    stores ("GIF"; before translations, the whole English note, shown as it is)."""
    if " " in format_name:
        return Text(format_name)
    # TRANSLATORS: a note under a sheet; {format} is GIF, WebP or PNG.
    return _("Used the first frame of your animated {format}.", format=format_name)


DEFAULT_POSE_NOTE = _("Drawn on the default pose sheet; attach `pose` to use your own.")


RESIZED_NOTE = _("The sheet was re-encoded to fit Discord's upload limit.")


SPOILER_NOTE = _(
    "Behind a spoiler: the content filter flagged this sheet as possibly explicit "
    "(this channel is age-restricted)."
)


def daily_limit(count: int, limit: int, until: float | None, *, direct: bool = False) -> Text:
    again = (
        _("You can draw again {when}.", when=when(until)) if until else _("Wait for one to finish.")
    )
    if direct:
        return n_(
            "In direct messages the bot allows {count} sheet per member in 24 hours, and you "
            "have {used}/{count}. {again}",
            "In direct messages the bot allows {count} sheets per member in 24 hours, and you "
            "have {used}/{count}. {again}",
            limit,
            used=Number(count),
            again=again,
        )
    return n_(
        "This server allows {count} sheet per member in 24 hours, and you have "
        "{used}/{count}. {again}",
        "This server allows {count} sheets per member in 24 hours, and you have "
        "{used}/{count}. {again}",
        limit,
        used=Number(count),
        again=again,
    )


def budget_spent(spent: float, budget: float, until: float | None, *, direct: bool = False) -> Text:
    again = (
        _("Try again {when}.", when=when(until))
        if until
        # TRANSLATORS: after a refusal: sheets still drawing hold part of the budget
        else _("Try again once running sheets finish.")
    )
    values = {"spent": credits(spent), "budget": credits(budget), "again": again}
    if direct:
        return _(
            "The bot's Segmind budget for direct messages is spent: {spent} of {budget} "
            "credits in the last 24 hours. {again}",
            **values,
        )
    return _(
        "This server's Segmind budget is spent: {spent} of {budget} credits in the last "
        "24 hours. {again}",
        **values,
    )


def wrong_channel(channels: frozenset[int]) -> Text:
    # TRANSLATORS: {channels} is a list of channel links.
    return _(
        "Sheets are drawn in {channels} on this server. Use /character there.",
        channels=Listing.of(channel(c) for c in sorted(channels)),
    )


def blocked_word(word: str) -> Text:
    return _(
        "This server doesn't allow the word “{word}” in prompts. "
        "Describe the character without it and try again.",
        word=word,
    )


def balance_alert(balance: float, below: float) -> Text:
    # TRANSLATORS: posted in a server's alerts channel, for its staff.
    return _(
        "⚠️ The Segmind balance is down to {balance} credits, below this server's alert line "
        "of {below}. Top up at https://cloud.segmind.com.",
        balance=credits(balance),
        below=credits(below),
    )


def budget_alert(spent: float, budget: float, share: float) -> Text:
    # TRANSLATORS: posted in a server's alerts channel, for its staff.
    return _(
        "⚠️ This server has used {spent} of its {budget}-credit budget in the last 24 hours "
        "({share} or more).",
        spent=credits(spent),
        budget=credits(budget),
        share=Percent(share),
    )


DMS_OFF = _(
    "I only draw in servers, not in direct messages. Use /character in a server that has me."
)
POSE_DOWNLOAD_FAILED = _("I couldn't download the pose from Discord. Try again.")


RESTARTING = _("The bot is restarting. Try again in a minute.")

STORAGE_NOT_ANSWERING = _(
    "The bot's storage is not answering right now. Nothing was charged; try again in a minute."
)


def queued(ahead: int) -> Text:
    if ahead == 0:
        # TRANSLATORS: the placeholder of a waiting request, edited as the queue moves
        return _("Queued — you're next.")
    # TRANSLATORS: the placeholder of a waiting request: {count} requests are before it
    return n_("Queued — {count} ahead of you.", "Queued — {count} ahead of you.", ahead)


# TRANSLATORS: the placeholder while the request goes to Segmind
SENDING = _("Sending your request to Segmind…")


WAITING_AT_SEGMIND = _("Waiting at Segmind — your sheet is in Segmind's own queue.")


def paced(starts: float) -> Text:
    return _(
        "Queued — you're next; Segmind's plan allows only so many sheets a minute, "
        "so yours starts {when}.",
        when=when(starts),
    )


def drawing(since: float) -> Text:
    # TRANSLATORS: {when} is a Discord timestamp ("2 seconds ago").
    return _(
        "Drawing your character sheet… (started {when}, usually about {usual})",
        when=when(since),
        usual=Seconds(40),
    )


INTERRUPTED = _(
    "This sheet was interrupted by a restart of the bot — your cooldown was reset, "
    "run the command again."
)

LOST = _(
    "Sorry — the bot lost your request (its storage was reset) and will not draw it. Nothing "
    "was charged and your cooldown was reset: run the command again."
)


def withheld(seed: int, *, blocked: bool, direct: bool = False) -> Text:
    """Told privately to the member whose sheet the content filter kept from view."""
    if direct:
        rule = _("sheets it flags are never sent in direct messages")
    elif blocked:
        rule = _("this server doesn't post such sheets anywhere")
    else:
        rule = _(
            "this server shows such sheets only in age-restricted channels, and this isn't one"
        )
    # TRANSLATORS: {rule} is one of the three reasons just above.
    return _(
        "Your character sheet was not posted: the bot's content filter judged it may be "
        "sexually explicit, and {rule}. Nobody else saw it. Seed `{seed}`. Press Re-roll for "
        "a new seed, or change the prompt. The filter can be wrong; moderators can see what "
        "was withheld.",
        rule=rule,
        seed=seed,
    )


def pose_flagged(*, blocked: bool) -> Text:
    """A pose upload the content filter flagged, refused before anything was drawn."""
    if blocked:
        return _(
            "The bot's content filter judged your pose picture may be sexually explicit, so it "
            "wasn't used and nothing was drawn or charged. Attach another pose, such as a "
            "clothed figure or a stick figure, and try again."
        )
    return _(
        "The bot's content filter judged your pose picture may be sexually explicit, so it "
        "wasn't used and nothing was drawn or charged. Attach another pose, such as a clothed "
        "figure or a stick figure (or ask in an age-restricted channel), and try again."
    )


# TRANSLATORS: {what} in a safety log line
SHEET_WITHHELD = _("Withheld a sheet")
# TRANSLATORS: {what} in a safety log line
POSE_REFUSED = _("Refused a pose")


def safety_log_line(
    what: Text,
    *,
    user_id: int,
    channel_id: int,
    prompt: str,
    score: float | None,
    threshold: float,
    at: float,
) -> Text:
    """One line for a server's safety log: who, where, the prompt, the score, when. Shown
    pinging nobody; the prompt in code, so nothing in it renders (mentions, links, markdown)."""
    shown = " ".join(prompt.replace("`", "'").split()) or " "
    # TRANSLATORS: a line in the moderators' safety log. {what} is "Withheld a sheet" or
    # "Refused a pose"; {member} and {channel} are mentions; {at} a Discord date; {score} the
    # content filter's score from 0 to 1, {threshold} the score from which it flags.
    return _(
        "🛡️ {what}: {member} in {channel} {at} — score {score} (flagged from {threshold}) — "
        "prompt `{prompt}`",
        what=what,
        member=member(user_id),
        channel=channel(channel_id),
        at=date(at),
        # TRANSLATORS: a content filter score that could not be computed (the image was unreadable)
        score=_("unreadable") if score is None else Number(score, fixed=True),
        threshold=Number(threshold, fixed=True),
        prompt=clip(shown, 300),
    )


NOT_YOURS = _("Only the member who asked for this sheet (or a moderator) can do that.")


EXPIRED = _("This sheet is too old to re-roll: its pose was deleted. Run /character again.")

NO_PICTURE_IN_MESSAGE = _(
    "That message has no picture I can draw on (an attached image, or an embed's image). "
    "Use it on a message with one, or attach a pose to /character."
)

POSE_FORM_GONE = _(
    "I no longer know which picture this form was for (it was opened before the bot restarted, "
    "or over an hour ago). Use Apps → Use as pose on the message again."
)

# TRANSLATORS: the title of /sheets
SHEETS_TITLE = _("Your sheets in this server")

NOT_YOUR_LIST = _("This list belongs to another member. Use /sheets to see yours.")


def no_sheets(days: int) -> Text:
    return n_(
        "You have no sheets in this server from the last {count} day. Draw one with /character.",
        "You have no sheets in this server from the last {count} days. Draw one with /character.",
        days,
    )


def sheet_line(number: int, prompt: str, seed: int | None, at: float, link: str) -> Text:
    """One sheet in /sheets: the start of its prompt, its seed, when, and where it is."""
    start = clip(" ".join(prompt.split()), 70).replace("[", "(").replace("]", ")")
    # TRANSLATORS: one line of the /sheets list; {when} is a Discord timestamp, and the
    # link's text is the word in square brackets.
    return _(
        "**{number}.** {prompt} — seed `{seed}` — {when} — [open]({link})",
        number=number,
        prompt=start,
        seed=seed,
        when=when(at),
        link=link,
    )


def sheets_footer(page: int, pages: int, total: int, days: int) -> Text:
    return n_(
        "Page {page} of {pages} · {count} sheet from the last {days} days · newest first",
        "Page {page} of {pages} · {count} sheets from the last {days} days · newest first",
        total,
        page=page,
        pages=pages,
        days=days,
    )


def bad_character_name(limit: int) -> Text:
    return _("Give the character a name of 1 to {limit} characters.", limit=limit)


def character_name_taken(name: str, *, shared: bool = False) -> Text:
    if shared:
        return _(
            "This server already shares a character called “{name}”. Pick another name, or "
            "delete the old one first with /characters delete.",
            name=name,
        )
    return _(
        "You already have a character called “{name}”. Pick another name, or delete the old "
        "one first with /characters delete.",
        name=name,
    )


def characters_full(limit: int, *, shared: bool = False) -> Text:
    if shared:
        return _(
            "This server already shares {limit} characters, the most it can. Delete one with "
            "/characters delete, then share again.",
            limit=limit,
        )
    return _(
        "You have {limit} saved characters, the most you can keep. Delete one with "
        "/characters delete, then save again.",
        limit=limit,
    )


def no_such_character(name: str) -> Text:
    return _(
        "You have no character called “{name}” (and this server shares none by that name). "
        "See yours with /characters list.",
        name=name,
    )


def character_saved(name: str) -> Text:
    # TRANSLATORS: keep the command in backticks as it is: the member copies it.
    return _(
        "Saved “{name}”. Draw it again any time with `/characters draw name:{name}`.", name=name
    )


def character_deleted(name: str, *, shared: bool = False) -> Text:
    if shared:
        return _("Deleted the shared character “{name}”.", name=name)
    return _("Deleted your character “{name}”.", name=name)


def character_shared(name: str) -> Text:
    return _(
        "“{name}” is now shared in this server: every member here can draw it with "
        "`/characters draw name:{name}`.",
        name=name,
    )


SHARED_DELETE_MODERATORS_ONLY = _(
    "Only moderators (Manage Server, or a moderator role) can delete a shared character."
)


def blocked_word_in_name(word: str) -> Text:
    return _("This server doesn't allow the word “{word}” in names. Pick another name.", word=word)


SAVE_EXPIRED = _("This sheet is too old to save: its pose was deleted. Run /character again.")

SHARE_MODERATORS_ONLY = _(
    "Only moderators (Manage Server, or a moderator role) can share characters in this server."
)

# TRANSLATORS: the title of /characters list
CHARACTERS_TITLE = _("Your characters")

NO_CHARACTERS = _(
    "You have no saved characters yet. Press Save under one of your sheets to keep one."
)


def character_line(name: str, prompt: str, seed: int | None, at: float, *, shared: bool) -> Text:
    """One character in /characters list: its name (marked if shared), prompt start, seed."""
    start = clip(" ".join(prompt.split()), 60)
    values = {"name": name, "prompt": start, "seed": seed, "when": when(at)}
    if shared:
        return _("**{name}** (shared here) — {prompt} — seed `{seed}` — saved {when}", **values)
    return _("**{name}** — {prompt} — seed `{seed}` — saved {when}", **values)


def character_choice(name: str, prompt: str, *, shared: bool) -> Text:
    """A character offered by autocomplete while a member types its name."""
    if shared:
        return _("{name} (shared) — {prompt}", name=name, prompt=prompt)
    # TRANSLATORS: a saved character offered while typing its name: its name, then its prompt
    return _("{name} — {prompt}", name=name, prompt=prompt)


def characters_footer(page: int, pages: int, total: int) -> Text:
    return n_(
        "Page {page} of {pages} · {count} character",
        "Page {page} of {pages} · {count} characters",
        total,
        page=page,
        pages=pages,
    )


EDIT_EXPIRED = _("This sheet is too old to edit: its pose was deleted. Run /character again.")


GONE = _("That sheet no longer exists.")


UNDELIVERED = _(
    "I drew your character sheet but could not post it anywhere for a long time (Discord kept "
    "refusing), so it was dropped. Your cooldown was reset; run /character again."
)


MODERATORS_ONLY = _("Only moderators (Manage Server, or a moderator role) can check the credits.")


CONFIG_MODERATORS_ONLY = _(
    "Only moderators (Manage Server, or a moderator role) can see or change this server's settings."
)


EVERYONE_IS_NO_MODERATOR_ROLE = _(
    "@everyone can't be a moderator role: every member has it, so everyone could change these "
    "settings and delete other members' sheets. Pick a role only your moderators have."
)
NO_WORDS = _("Give one or more words, separated by commas (for example: gore, red eyes).")


def entry_too_long(entry: str, limit: int) -> Text:
    return _(
        '"{entry}…" is longer than {limit} characters; block a shorter word or phrase.',
        entry=entry,
        limit=limit,
    )


def entry_without_letters(entry: str) -> Text:
    return _('"{entry}" has no letter or digit, so it would never match a word.', entry=entry)


# What each server setting is called when people read about it.
# TRANSLATORS: the names of a server's settings, as moderators see them in /config.
SETTING_NAMES = {
    # TRANSLATORS: the name of a server setting, shown in /config
    "cooldown_seconds": _("Cooldown"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "daily_limit": _("Daily limit per member"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "budget": _("Budget (credits per 24 hours)"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "open_reroll": _("Anyone may re-roll"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "safety_mode": _("Content safety"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "safety_log_channel_id": _("Safety log"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "language": _("Language"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "channel": _("Allowed channels"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "moderator_role": _("Moderator roles"),
    # TRANSLATORS: the name of a server setting, shown in /config
    "blocked_word": _("Blocked words"),
}


# What each content-safety mode does, as moderators read it (/config show, /config safety mode).
# TRANSLATORS: keep the first word (the mode's name, which moderators choose) as it is.
SAFETY_MODES = {
    "age-restricted": _(
        "age-restricted: sheets the content filter flags are posted only in "
        "age-restricted channels (as spoilers), withheld elsewhere"
    ),
    "block": _("block: sheets the content filter flags are never posted"),
    "off": _("off: sheets and poses are not checked (this server's choice)"),
}

# A mode that needs the content classifier, chosen while it could not be loaded.
CLASSIFIER_UNAVAILABLE = _(
    "The content filter could not be started, so this mode cannot be used yet: the safety "
    "mode was not changed. The operator can see why in the bot's log."
)

# The languages a server may choose with /config language, each in its own words.
LANGUAGE_NAMES: dict[str, Text | str] = {
    "auto": _("auto: each member in their own Discord language"),
    "en-US": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es-ES": "Español",
    "pt-BR": "Português do Brasil",
    "it": "Italiano",
    "pl": "Polski",
    "ru": "Русский",
    "ja": "日本語",
    "ko": "한국어",
    "zh-CN": "中文",
}

# TRANSLATORS: a setting's value: switched off
OFF = _("off")
# TRANSLATORS: a setting's value: the bot operator's default
THE_DEFAULT = _("the default")


def setting_value(setting: str, value: object) -> Said:
    if value is None and setting == "safety_log_channel_id":
        return OFF
    if value is None and setting == "language":
        return LANGUAGE_NAMES["auto"]
    if value is None:
        return THE_DEFAULT
    if setting == "cooldown_seconds" and isinstance(value, int | float):
        return Seconds(value)
    if setting == "daily_limit" and isinstance(value, int):
        if not value:
            # TRANSLATORS: the daily limit's value when there is none
            return _("no limit")
        return n_("{count} sheet", "{count} sheets", value)
    if setting == "budget" and isinstance(value, int | float):
        if not value:
            # TRANSLATORS: the budget's value when there is none
            return _("no budget")
        # TRANSLATORS: an amount of Segmind credits
        return _("{credits} credits", credits=credits(value))
    if setting == "open_reroll":
        # TRANSLATORS: the value of "Anyone may re-roll"
        return _("yes") if value else _("no (the requester and moderators)")
    if setting == "safety_mode":
        return SAFETY_MODES.get(str(value), str(value))
    if setting == "safety_log_channel_id":
        return OFF if not value else f"<#{value}>"
    if setting == "language":
        return LANGUAGE_NAMES.get(str(value), str(value))
    return str(value)


def by_default(value: Said) -> Text:
    # TRANSLATORS: a setting's value that the server did not choose, such as "60 s (the default)".
    return _("{value} (the default)", value=value)


def setting_changed(setting: str, old: object, new: object, default: object) -> Text:
    """A change, as the moderator who made it reads it ("Cooldown: 60 s → 30 s.")."""
    before = setting_value(setting, old)
    if old is None and setting not in ("language", "safety_log_channel_id"):
        before = by_default(setting_value(setting, default))
    return _(
        "{setting}: {before} → {after}.",
        setting=SETTING_NAMES.get(setting, setting),
        before=before,
        after=setting_value(setting, new),
    )


def listed(kind: str, value: str) -> str:
    return {"channel": f"<#{value}>", "moderator_role": f"<@&{value}>"}.get(kind, f"`{value}`")


def list_changed(kind: str, values: list[str], *, added: bool) -> Text:
    name = SETTING_NAMES.get(kind, kind)
    if not values:
        if added:
            return _("{setting}: nothing changed (already there).", setting=name)
        return _("{setting}: nothing changed (already absent).", setting=name)
    shown = Listing.of(listed(kind, v) for v in values)
    if added:
        return _("{setting}: added {values}.", setting=name, values=shown)
    return _("{setting}: removed {values}.", setting=name, values=shown)


def alerts_set(channel_id: int, below: float, share: float) -> Text:
    return _(
        "Alerts go to {channel}: when the Segmind balance falls below {below} credits, and "
        "when this server has used {share} of its budget.",
        channel=channel(channel_id),
        below=credits(below),
        share=Percent(share),
    )


# Buttons and forms. TRANSLATORS: button labels, at most 80 characters; keep them short.
# TRANSLATORS: a button under a sheet: draw it again with a new seed (at most 80 characters)
REROLL = _("Re-roll")
# TRANSLATORS: a button under a sheet: change its prompt or settings and draw again
EDIT = _("Edit")
# TRANSLATORS: a button under a sheet: keep the character to draw again later
SAVE = _("Save")
# TRANSLATORS: a button under a sheet: delete the message
DELETE = _("Delete")
# TRANSLATORS: a button under a page of a list
PREVIOUS = _("Previous")
# TRANSLATORS: a button under a page of a list
NEXT = _("Next")
# TRANSLATORS: form titles (at most 45 characters).
EDIT_FORM_TITLE = _("Edit this sheet")
# TRANSLATORS: the title of a form (at most 45 characters)
SAVE_FORM_TITLE = _("Save this character")
# TRANSLATORS: the title of a form (at most 45 characters)
POSE_FORM_TITLE = _("Draw on this picture")
# TRANSLATORS: labels of a form's fields: at most 45 characters each.
PROMPT_FIELD = _("Prompt")
# TRANSLATORS: a field's label in a form (at most 45 characters)
NEGATIVE_FIELD = _("Negative prompt (what to keep out)")
# TRANSLATORS: a field's label in a form (at most 45 characters)
STRENGTH_FIELD = _("Strength, 0 to 1 (1: follow the pose closely)")
# TRANSLATORS: a field's label in a form (at most 45 characters)
SEED_FIELD = _("Seed (empty: a new random one)")
# TRANSLATORS: a field's label in a form (at most 45 characters)
NAME_FIELD = _("Name (you draw it again by this name)")

# The card under a sheet. TRANSLATORS: field names, at most 256 characters.
# TRANSLATORS: the title of the card under a finished sheet
SHEET_TITLE = _("Character sheet")
# TRANSLATORS: a field of the card under a sheet: the number that reproduces it
SEED = _("Seed")
# TRANSLATORS: a field of the card under a sheet: how closely it follows the pose
STRENGTH = _("Strength")
# TRANSLATORS: a field of the card under a sheet: how long drawing took
TOOK = _("Took")
# TRANSLATORS: a field of the card under a sheet: the Segmind credits left
CREDITS_LEFT = _("Credits left")
# TRANSLATORS: a field of the card under a sheet: the member who asked
ASKED_BY = _("Asked by")
# TRANSLATORS: a field of the card under a sheet
NOTES = _("Notes")
# TRANSLATORS: the value of "Credits left" when Segmind did not say
UNKNOWN = _("unknown")

# /config show.
# TRANSLATORS: the title of /config show
SETTINGS_TITLE = _("This server's settings")
# TRANSLATORS: a field of /config show
BUDGET = _("Budget")
# TRANSLATORS: a field of /config show
ALERTS = _("Alerts")
# TRANSLATORS: the value of "Allowed channels" when none is set
EVERYWHERE = _("everywhere")
# TRANSLATORS: the value of "Moderator roles" when none is set: only members with the Manage
# Server permission
NO_ROLES = _("none (Manage Server)")
# TRANSLATORS: the value of "Blocked words" when none is set
NONE = _("none")


def budget_now(spent: float, budget: float) -> Text:
    if not budget:
        return _("{spent} spent in the last 24 hours (no budget)", spent=credits(spent))
    return _(
        "{spent} spent in the last 24 hours of {budget} ({share})",
        spent=credits(spent),
        budget=credits(budget),
        share=Percent(spent / budget),
    )


def alerts_shown(channel_id: int, below: float, share: float) -> Text:
    return _(
        "{channel} below {below} credits, and at {share} of the budget",
        channel=channel(channel_id),
        below=credits(below),
        share=Percent(share),
    )


def safety_shown(mode: str, log_channel: Said) -> Text:
    # TRANSLATORS: {mode} is one of the content-safety modes' descriptions.
    return _("{mode}. Safety log: {channel}", mode=mode, channel=log_channel)


# /credits.
# TRANSLATORS: the title of /credits
CREDITS_TITLE = _("Segmind credits")
# TRANSLATORS: a field of /credits
BALANCE_NOW = _("Balance now")
# TRANSLATORS: a field of /credits: the balance Segmind reported with the last sheet
LAST_SEEN = _("Last seen after a sheet")
# TRANSLATORS: a field of /credits
TODAY = _("Today (UTC)")
# TRANSLATORS: a field of /credits
LAST_7_DAYS = _("Last 7 days")
# TRANSLATORS: a field of /credits
LAST_24_HOURS = _("Last 24 hours")
# TRANSLATORS: a field of /credits: who spent the most
TOP_MEMBERS = _("Top members this week")
# TRANSLATORS: a field of /credits: how long the credits last at the recent rate
LASTS = _("The balance lasts")


def balance_now(balance: float, free: float) -> Text:
    return _(
        "{credits} (+ {free} free)", credits=credits(balance), free=Number(free, 4, fixed=True)
    )


def balance_missing(why: Text) -> Text:
    # TRANSLATORS: the value of "Balance now" when Segmind did not answer
    return _("unavailable right now. {why}", why=why)


def last_seen(balance: float, at: float) -> Text:
    # TRANSLATORS: {when} is a Discord timestamp ("5 minutes ago").
    return _("{credits} {when}", credits=credits(balance), when=when(at))


def usage(sheets: int, withheld: int, spent: float) -> Text:
    drawn = n_("{count} sheet", "{count} sheets", sheets)
    if withheld:
        drawn = n_(
            "{sheets} (+ {count} withheld)", "{sheets} (+ {count} withheld)", withheld, sheets=drawn
        )
    # TRANSLATORS: a field of /credits: {sheets} is a number of sheets
    return _("{sheets}, {credits} credits", sheets=drawn, credits=credits(spent))


def spent(value: float) -> Text:
    return _("{credits} credits", credits=credits(value))


def spender(user_id: int, value: float) -> Text:
    # TRANSLATORS: a line of "Top members this week"
    return _("{member} — {credits}", member=member(user_id), credits=credits(value))


def lasts(days: float) -> Text:
    return n_(
        "about {count} day at the last 7 days' rate (all servers)",
        "about {count} days at the last 7 days' rate (all servers)",
        round(days),
    )


NO_DELIVERY = _(
    "I can't post here: I need the View Channel, Send Messages, Attach Files and Embed Links "
    "permissions in this channel. Ask a moderator to grant them, or use another channel."
)


def failure(error: Exception) -> Text:
    """What to tell a member whose accepted sheet could not be drawn."""
    # TRANSLATORS: {what} is one of the sentences that say why a sheet could not be drawn.
    return _("{what} Your cooldown was reset.", what=_what_happened(error))


def _what_happened(error: Exception) -> Text:
    if isinstance(error, SegmindFailed):
        # Segmind's own words go to the log only: they are for the operator, and may be long,
        # technical or misleading to a member.
        if "nsfw" in error.message.lower():
            return _(
                "Segmind's safety filter refused to draw this sheet. "
                "Try a different prompt or pose."
            )
        return _("Segmind could not draw this sheet. Try again, or with another prompt or seed.")
    if isinstance(error, RequestExpired):
        return _(
            "This sheet was lost: Segmind keeps a finished sheet for an hour, and the bot was "
            "away longer than that."
        )
    if isinstance(error, ServerError) and error.status in (502, 504):
        return _(
            "Segmind's gateway failed after it received the request, so the sheet may have "
            "been drawn (and billed) without reaching us. Try again in a minute."
        )
    if isinstance(error, InsufficientCredits):
        return _(
            "The server's Segmind credits have run out, so no sheet was drawn. "
            "A moderator can check /credits."
        )
    if isinstance(error, AuthError):
        return _(
            "The bot is misconfigured (Segmind refused its key), so no sheet was drawn. "
            "The operator has been told in the logs."
        )
    if isinstance(error, RateLimited):
        return _("Segmind is busy right now (rate limited). Try again in a minute.")
    if isinstance(error, SegmindTimeout):
        return _("Segmind took too long to answer. Try again in a few minutes.")
    if isinstance(error, InvalidRequest):
        return _("Segmind refused these settings. Try a different prompt or values.")
    if isinstance(error, ServerError | SegmindConnectionError | UnexpectedResponse):
        return _("Segmind had a problem drawing this sheet. Try again in a minute.")
    if isinstance(error, SegmindError):
        return _("Segmind could not draw this sheet. Try again later.")
    return _("Something went wrong on our side while drawing. Try again.")


OOPS = _("Something went wrong on our side. The operator can see what in the logs; try again.")


def balance_unavailable(error: SegmindError) -> Text:
    """Why /credits cannot show the live balance."""
    if isinstance(error, AuthError):
        return _("Segmind refused the bot's key; the operator should check SEGMIND_API_KEY.")
    if isinstance(error, NotFound):
        return _("Segmind has no balance record for this account yet.")
    if isinstance(error, RateLimited):
        return _("Segmind is rate limiting the bot; try again in a minute.")
    return _("Segmind did not answer; try again in a minute.")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
