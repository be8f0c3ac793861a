"""Taking a member's request: cheap checks, acknowledgement, pose, then into the queue."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from dataclasses import dataclass

import aiohttp
import discord
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot import replies
from bot.delivery import Courier
from bot.imaging import PoseImage, PoseRejected, normalize_pose
from bot.jobs import JobQueue, Refused
from bot.metrics import Metrics
from bot.segmind import MAX_SEED
from bot.storage import QUEUED, JobRecord, Store

log = logging.getLogger(__name__)


# Discord gives 3 s; an acknowledgement later than this is close to failing.
LATE_ACK = 2.0
POSE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")


class Order(BaseModel):
    """What a member asked to be drawn, with the ranges the model accepts."""

    model_config = ConfigDict(frozen=True)

    prompt: str = Field(min_length=1, max_length=1000)
    negative_prompt: str | None = Field(default=None, max_length=1000)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    strength: float = Field(default=0.8, ge=0, le=1)
    steps: int = Field(default=20, ge=1, le=100)
    guidance: float = Field(default=7, ge=1, le=20)
    upscale: float = Field(default=2, ge=1, le=4)


def explain(error: ValidationError) -> str:
    """A refusal naming each option that is out of range."""
    parts = [f"`{err['loc'][0]}` {err['msg'].lower()}" for err in error.errors() if err["loc"]]
    return "Please fix: " + "; ".join(parts) + "."


@dataclass(frozen=True)
class IntakeRules:
    """The limits a request is checked against."""

    cooldown_seconds: float
    max_pose_bytes: int
    max_pose_pixels: int


class Intake:
    """Turns an interaction into a stored, queued job, or a clear private refusal."""

    def __init__(
        self,
        *,
        store: Store,
        queue: JobQueue,
        courier: Courier,
        http: aiohttp.ClientSession,
        rules: IntakeRules,
        metrics: Metrics,
        poses_at_once: int = max(1, (os.cpu_count() or 2) - 1),
    ) -> None:
        self._store = store
        self._queue = queue
        self._courier = courier
        self._http = http
        self._rules = rules
        self._metrics = metrics
        # Download and decode one pose per spare core: more only time-slice the CPU and
        # hold more photos in memory at once (measured in docs/performance.md).
        self._poses = asyncio.Semaphore(poses_at_once)
        self._showing: set[asyncio.Task[None]] = set()

    async def take(
        self,
        interaction: discord.Interaction,
        order: Order,
        attachment: discord.Attachment | None = None,
        *,
        pose: bytes | None = None,
        pose_note: str | None = None,
    ) -> None:
        """Check, acknowledge and queue one request. `pose` is a stored pose (re-rolls)."""
        refusal = self._cheap_refusal(interaction, attachment)
        cooling = self._rules.cooldown_seconds > 0
        if refusal is None and cooling:
            until = await self._store.claim_cooldown(
                interaction.user.id, self._rules.cooldown_seconds
            )
            refusal = replies.cooldown(until) if until is not None else None
        if refusal is not None:
            await interaction.response.send_message(
                refusal, ephemeral=True, allowed_mentions=replies.NOBODY
            )
            self._acknowledged(interaction)
            return
        await interaction.response.defer(thinking=True)
        self._acknowledged(interaction)
        try:
            if attachment is not None:
                normalized = await self._pose(attachment)
                pose, pose_note = normalized.jpeg, normalized.note
            await self._enqueue(interaction, order, pose, pose_note)
        except (PoseRejected, Refused) as exc:
            if cooling:
                await self._store.give_back_cooldown(interaction.user.id)
            reason = exc.reason if isinstance(exc, PoseRejected) else str(exc)
            await self._refuse_after_defer(interaction, reason)
        except Exception:
            if cooling:
                await self._store.give_back_cooldown(interaction.user.id)
            raise

    def _acknowledged(self, interaction: discord.Interaction) -> None:
        delay = time.time() - interaction.created_at.timestamp()
        if delay > LATE_ACK:
            self._metrics.late_acks.inc()
            log.warning("interaction acknowledged %.1fs after it was created", delay)

    def _cheap_refusal(
        self, interaction: discord.Interaction, attachment: discord.Attachment | None
    ) -> str | None:
        try:
            self._queue.check(interaction.user.id)
        except Refused as exc:
            return str(exc)
        if interaction.guild_id is not None and not _can_post(interaction.app_permissions):
            return replies.NO_DELIVERY
        if attachment is None:
            return None
        kind = (attachment.content_type or "").split(";")[0].strip().lower()
        if kind not in POSE_TYPES:
            return (
                f"The pose `{attachment.filename}` isn't a picture I can use "
                f"({kind or 'unknown type'}). Attach a PNG, JPEG, WebP or GIF image."
            )
        if attachment.size > self._rules.max_pose_bytes:
            return (
                f"The pose `{attachment.filename}` is {attachment.size / 2**20:.1f} MiB; "
                f"the limit is {self._rules.max_pose_bytes / 2**20:.0f} MiB. "
                "Attach a smaller image (a screenshot of the pose works well)."
            )
        return None

    async def _pose(self, attachment: discord.Attachment) -> PoseImage:
        async with self._poses:
            data = await self._download(attachment)
            return await asyncio.to_thread(
                normalize_pose, data, max_pixels=self._rules.max_pose_pixels
            )

    async def _download(self, attachment: discord.Attachment) -> bytes:
        limit = self._rules.max_pose_bytes
        try:
            async with self._http.get(
                attachment.url, timeout=aiohttp.ClientTimeout(total=30)
            ) as response:
                if response.status != 200:
                    raise PoseRejected("I couldn't download the pose from Discord. Try again.")
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > limit:
                        break
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("pose download failed: %s", type(exc).__name__)
            raise PoseRejected("I couldn't download the pose from Discord. Try again.") from exc
        if len(data) > limit:
            raise PoseRejected(
                f"The pose is larger than {limit / 2**20:.0f} MiB. Attach a smaller image."
            )
        return bytes(data)

    async def _enqueue(
        self,
        interaction: discord.Interaction,
        order: Order,
        pose: bytes | None,
        pose_note: str | None,
    ) -> None:
        params = order.model_dump()
        if params["seed"] is None:
            params["seed"] = secrets.randbelow(MAX_SEED + 1)
        params["upload_limit"] = interaction.filesize_limit
        params["custom_pose"] = pose is not None
        job = JobRecord(
            id=0,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or interaction.user.id,
            params=params,
            pose=pose,
            pose_note=pose_note,
            state=QUEUED,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
            placeholder_id=None,
            created_at=time.time(),
        )
        self._queue.check(job.user_id)
        # Stored means accepted: a crash or shutdown from here on keeps it for the next start.
        await self._store.add_job(job)
        job.pose = None  # kept in storage until the job starts
        ahead = self._queue.submit(job)
        log.info(
            "job %d queued: user=%d guild=%s ahead=%d pose=%s",
            job.id,
            job.user_id,
            job.guild_id,
            ahead,
            "custom" if pose else "default",
        )
        # Showing the place is a Discord round trip: off the job's path, but first in its line.
        lock = self._courier.holding(job)
        await lock.acquire()
        task = asyncio.create_task(self._show_place(interaction, job, lock))
        self._showing.add(task)
        task.add_done_callback(self._showing.discard)

    async def finish(self) -> None:
        """Let placeholders being shown finish (before a graceful exit)."""
        await asyncio.gather(*self._showing, return_exceptions=True)

    async def _show_place(
        self, interaction: discord.Interaction, job: JobRecord, lock: asyncio.Lock
    ) -> None:
        try:
            ahead = self._queue.ahead(job.id) or 0
            placeholder = await interaction.edit_original_response(
                content=replies.queued(ahead), allowed_mentions=replies.NOBODY
            )
            job.placeholder_id = placeholder.id
            await self._store.update_job(job.id, placeholder_id=placeholder.id)
            log.debug("job %d placeholder stored", job.id)
        except discord.HTTPException as exc:
            log.info("job %d: placeholder not shown (%s); it will be delivered anyway", job.id, exc)
        finally:
            lock.release()

    async def _refuse_after_defer(self, interaction: discord.Interaction, reason: str) -> None:
        # The public "thinking" message goes; the reason is told to the member alone.
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            log.info("could not remove a placeholder")
        await interaction.followup.send(reason, ephemeral=True, allowed_mentions=replies.NOBODY)


def _can_post(permissions: discord.Permissions) -> bool:
    return (
        permissions.view_channel
        and permissions.send_messages
        and permissions.attach_files
        and permissions.embed_links
    )
