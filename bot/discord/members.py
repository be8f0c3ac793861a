"""The domain's `Members` over Discord: placeholders edited beside the jobs, sheets sent with
their card and buttons, words by the interaction, the channel or a direct message."""

from __future__ import annotations

from collections.abc import Callable

import discord

from bot.discord.delivery import Courier, Parcel, sheet_parcel
from bot.discord.placeholders import Placeholders
from bot.sheets.job import Job


class DiscordMembers:
    """Implements `bot.sheets.members.Members` with discord.py."""

    def __init__(
        self,
        courier: Courier,
        placeholders: Placeholders,
        buttons: Callable[[int], discord.ui.View],
    ) -> None:
        self._courier = courier
        self._placeholders = placeholders
        self._buttons = buttons

    def show(self, job: Job, text: str) -> None:
        self._placeholders.show(job, text)

    async def deliver(self, job: Job, image: bytes) -> str:
        await self._placeholders.stop(job.id)
        parcel = await sheet_parcel(job, image, self._buttons(job.id))
        return await self._courier.deliver(job, parcel)

    async def tell(self, job: Job, text: str) -> str:
        await self._placeholders.stop(job.id)
        return await self._courier.deliver(job, Parcel(content=text))

    async def tell_directly(self, job: Job, text: str) -> bool:
        return await self._courier.direct(job, Parcel(content=text))

    async def post(self, channel_id: int, guild_id: int | None, text: str) -> bool:
        return await self._courier.post(channel_id, guild_id, text)
