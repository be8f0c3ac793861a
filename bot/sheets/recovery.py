"""What a previous run, or another process that stopped, left behind: jobs cut off before
Segmind gave a request id are reported (never sent again: Segmind may have billed them),
submitted ones are followed up by their request id, queued ones go back in line."""

from __future__ import annotations

import time

from bot.sheets.books import Books
from bot.sheets.job import JobState
from bot.sheets.jobs import Jobs
from bot.sheets.line import Line
from bot.sheets.records import Records


class Recovery:
    """Settles leftovers at start-up (one process) or orphans as they appear (several)."""

    def __init__(self, *, store: Records, line: Line, jobs: Jobs, books: Books) -> None:
        self._store = store
        self._line = line
        self._jobs = jobs
        self._books = books
        self._booted = time.time()

    async def settle_leftovers(self) -> None:
        """Report jobs cut off before or while sending; follow up submitted ones; put queued
        ones back in line. Drawn ones are delivered by the kept-sheets loop."""
        for job in await self._store.jobs_in(JobState.ACCEPTED, JobState.SENDING):
            began = job.started_at if job.state is JobState.SENDING else job.created_at
            if (began or 0) < self._booted:  # not one this run is working on
                # Never sent again: Segmind may have billed it already.
                await self._books.finish(job, JobState.INTERRUPTED)
        for job in await self._store.jobs_in(JobState.SUBMITTED):
            if (job.submitted_at or 0) < self._booted:  # Segmind has it: follow it up first
                await self._line.add(job, first=True)
        for job in await self._store.jobs_in(JobState.QUEUED):
            await self._jobs.resume(job)

    async def settle_orphans(self) -> None:
        """With several processes: report jobs no live process holds any more. Accepted ones
        whose process stopped before queueing them; sending ones whose worker lost track (a
        claim whose answer Redis dropped). The rest come back through the shared line."""
        for job in await self._store.jobs_in(JobState.ACCEPTED, JobState.SENDING):
            if self._jobs.owns(job.id):  # being fetched, worked on, or its end not yet stored
                continue
            # Held only if still in that state: it may have moved on since the listing.
            if await self._store.hold(job.id, only_in=job.state):
                await self._books.finish(job, JobState.INTERRUPTED)  # never sent again
