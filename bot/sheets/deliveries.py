"""Paid means delivered: a drawn sheet gets one attempt at once, then is kept (stored, and in
memory while storage fails) and tried again on a schedule until a route reaches the member.

Before each attempt the sheet is classified and the server's safety policy applied: a flagged
sheet goes only to an age-restricted channel, as a spoiler, or is withheld (paid, never
posted; its member told privately, its moderators by a line in their safety log)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.ops.metrics import Metrics
from bot.sheets import texts
from bot.sheets.books import Books
from bot.sheets.job import Job, JobState
from bot.sheets.members import Members, Undelivered
from bot.sheets.records import Fenced, Records
from bot.sheets.safety import Judgement, Safety, SafetyMode, Verdict, sheet_verdict
from bot.sheets.servers import Servers, ServerSettings
from bot.sheets.writes import JobWrites

log = logging.getLogger(__name__)

# Longest wait between two delivery attempts of a drawn sheet.
MAX_DELIVERY_BACKOFF = 1800.0


@dataclass(frozen=True)
class DeliveryRules:
    """How soon a sheet no route reached is tried again, and for how long."""

    retry_seconds: float
    retry_hours: float


class Deliveries:
    """Delivers drawn sheets, and keeps those no route reached for a later attempt."""

    def __init__(
        self,
        *,
        store: Records,
        writes: JobWrites,
        members: Members,
        books: Books,
        metrics: Metrics,
        rules: DeliveryRules,
        servers: Servers,
        safety: Safety,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._servers = servers
        self._safety = safety
        self._store = store
        self._writes = writes
        self._members = members
        self._books = books
        self._metrics = metrics
        self._rules = rules
        self._delivering: set[int] = set()
        self._unstored: dict[int, tuple[Job, bytes]] = {}  # drawn, but not yet in storage
        self._clock = clock  # the retry schedule's time (a fake one in the in-process tests)
        self._booted = clock()

    def keep_unstored(self, job: Job, image: bytes) -> None:
        """A drawn sheet storage did not take: kept here until it is delivered."""
        self._unstored[job.id] = (job, image)

    async def deliver(self, job: Job, image: bytes) -> None:
        """One attempt to deliver a drawn sheet; kept for a later attempt if no route is open."""
        if job.id in self._delivering:
            return
        self._delivering.add(job.id)
        try:
            try:
                server = await self._servers.get(job.guild_id)
                verdict, judgement = await self._judge(job, image, server)
                if verdict is Verdict.WITHHOLD:
                    await self._withhold(job, server, judgement)
                    return
                route = await self._members.deliver(job, image, spoiler=verdict is Verdict.SPOILER)
            except Fenced:
                raise
            except ValueError as exc:  # it cannot be made to fit Discord's upload limit
                self._unstored.pop(job.id, None)
                await self._books.fail(job, exc)
                return
            except Undelivered:
                await self._postpone(job)
                return
            except Exception:
                log.exception("job %d: delivery failed unexpectedly", job.id)
                await self._postpone(job)
                return
            self._unstored.pop(job.id, None)
            via = f"{route} (spoiler)" if verdict is Verdict.SPOILER else route
            await self._books.finish(job, JobState.DONE, via=via)
        finally:
            self._delivering.discard(job.id)

    async def _judge(
        self, job: Job, image: bytes, server: ServerSettings
    ) -> tuple[Verdict, Judgement | None]:
        """The server's policy applied to this sheet (classified unless the mode is off)."""
        mode = self._safety.mode(server)
        if mode is SafetyMode.OFF:
            return Verdict.POST, None
        judgement = await self._safety.judge(image, "sheet")
        age_restricted = (
            judgement.flagged
            and mode is SafetyMode.AGE_RESTRICTED
            and await self._members.age_restricted(job)
        )
        verdict = sheet_verdict(mode, flagged=judgement.flagged, age_restricted=age_restricted)
        if judgement.flagged:
            self._books.log(job, "flagged", score=_score(judgement), verdict=verdict.value)
        return verdict, judgement

    async def _withhold(
        self, job: Job, server: ServerSettings, judgement: Judgement | None
    ) -> None:
        """Paid, never posted: the member is told privately (seed, Re-roll), moderators see a
        line in their safety log, the ledger says `withheld`."""
        assert job.outcome is not None
        blocked = self._safety.mode(server) is SafetyMode.BLOCK
        text = texts.withheld(job.outcome.seed, blocked=blocked, direct=job.guild_id is None)
        try:
            await self._members.tell_privately(job, text, reroll=True)
        except Undelivered:
            log.warning(
                "job %d: could not tell user %d the sheet was withheld", job.id, job.user_id
            )
        score = None if judgement is None else judgement.score
        self._unstored.pop(job.id, None)
        await self._books.finish(
            job, JobState.WITHHELD, error=f"withheld (score {_score(judgement)})", tell=False
        )
        await self._safety.report(server, job, texts.SHEET_WITHHELD, score)

    async def deliver_kept(self) -> None:
        """Deliver drawn sheets whose next attempt is due (after a restart: all of them)."""
        now = self._clock()
        due = {job.id: job for job in await self._store.jobs_in(JobState.DRAWN)}
        due.update({job.id: job for job, _ in self._unstored.values()})  # the newer
        for job in due.values():
            fresh = not job.delivery_attempts and (job.finished_at or 0) >= self._booted
            if fresh or job.id in self._delivering or (job.deliver_after or 0) > now:
                continue  # a fresh one is being delivered by its worker
            if job.id in self._unstored:
                image: bytes | None = self._unstored[job.id][1]
            elif self._writes.waiting(job.id):
                continue  # stored as drawn, but its end (delivered) waits to be written
            else:
                image = await self._store.sheet(job.id)
            if image is None:
                continue
            if not await self._store.hold(job.id):
                continue  # another process delivers it
            if not job.delivery_attempts:
                self._books.log(job, "delivering after restart")
            try:
                await self.deliver(job, image)
            except Fenced:
                log.warning("job %d: another process took it over; this one stops", job.id)
            finally:
                await self._store.release(job.id)

    async def _postpone(self, job: Job) -> None:
        drawn_at = job.finished_at or self._clock()
        if self._clock() - drawn_at > self._rules.retry_hours * 3600:
            log.error(
                "job %d: gave up delivering its sheet after %d attempt(s)",
                job.id,
                job.delivery_attempts + 1,
            )
            await self._members.tell_directly(job, texts.UNDELIVERED)
            self._unstored.pop(job.id, None)
            await self._books.finish(job, JobState.FAILED, error="undelivered", tell=False)
            return
        attempts = job.delivery_attempts + 1
        wait = min(self._rules.retry_seconds * 2 ** (attempts - 1), MAX_DELIVERY_BACKOFF)
        job = dataclasses.replace(
            job, delivery_attempts=attempts, deliver_after=self._clock() + wait
        )
        if job.id in self._unstored:
            self._unstored[job.id] = (job, self._unstored[job.id][1])
        await self._writes.save(job.id, delivery_attempts=attempts, deliver_after=job.deliver_after)
        self._metrics.deliveries_postponed.inc()
        log.warning(
            "job %d: no route reached user %d; the sheet is kept, next attempt in %.0fs",
            job.id,
            job.user_id,
            wait,
        )


def _score(judgement: Judgement | None) -> str:
    if judgement is None or judgement.score is None:
        return "unreadable"
    return f"{judgement.score:.3f}"
