"""Saved characters over Discord: the Save form under a sheet, and what /characters does
(draw, list, delete, share, autocomplete). Every drawing goes through the intake of /character."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import discord
from discord import app_commands
from pydantic import ValidationError

from bot.discord import answers
from bot.discord.forms import Form
from bot.discord.intake import Intake, StoredPose
from bot.discord.languages import reader
from bot.discord.pages import PAGE, Page, turns
from bot.discord.permissions import is_moderator
from bot.sheets import lookalikes, texts
from bot.sheets.characters import (
    MAX_SHARED,
    NAME_CHARS,
    Character,
    NoSuchCharacter,
    clean_name,
    member_shelf,
    name_key,
    server_shelf,
)
from bot.sheets.locales import Language, Text
from bot.sheets.records import Records
from bot.sheets.rules import Refused
from bot.sheets.servers import Servers
from bot.sheets.words import find_blocked

log = logging.getLogger(__name__)

SAVE_FORM = r"sheet:save-form:(?P<job>[0-9]+)"
CHOICES = 25  # Discord's most for an autocomplete answer
CHOICE_CHARS = 100


@dataclass(frozen=True)
class Drawing:
    """What /characters draw asks for besides the name (None: as saved)."""

    pose: discord.Attachment | None = None
    seed: int | None = None
    strength: float | None = None
    extra: str | None = None


def save_form(job_id: int, suggestion: str, language: Language) -> Form:
    """The form Save opens: the character's name."""
    say = language.say
    form = Form(title=say(texts.SAVE_FORM_TITLE), custom_id=f"sheet:save-form:{job_id}")
    form.field("name", say(texts.NAME_FIELD), default=suggestion, max_length=NAME_CHARS)
    return form


