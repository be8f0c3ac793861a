"""/sheets: a member's last sheets in a server, ten a page, privately (`bot.discord.pages`)."""

from __future__ import annotations

import time

import discord

from bot.discord.pages import PAGE, Page, turns
from bot.sheets import texts
from bot.sheets.job import DAY, Job
from bot.sheets.locales import Language
from bot.sheets.records import Records

# As long as a finished job is kept everywhere (Redis forgets one after 30 days): the list is
# the same whichever the backend.
LISTED_DAYS = 30


class SheetsPages:
    """Builds the pages of /sheets from storage."""

    def __init__(self, store: Records) -> None:
        self._store = store

    async def page(self, user_id: int, guild_id: int | None, page: int, language: Language) -> Page:
        """The embed and buttons of a page (the last one if `page` is past it), or only words
        when the member has no sheets here."""
        since = time.time() - LISTED_DAYS * DAY
        jobs, total = await self._store.sheets_of(
            user_id, guild_id, since, skip=page * PAGE, take=PAGE
        )
        pages = max(1, -(-total // PAGE))
        if total and not jobs and page > 0:  # fewer sheets than when the buttons were made
            return await self.page(user_id, guild_id, pages - 1, language)
        if not total:
            return None, None, language.say(texts.no_sheets(LISTED_DAYS))
        say = language.say
        lines = [
            say(
                texts.sheet_line(
                    page * PAGE + n + 1,
                    job.request.prompt,
                    job.request.seed,
                    job.finished_at or job.created_at,
                    _link(job),
                )
            )
            for n, job in enumerate(jobs)
        ]
        embed = discord.Embed(
            title=say(texts.SHEETS_TITLE),
            description="\n".join(lines),
            colour=discord.Colour.blurple(),
        )
        embed.set_footer(text=say(texts.sheets_footer(page + 1, pages, total, LISTED_DAYS)))
        return embed, turns("sheets", user_id, page, pages, language), ""


def _link(job: Job) -> str:
    # The message the sheet was delivered in (its placeholder); else its channel.
    where = f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}"
    return f"{where}/{job.placeholder_id}" if job.placeholder_id else where
