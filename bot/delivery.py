"""Getting words and sheets to the member: through the interaction while its token lives,
else in the channel with a mention, else by direct message."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot import replies
from bot.storage import JobRecord

log = logging.getLogger(__name__)

# Deliver through the interaction only while its token has this much life left.
TOKEN_MARGIN = 60.0


@dataclass(frozen=True)
class Parcel:
    """What to send: a message, optionally with the sheet and its buttons."""

    content: str
    embed: discord.Embed | None = None
    image: bytes | None = None
    filename: str = "character-sheet.jpg"
    view: discord.ui.View | None = None

    def file(self) -> discord.File | None:
        # A fresh File for each attempt: a sent File's stream is spent.
        return None if self.image is None else discord.File(io.BytesIO(self.image), self.filename)


class Courier:
    """Sends updates and results for stored jobs, even after a restart.

    Everything said about one job goes out in order (one lock per job), so a slow "Queued"
    edit can never land on top of "Drawing…" or the finished sheet.
    """

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._locks: dict[int, asyncio.Lock] = {}

    def holding(self, job: JobRecord) -> asyncio.Lock:
        """The lock that orders everything said about this job."""
        return self._locks.setdefault(job.id, asyncio.Lock())

    def _webhook(self, job: JobRecord) -> discord.Webhook | None:
        if not job.interaction_token or job.token_expires_at is None:
            return None
        if job.token_expires_at - time.time() < TOKEN_MARGIN:
            return None
        app_id = self._client.application_id
        assert app_id is not None
        return discord.Webhook.partial(app_id, job.interaction_token, client=self._client)

    async def update(
        self, job: JobRecord, content: str, *, still: Callable[[], bool] | None = None
    ) -> None:
        """Change the member's placeholder text, if it can still be edited and `still()` holds."""
        async with self.holding(job):
            webhook = self._webhook(job)
            if webhook is None or job.placeholder_id is None or (still and not still()):
                return
            try:
                await webhook.edit_message(
                    job.placeholder_id, content=content, allowed_mentions=replies.NOBODY
                )
            except discord.HTTPException as exc:
                log.info("job %d: placeholder not updated (%s)", job.id, exc.status)

    async def deliver(self, job: JobRecord, parcel: Parcel) -> str:
        """Send the parcel by the best route still open; return the route's name."""
        async with self.holding(job):
            route = await self._deliver(job, parcel)
        self._locks.pop(job.id, None)
        return route

    async def _deliver(self, job: JobRecord, parcel: Parcel) -> str:
        if await self._by_interaction(job, parcel):
            return "interaction"
        mention = f"<@{job.user_id}> {parcel.content}".strip()
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        if await self._send(job, channel, mention, parcel, "channel"):
            return "channel"
        try:
            user = await self._client.fetch_user(job.user_id)
            dm = await user.create_dm()
        except discord.HTTPException as exc:
            log.warning("job %d: no DM channel (%s)", job.id, exc.status)
        else:
            if await self._send(job, dm, parcel.content, parcel, "DM"):
                return "dm"
        log.error("job %d: could not reach user %d by any route", job.id, job.user_id)
        return "nowhere"

    async def _by_interaction(self, job: JobRecord, parcel: Parcel) -> bool:
        webhook = self._webhook(job)
        if webhook is None or job.placeholder_id is None:
            return False
        file = parcel.file()
        try:
            await webhook.edit_message(
                job.placeholder_id,
                content=parcel.content or None,
                embed=parcel.embed,
                attachments=[file] if file else [],
                view=parcel.view,
                allowed_mentions=replies.NOBODY,
            )
        except discord.HTTPException as exc:
            log.info("job %d: interaction delivery failed (%s); trying the channel", job.id, exc)
            return False
        return True

    async def _send(
        self,
        job: JobRecord,
        target: discord.abc.Messageable,
        content: str,
        parcel: Parcel,
        route: str,
    ) -> bool:
        file = parcel.file()
        try:
            await target.send(
                content=content or None,
                embed=parcel.embed,  # type: ignore[arg-type]
                file=file,  # type: ignore[arg-type]
                view=parcel.view,  # type: ignore[arg-type]
                allowed_mentions=replies.only(job.user_id),
            )
        except discord.HTTPException as exc:
            log.info("job %d: %s delivery failed (%s)", job.id, route, exc.status)
            return False
        return True
