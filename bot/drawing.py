"""Drawing one job: mark it sending, ask Segmind, keep the result, deliver it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import discord

from bot import replies
from bot.delivery import Courier, Parcel
from bot.imaging import default_pose, fit_to_limit
from bot.jobs import JobQueue
from bot.metrics import Metrics
from bot.segmind import AuthError, CharacterRequest, SegmindClient, SegmindError, Sheet
from bot.storage import DONE, DRAWN, FAILED, INTERRUPTED, QUEUED, SENDING, JobRecord, Store

log = logging.getLogger(__name__)


class Artist:
    """Runs jobs handed out by the queue, and settles jobs left over from a previous run."""

    def __init__(
        self,
        *,
        store: Store,
        segmind: SegmindClient,
        courier: Courier,
        buttons: Callable[[int], discord.ui.View],
        metrics: Metrics,
        log_prompts: bool = False,
    ) -> None:
        self._store = store
        self._segmind = segmind
        self._courier = courier
        self._buttons = buttons
        self._metrics = metrics
        self._log_prompts = log_prompts

    async def draw(self, job: JobRecord) -> None:
        """Draw and deliver one job. "sending" is stored before the request goes out."""
        started = time.time()
        await self._store.update_job(job.id, state=SENDING, started_at=started)
        self._log(job, SENDING, wait=f"{started - job.created_at:.1f}s")
        await self._courier.update(job, replies.drawing(started))
        try:
            # The pose waits in storage, not in memory, while the job is queued.
            pose = await self._store.pose(job.id) if job.params.get("custom_pose") else None
            if pose is None:  # decoded once, in a thread, then cached
                pose = (await asyncio.to_thread(default_pose)).jpeg
            sheet = await self._segmind.generate(self._request(job, pose))
        except Exception as exc:
            await self._fail(job, exc)
            return
        finally:
            self._metrics.segmind_seconds.observe(time.time() - started)
        await self._keep(job, sheet, time.time() - started)
        await self._deliver_or_fail(job)

    async def _deliver_or_fail(self, job: JobRecord) -> None:
        try:
            await self._deliver(job)
        except Exception as exc:
            await self._fail(job, exc)

    async def _keep(self, job: JobRecord, sheet: Sheet, seconds: float) -> None:
        # The sheet is paid for: store it before delivering, so a crash cannot lose it.
        job.result = sheet.image
        job.outcome = {
            "seed": sheet.seed,
            "credits_left": sheet.credits_left,
            "seconds": seconds,
            "content_type": sheet.content_type,
            "cost": sheet.cost,
        }
        await self._store.update_job(
            job.id,
            state=DRAWN,
            result=job.result,
            outcome=job.outcome,
            finished_at=time.time(),
            cost=sheet.cost,
            credits_left=sheet.credits_left,
        )
        self._log(job, DRAWN, segmind=f"{seconds:.1f}s", credits_left=sheet.credits_left)
        if sheet.credits_left is not None:
            self._metrics.credits_left.set(sheet.credits_left)
            await self._store.set_fact(
                "last_credits", {"credits": sheet.credits_left, "at": time.time()}
            )

    def _request(self, job: JobRecord, pose: bytes) -> CharacterRequest:
        p = job.params
        optional = {"negative_prompt": p["negative_prompt"]} if p.get("negative_prompt") else {}
        return CharacterRequest.for_pose(
            pose,
            prompt=p["prompt"],
            seed=p["seed"],
            strength=p["strength"],
            num_inference_steps=p["steps"],
            guidance_scale=p["guidance"],
            upscale_by=p["upscale"],
            **optional,
        )

    async def _deliver(self, job: JobRecord) -> None:
        assert job.result is not None and job.outcome is not None
        outcome = job.outcome
        limit = int(job.params.get("upload_limit") or 10 * 2**20)
        fitted = await asyncio.to_thread(fit_to_limit, job.result, outcome["content_type"], limit)
        notes = [job.pose_note] if job.pose_note else []
        if not job.params.get("custom_pose"):
            notes.append("Drawn on the default pose sheet; attach `pose` to use your own.")
        if fitted.scaled:
            notes.append("The sheet was re-encoded to fit Discord's upload limit.")
        embed = replies.sheet_embed(
            prompt=job.params["prompt"],
            seed=outcome["seed"],
            strength=job.params["strength"],
            credits_left=outcome["credits_left"],
            seconds=outcome["seconds"],
            requester_id=job.user_id,
            filename=fitted.filename,
            notes=notes,
        )
        parcel = Parcel(
            content="",
            embed=embed,
            image=fitted.data,
            filename=fitted.filename,
            view=self._buttons(job.id),
        )
        route = await self._courier.deliver(job, parcel)
        await self._store.update_job(job.id, state=DONE, result=None, interaction_token=None)
        self._metrics.jobs.labels(outcome="done").inc()
        self._log(job, DONE, bytes=len(fitted.data), via=route)

    async def _fail(self, job: JobRecord, error: Exception) -> None:
        if isinstance(error, AuthError):
            log.error("Segmind refused the API key: check SEGMIND_API_KEY (job %d)", job.id)
        elif not isinstance(error, SegmindError):
            log.error("job %d failed unexpectedly", job.id, exc_info=error)
        await self._store.update_job(
            job.id,
            state=FAILED,
            finished_at=time.time(),
            error=type(error).__name__,
            interaction_token=None,
        )
        await self._store.give_back_cooldown(job.user_id)
        self._metrics.jobs.labels(outcome="failed").inc()
        self._log(job, FAILED, error=f"{type(error).__name__}: {error}")
        await self._courier.deliver(job, Parcel(content=replies.failure(error)))

    async def settle_leftovers(self, queue: JobQueue) -> None:
        """After a start: report jobs cut off mid-request, deliver drawn ones, re-queue the rest."""
        for job in await self._store.jobs_in([SENDING]):
            await self._settle(self._interrupted(job), job)
        for job in await self._store.jobs_in([DRAWN]):
            self._log(job, "delivering after restart")
            await self._settle(self._deliver_or_fail(job), job)
        for job in await self._store.jobs_in([QUEUED]):
            job.pose = None  # read again when the job starts
            ahead = queue.submit(job)
            self._log(job, "resumed", ahead=ahead)
            await self._settle(self._courier.update(job, replies.queued(ahead)), job)

    async def _interrupted(self, job: JobRecord) -> None:
        # Never sent again: Segmind may have billed it already.
        await self._store.update_job(
            job.id, state=INTERRUPTED, finished_at=time.time(), interaction_token=None
        )
        await self._store.give_back_cooldown(job.user_id)
        self._metrics.jobs.labels(outcome="interrupted").inc()
        self._log(job, INTERRUPTED)
        await self._courier.deliver(job, Parcel(content=replies.INTERRUPTED))

    @staticmethod
    async def _settle(step: Awaitable[object], job: JobRecord) -> None:
        # One leftover that cannot be settled must not keep the queue from starting.
        try:
            await step
        except Exception:
            log.exception("job %d could not be settled after the restart", job.id)

    def _log(self, job: JobRecord, state: str, **facts: object) -> None:
        details = " ".join(f"{key}={value}" for key, value in facts.items())
        prompt = f" prompt={job.params['prompt']!r}" if self._log_prompts else ""
        log.info(
            "job %d %s: user=%d guild=%s %s%s",
            job.id,
            state,
            job.user_id,
            job.guild_id,
            details,
            prompt,
        )
