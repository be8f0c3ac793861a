"""Taking a member's request: cheap checks, admission, acknowledgement, pose, then the line.

Every refusal is raised as `Refused` and told privately by the command's or button's error
handler; a request refused after it was admitted gives its cooldown back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from dataclasses import dataclass

import aiohttp
import discord

from bot.discord.channels import is_age_restricted
from bot.discord.languages import member_code, server_code
from bot.ops.metrics import Metrics
from bot.segmind import MAX_SEED
from bot.sheets import lookalikes, texts
from bot.sheets.imaging import PoseImage, normalize_pose
from bot.sheets.job import Job, NewJob
from bot.sheets.jobs import Jobs
from bot.sheets.locales import ready
from bot.sheets.request import SheetRequest
from bot.sheets.rules import Refused
from bot.sheets.safety import Judgement, Safety, SafetyMode, pose_allowed
from bot.sheets.servers import Servers, ServerSettings
from bot.sheets.words import find_blocked

log = logging.getLogger(__name__)

# Discord gives 3 s; an acknowledgement later than this is close to failing.
LATE_ACK = 2.0
# A pose download still running after this many seconds finishes outside its CPU slot.
SLOW_DOWNLOAD = 1.0
# How long admission may take before the request is acknowledged anyway (a burst of hundreds
# can queue admissions; a refusal after that is still private, after a brief "thinking").
ADMIT_WITHIN = 0.02
# How long a request waits for storage before the member is told it is not answering: for the
# server's settings, read before the acknowledgement (Discord's 3 s window holds whatever
# storage does); for admission (Redis), once acknowledged, before Redis's own 5 s read timeout
# would end it as a failure. SQLite's 5 s busy timeout bounds its admissions by itself.
SETTINGS_WAIT = 1.5
ADMISSION_WAIT = 4.0
POSE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")
DEFAULT_UPLOAD_LIMIT = 10 * 2**20


@dataclass(frozen=True)
class IntakeRules:
    """Where requests are taken, and what a pose attachment is checked against."""

    allow_dms: bool
    max_bytes: int
    max_pixels: int
    download_seconds: float


@dataclass(frozen=True)
class PoseSource:
    """Where a pose picture is fetched from (an attachment, or an embed's image through
    Discord's media proxy), with its type and size when Discord gave them."""

    url: str
    filename: str
    content_type: str | None
    size: int | None
    # An embed's image may come without a type: its bytes alone decide (and only a picture
    # decodes as a pose); an attachment always has one, and a wrong one is refused unread.
    judged_by_bytes: bool = False

    @classmethod
    def of(cls, attachment: discord.Attachment) -> PoseSource:
        return cls(attachment.url, attachment.filename, attachment.content_type, attachment.size)


@dataclass(frozen=True)
class StoredPose:
    """A pose kept from an earlier sheet (re-rolls)."""

    jpeg: bytes
    note: str | None


class Intake:
    """Turns an interaction into an admitted, queued job, or raises `Refused`."""

    def __init__(
        self,
        *,
        jobs: Jobs,
        servers: Servers,
        http: aiohttp.ClientSession,
        rules: IntakeRules,
        metrics: Metrics,
        safety: Safety,
        admission_wait: float | None = None,
        poses_at_once: int = max(1, (os.cpu_count() or 2) - 1),
    ) -> None:
        self._jobs = jobs
        self._servers = servers
        self._http = http
        self._rules = rules
        self._metrics = metrics
        self._safety = safety
        # One pose per spare core: more only time-slice the CPU and hold more photos in memory
        # at once (measured in docs/performance.md).
        self._poses = asyncio.Semaphore(poses_at_once)
        self._abandoned: set[asyncio.Task[None]] = set()
        self._admission_wait = admission_wait

    async def receive(
        self,
        interaction: discord.Interaction,
        request: SheetRequest,
        attachment: discord.Attachment | PoseSource | None = None,
        *,
        kept_pose: StoredPose | None = None,
    ) -> None:
        """Check, admit, acknowledge and queue one request."""
        if isinstance(attachment, discord.Attachment):
            attachment = PoseSource.of(attachment)
        self._check_where(interaction)
        try:
            server = await asyncio.wait_for(self._servers.get(interaction.guild_id), SETTINGS_WAIT)
        except TimeoutError:
            log.warning("storage did not answer in %.1fs: a request turned away", SETTINGS_WAIT)
            raise Refused(texts.STORAGE_NOT_ANSWERING) from None
        answer, deferred = None, False
        if server.refused_words and not lookalikes.ready():
            # The word filter's look-alike table is built once, in a thread: about 0.1 s of
            # CPU, but seconds on a loaded machine, so Discord's 3 s window never waits for it.
            answer, deferred = await self._defer(interaction), True
            await lookalikes.prepare()
        _check_server_rules(interaction, request, server)
        if attachment is not None:
            self._check_attachment(attachment)
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        new = NewJob(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or interaction.user.id,
            request=request.with_seed(seed),
            custom_pose=attachment is not None or kept_pose is not None,
            upload_limit=interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT,
            interaction_token=interaction.token,
            token_expires_at=interaction.expires_at.timestamp(),
            language=member_code(interaction, server.language),
            server_language=server_code(interaction, server.language),
        )
        admission = asyncio.ensure_future(self._jobs.accept(new, server))
        # Admission is quick, but storage can stall (a backup holding the database): Discord's
        # 3 s window must hold whatever storage does, so acknowledge first if it is slow.
        slow = not (await asyncio.wait({admission}, timeout=ADMIT_WITHIN))[0]
        if slow and not deferred:
            try:
                answer, deferred = await self._defer(interaction), True
            except BaseException:
                await self._withdraw(admission)
                raise
        wait = self._admission_wait
        if wait is not None and not (await asyncio.wait({admission}, timeout=wait))[0]:
            log.warning("admission took over %.1fs: a request turned away", wait)
            self._abandon(admission)
            raise Refused(texts.STORAGE_NOT_ANSWERING)
        job = await admission
        try:
            if not deferred:
                answer = await self._defer(interaction)
            await ready(job.language)  # read once per language, after the acknowledgement
            # Every pose is classified before anything is paid for (unless the mode is off).
            classify = self._safety.mode(server) is not SafetyMode.OFF
            pose, judgement = kept_pose, None
            if attachment is not None:
                fresh, judgement = await self._pose(attachment, classify=classify)
                pose = StoredPose(fresh.jpeg, fresh.note)
            elif kept_pose is not None and classify:
                async with self._poses:
                    judgement = await self._safety.judge(kept_pose.jpeg, "pose")
            if judgement is not None and judgement.flagged:
                await self._check_flagged_pose(interaction, job, server, judgement)
        except BaseException:
            await self._jobs.withdraw(job)
            raise
        await self._jobs.queue(
            job,
            answer.message_id if answer else None,
            pose.jpeg if pose else None,
            pose.note if pose else None,
        )

    async def _check_flagged_pose(
        self,
        interaction: discord.Interaction,
        job: Job,
        server: ServerSettings,
        judgement: Judgement,
    ) -> None:
        """Refuse a pose the content filter flagged, unless the server's policy allows it here
        (an age-restricted channel); its moderators get a line in their safety log."""
        mode = self._safety.mode(server)
        age_restricted = (
            mode is SafetyMode.AGE_RESTRICTED
            and interaction.guild_id is not None
            and await is_age_restricted(
                interaction.client, job.channel_id, known=interaction.channel
            )
        )
        score = "unreadable" if judgement.score is None else f"{judgement.score:.3f}"
        if pose_allowed(mode, flagged=True, age_restricted=age_restricted):
            log.info(
                "job %d: pose flagged (score %s), allowed in an age-restricted channel",
                job.id,
                score,
            )
            return
        log.info("job %d: pose flagged (score %s) and refused", job.id, score)
        await self._safety.report(server, job, texts.POSE_REFUSED, judgement.score)
        raise Refused(texts.pose_flagged(blocked=mode is SafetyMode.BLOCK))

    async def _defer(
        self, interaction: discord.Interaction
    ) -> discord.InteractionCallbackResponse[discord.Client] | None:
        answer = await interaction.response.defer(thinking=True)
        delay = time.time() - interaction.created_at.timestamp()
        if delay > LATE_ACK:
            self._metrics.late_acks.inc()
            log.warning("interaction acknowledged %.1fs after it was created", delay)
        return answer

    async def _withdraw(self, admission: asyncio.Future[Job]) -> None:
        # The member can no longer be answered: an admitted request would wait for nobody.
        try:
            job = await admission
        except Refused:
            return
        await self._jobs.withdraw(job)

    def _abandon(self, admission: asyncio.Future[Job]) -> None:
        # The member was told storage is not answering: a job admitted later is withdrawn
        # (refused, its cooldown given back), so nothing is charged and none is left behind.

        async def withdraw() -> None:
            try:
                await self._withdraw(admission)
            except Exception as exc:
                log.warning("a request turned away could not be withdrawn (%s)", exc)

        task = asyncio.create_task(withdraw())
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    def precheck(self, interaction: discord.Interaction, source: PoseSource) -> None:
        """The checks a pose can meet before the member is asked for anything more."""
        self._check_where(interaction)
        self._check_attachment(source)

    def _check_where(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            if not self._rules.allow_dms:  # else DMs would escape every server's rules
                raise Refused(texts.DMS_OFF)
            return
        permissions = interaction.app_permissions
        if not (
            permissions.view_channel
            and permissions.send_messages
            and permissions.attach_files
            and permissions.embed_links
        ):
            raise Refused(texts.NO_DELIVERY)

    def _check_attachment(self, attachment: PoseSource) -> None:
        kind = (attachment.content_type or "").split(";")[0].strip().lower()
        if kind not in POSE_TYPES and not (attachment.judged_by_bytes and not kind):
            raise Refused(texts.pose_not_a_picture(attachment.filename, kind))
        if attachment.size is not None and attachment.size > self._rules.max_bytes:
            raise Refused(
                texts.pose_too_large(attachment.filename, attachment.size, self._rules.max_bytes)
            )

    async def _pose(
        self, attachment: PoseSource, *, classify: bool
    ) -> tuple[PoseImage, Judgement | None]:
        # A pose is downloaded, decoded and classified in one of the slots (one per spare core),
        # so at most that many photos are in memory at once and a burst's poses keep to their
        # cores. A download still running after SLOW_DOWNLOAD gives its slot up and finishes
        # outside it: one slow upload holds back nobody else.
        async with self._poses:
            download = asyncio.ensure_future(self._download(attachment))
            try:
                await asyncio.wait_for(asyncio.shield(download), SLOW_DOWNLOAD)
            except TimeoutError:
                pass
            except BaseException:
                download.cancel()
                raise
            if download.done():
                return await self._decode(download.result(), classify)
        try:
            data = await download
        finally:
            download.cancel()  # if this request was cancelled meanwhile
        async with self._poses:
            return await self._decode(data, classify)

    async def _decode(self, data: bytes, classify: bool) -> tuple[PoseImage, Judgement | None]:
        # A pose that cannot be used raises `PoseRejected`, a refusal worded for the member.
        pose = await asyncio.to_thread(normalize_pose, data, max_pixels=self._rules.max_pixels)
        return pose, (await self._safety.judge(pose.jpeg, "pose") if classify else None)

    async def _download(self, attachment: PoseSource) -> bytes:
        limit = self._rules.max_bytes
        try:
            async with self._http.get(
                attachment.url, timeout=aiohttp.ClientTimeout(total=self._rules.download_seconds)
            ) as response:
                if response.status != 200:
                    raise Refused(texts.POSE_DOWNLOAD_FAILED)
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > limit:
                        raise Refused(texts.pose_too_large(attachment.filename, len(data), limit))
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("pose download failed: %s", type(exc).__name__)
            raise Refused(texts.POSE_DOWNLOAD_FAILED) from exc
        return bytes(data)


def _check_server_rules(
    interaction: discord.Interaction, request: SheetRequest, server: ServerSettings
) -> None:
    """The server's own rules: where sheets are drawn, which words prompts may not hold."""
    if server.channels:
        channel = interaction.channel
        parent = getattr(channel, "parent_id", None)  # a thread counts as its channel
        if interaction.channel_id not in server.channels and parent not in server.channels:
            raise Refused(texts.wrong_channel(server.channels))
    if server.refused_words and (word := find_blocked(request.prompt, server.refused_words)):
        raise Refused(texts.blocked_word(word))
