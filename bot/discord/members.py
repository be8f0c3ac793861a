"""The domain's `Members` over Discord: placeholders edited beside the jobs, sheets sent with
their card and buttons, words by the interaction, the channel or a direct message."""

from __future__ import annotations

from collections.abc import Callable

import discord

from bot.discord.channels import is_age_restricted
from bot.discord.delivery import Courier, Parcel, sheet_parcel
from bot.discord.placeholders import Placeholders
from bot.sheets.job import Job
from bot.sheets.locales import Language, Text, for_server, ready


class DiscordMembers:
    """Implements `bot.sheets.members.Members` with discord.py."""

    def __init__(
        self,
        client: discord.Client,
        courier: Courier,
        placeholders: Placeholders,
        buttons: Callable[[int, Language], discord.ui.View],
        reroll: Callable[[int, Language], discord.ui.View],
    ) -> None:
        self._client = client
        self._reroll = reroll
        self._courier = courier
        self._placeholders = placeholders
        self._buttons = buttons

    def show(self, job: Job, text: Text) -> None:
        self._placeholders.show(job, text)

    async def deliver(self, job: Job, image: bytes, *, spoiler: bool = False) -> str:
        await self._placeholders.stop(job.id)
        spoken = await ready(job.language)
        parcel = await sheet_parcel(
            job, image, self._buttons(job.id, spoken), spoken, spoiler=spoiler
        )
        return await self._courier.deliver(job, parcel, by_dm=not spoiler)

    async def age_restricted(self, job: Job) -> bool:
        if job.guild_id is None:
            return False  # a direct message is never age-restricted
        return await is_age_restricted(self._client, job.channel_id)

    async def tell_privately(self, job: Job, text: Text, *, reroll: bool) -> str:
        await self._placeholders.stop(job.id)
        view = self._reroll(job.id, await ready(job.language)) if reroll else None
        return await self._courier.tell_privately(job, Parcel(content=text, view=view))

    async def tell(self, job: Job, text: Text) -> str:
        await self._placeholders.stop(job.id)
        return await self._courier.deliver(job, Parcel(content=text))

    async def tell_directly(self, job: Job, text: Text) -> bool:
        return await self._courier.direct(job, Parcel(content=text))

    async def post(
        self, channel_id: int, guild_id: int | None, text: Text, *, language: str | None
    ) -> bool:
        guild = self._client.get_guild(guild_id) if guild_id is not None else None
        preferred = guild.preferred_locale.value if guild is not None else None
        code = for_server(language, preferred)
        return await self._courier.post(channel_id, guild_id, text, code)
