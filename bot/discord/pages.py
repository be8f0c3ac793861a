"""Lists shown ten a page, privately, with Previous and Next buttons: /sheets and
/characters list. The buttons work after restarts: the list, whose it is and the page are in
their custom_id, and the bot knows each list's pages by that name (`pages`)."""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol, cast

import discord

from bot.discord import answers
from bot.discord.languages import reader
from bot.sheets import texts
from bot.sheets.locales import Language
from bot.sheets.rules import Refused

log = logging.getLogger(__name__)

PAGE = 10
Page = tuple[discord.Embed | None, discord.ui.View | None, str]  # or only words, when empty
Button = discord.ui.Button[discord.ui.View]
TURNS = {"prev": texts.PREVIOUS, "next": texts.NEXT}


class Pages(Protocol):
    async def page(self, user_id: int, guild_id: int | None, page: int, language: Language) -> Page:
        """The embed and buttons of a page (the last one if `page` is past it), or only words
        when the member has nothing to list, in the member's language."""
        ...


class _HasPages(Protocol):
    pages: dict[str, Pages]


def turns(kind: str, user_id: int, page: int, pages: int, language: Language) -> discord.ui.View:
    """Previous and Next under page `page` (from 0) of `pages` of a member's list."""
    view = discord.ui.View(timeout=None)
    for which, target, disabled in (
        ("prev", page - 1, page == 0),
        ("next", page + 1, page + 1 >= pages),
    ):
        button = PageButton(kind, which, user_id, target, disabled=disabled)
        button.item.label = language.say(TURNS[which])
        view.add_item(button)
    return view


async def show_first(interaction: discord.Interaction, pages: Pages) -> None:
    """Answer a list command privately with the list's first page."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    language = await reader(interaction)
    embed, view, words = await pages.page(interaction.user.id, interaction.guild_id, 0, language)
    if embed is None or view is None:
        await interaction.edit_original_response(content=words, allowed_mentions=answers.NOBODY)
        return
    await interaction.edit_original_response(
        embed=embed, view=view, allowed_mentions=answers.NOBODY
    )


class PageButton(
    discord.ui.DynamicItem[Button],
    template=r"(?P<kind>sheets|characters):(?P<which>prev|next):(?P<user>[0-9]+):(?P<page>[0-9]+)",
):
    """Previous or Next under a page of a member's list: which list, whose, the page it shows."""

    def __init__(
        self, kind: str, which: str, user_id: int, page: int, *, disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=str(TURNS[which]),
                style=discord.ButtonStyle.secondary,
                custom_id=f"{kind}:{which}:{user_id}:{max(page, 0)}",
                disabled=disabled,
            )
        )
        self.kind, self.user_id, self.target = kind, user_id, max(page, 0)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PageButton:
        return cls(match["kind"], match["which"], int(match["user"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        pages = cast(_HasPages, interaction.client).pages[self.kind]
        try:
            if interaction.user.id != self.user_id:
                raise Refused(texts.NOT_YOUR_LIST)
            await interaction.response.defer()
            language = await reader(interaction)
            embed, view, words = await pages.page(
                self.user_id, interaction.guild_id, self.target, language
            )
            await interaction.edit_original_response(
                content=words or None, embed=embed, view=view, allowed_mentions=answers.NOBODY
            )
        except Refused as refusal:
            await answers.refuse(interaction, refusal)
        except Exception:
            log.exception("a page of %s failed", self.kind)
            await answers.apologize(interaction)