class CharacterDesk:
    """Keeps, finds and draws the members' characters and their servers' shared ones."""

    def __init__(self, *, store: Records, servers: Servers, intake: Intake, limit: int) -> None:
        self._store = store
        self._servers = servers
        self._intake = intake
        self._limit = limit

    # Save -------------------------------------------------------------------------------

    async def open_save(self, interaction: discord.Interaction, job_id: int) -> None:
        """Save was pressed under a sheet: ask for a name (anyone may keep a sheet they see)."""
        job = await self._store.job(job_id)
        if job is None:
            raise Refused(texts.GONE)
        if job.custom_pose and await self._store.pose(job.id) is None:
            raise Refused(texts.SAVE_EXPIRED)
        suggestion = " ".join(job.request.prompt.split()[:4])[:NAME_CHARS]
        await save_form(job_id, suggestion, await reader(interaction)).open(interaction)

    async def saved(
        self, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None:
        """The Save form was sent: keep the sheet's settings and pose under that name."""
        job = await self._store.job(int(match["job"]))
        if job is None:
            raise Refused(texts.GONE)
        pose = await self._store.pose(job.id) if job.custom_pose else None
        if job.custom_pose and pose is None:
            raise Refused(texts.SAVE_EXPIRED)
        name = await self._allowed_name(interaction, values.get("name", ""))
        character = Character(
            shelf=member_shelf(interaction.user.id),
            name=name,
            owner_id=interaction.user.id,
            request=job.request,
            saved_at=time.time(),
            has_pose=pose is not None,
            pose_note=job.pose_note if pose is not None else None,
        )
        await self._store.save_character(character, pose, limit=self._limit)
        await answers.tell(interaction, texts.character_saved(name))

    # /characters ------------------------------------------------------------------------

    async def draw(self, interaction: discord.Interaction, name: str, asked: Drawing) -> None:
        """Draw a saved character; the options given override the saved ones."""
        character = await self.find(interaction, name)
        changes: dict[str, object] = {}
        if asked.seed is not None:
            changes["seed"] = asked.seed
        if asked.strength is not None:
            changes["strength"] = asked.strength
        if asked.extra:
            changes["prompt"] = f"{character.request.prompt}, {asked.extra.strip()}"
        try:
            request = character.request.revised(**changes)
        except ValidationError as exc:
            raise Refused(texts.explain(exc)) from None
        kept = None
        if asked.pose is None and character.has_pose:
            pose = await self._store.character_pose(character.shelf, character.key)
            kept = StoredPose(pose, character.pose_note) if pose is not None else None
        await self._intake.receive(interaction, request, asked.pose, kept_pose=kept)

    async def find(self, interaction: discord.Interaction, name: str) -> Character:
        """The member's own character by this name, else this server's shared one."""
        for shelf in self._shelves(interaction):
            found = await self._store.character(shelf, name_key(name))
            if found is not None:
                return found
        raise NoSuchCharacter(" ".join(name.split()))

    async def delete(self, interaction: discord.Interaction, name: str) -> Text:
        """Delete the member's own character; a moderator's, also a shared one."""
        character = await self.find(interaction, name)
        if character.shared and not await self.moderator(interaction):
            raise Refused(texts.SHARED_DELETE_MODERATORS_ONLY)
        await self._store.delete_character(character.shelf, character.key)
        return texts.character_deleted(character.name, shared=character.shared)

    async def share(self, interaction: discord.Interaction, name: str) -> Text:
        """Moderators: copy one of their own characters to this server's shared ones."""
        if interaction.guild_id is None or not await self.moderator(interaction):
            raise Refused(texts.SHARE_MODERATORS_ONLY)
        own = await self._store.character(member_shelf(interaction.user.id), name_key(name))
        if own is None:
            raise NoSuchCharacter(" ".join(name.split()))
        await self._allowed_name(interaction, own.name)
        pose = await self._store.character_pose(own.shelf, own.key) if own.has_pose else None
        shared = Character(
            shelf=server_shelf(interaction.guild_id),
            name=own.name,
            owner_id=interaction.user.id,
            request=own.request,
            saved_at=time.time(),
            has_pose=pose is not None,
            pose_note=own.pose_note,
        )
        await self._store.save_character(shared, pose, limit=MAX_SHARED)
        return texts.character_shared(own.name)

    async def choices(
        self, interaction: discord.Interaction, typed: str, *, own_only: bool = False
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete: the member's characters, then the server's shared ones, matching."""
        wanted = name_key(typed)
        found: list[app_commands.Choice[str]] = []
        seen: set[str] = set()
        say = (await reader(interaction)).say
        shelves = self._shelves(interaction)
        for shelf in shelves[:1] if own_only else shelves:
            for character in await self._store.characters_on(shelf):
                if wanted in character.key and character.key not in seen:
                    seen.add(character.key)
                    choice = texts.clip(say(_choice(character)), CHOICE_CHARS)
                    found.append(app_commands.Choice(name=choice, value=character.name))
        return found[:CHOICES]

    async def page(self, user_id: int, guild_id: int | None, page: int, language: Language) -> Page:
        """A page of /characters list: the member's own, then this server's shared ones."""
        shelves = [member_shelf(user_id)] + ([server_shelf(guild_id)] if guild_id else [])
        every = [c for shelf in shelves for c in await self._store.characters_on(shelf)]
        say = language.say
        if not every:
            return None, None, say(texts.NO_CHARACTERS)
        pages = -(-len(every) // PAGE)
        page = min(max(page, 0), pages - 1)
        lines = [
            say(
                texts.character_line(
                    c.name, c.request.prompt, c.request.seed, c.saved_at, shared=c.shared
                )
            )
            for c in every[page * PAGE : (page + 1) * PAGE]
        ]
        embed = discord.Embed(
            title=say(texts.CHARACTERS_TITLE),
            description="\n".join(lines),
            colour=discord.Colour.blurple(),
        )
        embed.set_footer(text=say(texts.characters_footer(page + 1, pages, len(every))))
        return embed, turns("characters", user_id, page, pages, language), ""

    # ------------------------------------------------------------------------------------

    def _shelves(self, interaction: discord.Interaction) -> list[str]:
        own = member_shelf(interaction.user.id)
        return [own, server_shelf(interaction.guild_id)] if interaction.guild_id else [own]

    async def moderator(self, interaction: discord.Interaction) -> bool:
        """Whether the member is a moderator here (may share and delete shared characters)."""
        roles = await self._servers.moderator_roles(interaction.guild_id)
        return is_moderator(interaction, roles)

    async def _allowed_name(self, interaction: discord.Interaction, typed: str) -> str:
        # A name is seen by others (shared, listed): it meets this server's blocked words.
        name = clean_name(typed)
        server = await self._servers.get(interaction.guild_id)
        if server.refused_words:
            if not lookalikes.ready():  # built once, in a thread: never in Discord's window
                await interaction.response.defer(ephemeral=True, thinking=True)
            await lookalikes.prepare()
            if word := find_blocked(name, server.refused_words):
                raise Refused(texts.blocked_word_in_name(word))
        return name


def _choice(character: Character) -> Text:
    prompt = " ".join(character.request.prompt.split())
    return texts.character_choice(character.name, prompt, shared=character.shared)
