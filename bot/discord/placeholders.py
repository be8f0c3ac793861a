"""What a waiting member's placeholder says ("Queued — 2 ahead", "Drawing…"), kept beside the job:
showing a text never waits for Discord, and only the latest text of a job is ever sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.discord.delivery import Courier
from bot.sheets.job import Job
from bot.sheets.locales import Text

log = logging.getLogger(__name__)

# How many placeholder edits may be on their way to Discord at once.
EDITS_AT_ONCE = 8


class Placeholders:
    """Cosmetic edits of placeholders, one at a time per job, superseded by newer ones."""

    def __init__(self, courier: Courier) -> None:
        self._courier = courier
        self._wanted: dict[int, tuple[Job, Text]] = {}
        self._pushing: dict[int, asyncio.Task[None]] = {}
        self._edits = asyncio.Semaphore(EDITS_AT_ONCE)

    def show(self, job: Job, text: Text) -> None:
        """Make the placeholder say `text` soon; returns at once."""
        self._wanted[job.id] = (job, text)
        if job.id not in self._pushing:
            self._pushing[job.id] = asyncio.create_task(self._push(job.id))

    async def stop(self, job_id: int) -> None:
        """Drop what was not yet shown and stop an edit on its way (before the final message)."""
        self._wanted.pop(job_id, None)
        task = self._pushing.get(job_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        """Let the edits on their way finish (before a graceful exit)."""
        await asyncio.gather(*self._pushing.values(), return_exceptions=True)

    async def _push(self, job_id: int) -> None:
        try:
            while (wanted := self._wanted.pop(job_id, None)) is not None:
                job, text = wanted
                async with self._edits:
                    await self._courier.edit_placeholder(job, text)
        except Exception:
            log.exception("job %d: placeholder edit failed", job_id)
        finally:
            self._pushing.pop(job_id, None)
