"""/sheets: a member's last sheets in a server, ten a page, privately, with Previous and Next
buttons that work after restarts (the member and the page are in their custom_id)."""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Protocol, cast

import discord

from bot.discord import answers
from bot.sheets import texts
from bot.sheets.job import DAY, Job
from bot.sheets.records import Records
from bot.sheets.rules import Refused

log = logging.getLogger(__name__)

PAGE = 10
# As long as a finished job is kept everywhere (Redis forgets one after 30 days): the list is
# the same whichever the backend.
LISTED_DAYS = 30
Button = discord.ui.Button[discord.ui.View]


class SheetsPages:
    """Builds the pages of /sheets from storage."""

    def __init__(self, store: Records) -> None:
        self._store = store

    async def page(
        self, user_id: int, guild_id: int, page: int
    ) -> tuple[discord.Embed | None, discord.ui.View | None, str]:
        """The embed and buttons of a page (the last one if `page` is past it), or only words
        when the member has no sheets here."""
        since = time.time() - LISTED_DAYS * DAY
        jobs, total = await self._store.sheets_of(
            user_id, guild_id, since, skip=page * PAGE, take=PAGE
        )
        pages = max(1, -(-total // PAGE))
        if total and not jobs and page > 0:  # fewer sheets than when the buttons were made
            return await self.page(user_id, guild_id, pages - 1)
        if not total:
            return None, None, texts.no_sheets(LISTED_DAYS)
        lines = [
            texts.sheet_line(
                page * PAGE + n + 1,
                job.request.prompt,
                job.request.seed,
                job.finished_at or job.created_at,
                _link(job),
            )
            for n, job in enumerate(jobs)
        ]
        embed = discord.Embed(
            title=texts.SHEETS_TITLE, description="\n".join(lines), colour=discord.Colour.blurple()
        )
        embed.set_footer(text=texts.sheets_footer(page + 1, pages, total, LISTED_DAYS))
        view = discord.ui.View(timeout=None)
        view.add_item(PageButton("prev", user_id, page - 1, disabled=page == 0))
        view.add_item(PageButton("next", user_id, page + 1, disabled=page + 1 >= pages))
        return embed, view, ""


def _link(job: Job) -> str:
    # The message the sheet was delivered in (its placeholder); else its channel.
    where = f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}"
    return f"{where}/{job.placeholder_id}" if job.placeholder_id else where


class _HasPages(Protocol):
    sheets_pages: SheetsPages


class PageButton(
    discord.ui.DynamicItem[Button],
    template=r"sheets:(?P<which>prev|next):(?P<user>[0-9]+):(?P<page>[0-9]+)",
):
    """Previous or Next under a /sheets page: the page it shows, and whose."""

    def __init__(self, which: str, user_id: int, page: int, *, disabled: bool = False) -> None:
        label = "Previous" if which == "prev" else "Next"
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"sheets:{which}:{user_id}:{max(page, 0)}",
                disabled=disabled,
            )
        )
        self.user_id, self.target = user_id, max(page, 0)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PageButton:
        return cls(match["which"], int(match["user"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        pages = cast(_HasPages, interaction.client).sheets_pages
        try:
            if interaction.user.id != self.user_id or interaction.guild_id is None:
                raise Refused(texts.NOT_YOUR_LIST)
            await interaction.response.defer()
            embed, view, words = await pages.page(self.user_id, interaction.guild_id, self.target)
            await interaction.edit_original_response(
                content=words or None, embed=embed, view=view, allowed_mentions=answers.NOBODY
            )
        except Refused as refusal:
            await answers.refuse(interaction, refusal)
        except Exception:
            log.exception("a /sheets page failed")
            await answers.apologize(interaction)
