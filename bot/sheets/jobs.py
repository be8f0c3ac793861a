"""A job's whole life, owned here: accepted → queued → sending → drawn → done (or failed,
interrupted, refused). `Jobs` is the only writer of a job's state.

Exactly once: a job is claimed by id in storage (queued → sending, one statement) before its
request goes to Segmind, so however often it is put in line (a restart, a retried recovery),
it is sent once. A job that was sending when the bot died is never sent again (Segmind may have
billed it). Paid means delivered: a drawn sheet is delivered from memory even when storage
fails, and kept (stored, retried on a schedule) while no route reaches the member.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import discord

from bot.discord import replies
from bot.discord.delivery import Courier, Parcel, Undelivered, sheet_parcel
from bot.discord.placeholders import Placeholders
from bot.discord.replies import Refused
from bot.ops.background import Background
from bot.ops.metrics import Metrics
from bot.segmind import (
    AuthError,
    Progress,
    RequestExpired,
    RequestStatus,
    SegmindClient,
    SegmindError,
    Sheet,
    Submission,
)
from bot.sheets.alerts import Alerts
from bot.sheets.imaging import default_pose
from bot.sheets.job import Job, JobState, LedgerEntry, NewJob, Outcome
from bot.sheets.line import Line
from bot.sheets.records import Records
from bot.sheets.rules import (
    BudgetSpent,
    CoolingDown,
    DailyLimitReached,
    Limits,
    QueueFull,
    TooManyOfYours,
)
from bot.sheets.servers import Servers
from bot.sheets.writes import JobWrites

log = logging.getLogger(__name__)

# How often waiting members are told their new place, at most.
ANNOUNCE_EVERY = 2.0
# Longest wait between two delivery attempts of a drawn sheet.
MAX_DELIVERY_BACKOFF = 1800.0
# Writes that fail (disk full, database locked) are tried again this often.
UNSAVED_RETRY = 5.0
# Segmind keeps an async request's result this long after it was submitted.
RESULT_RETENTION = 3600.0


@dataclass(frozen=True)
class JobRules:
    """How many jobs run, how many wait, and how long a drawn sheet is retried."""

    limits: Limits
    concurrency: int
    requests_per_minute: int
    sheet_cost: float
    delivery_retry_seconds: float
    delivery_retry_hours: float
    log_prompts: bool = False
    # Several processes share the jobs (Redis): a job nobody renewed for this long is orphaned.
    lease_seconds: float | None = None


class Jobs:
    """Admits, queues, draws, keeps and delivers jobs; settles what a previous run left."""

    def __init__(
        self,
        *,
        store: Records,
        line: Line,
        segmind: SegmindClient,
        courier: Courier,
        placeholders: Placeholders,
        servers: Servers,
        alerts: Alerts,
        background: Background,
        buttons: Callable[[int], discord.ui.View],
        metrics: Metrics,
        rules: JobRules,
    ) -> None:
        self._store = store
        self._segmind = segmind
        self._courier = courier
        self._placeholders = placeholders
        self._servers = servers
        self._alerts = alerts
        self._background = background
        self._buttons = buttons
        self._metrics = metrics
        self._rules = rules
        self._line = line
        self._told: dict[int, int] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._delivering: set[int] = set()
        self._writes = JobWrites(store)
        self._unstored_sheets: dict[int, tuple[Job, bytes]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._booted = time.time()
        self._expected_cost: float | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._accepted: set[int] = set()  # accepted here, not yet queued or refused
        self._working: set[int] = set()  # taken by this process's workers
        self._unsaved_ends: dict[int, Job] = {}  # worked on, their end still to be stored
        self.accepting = True

    @property
    def waiting(self) -> int:
        """How many jobs wait for a worker."""
        return self._line.waiting

    # Taking a request ----------------------------------------------------------------------

    async def accept(self, new: NewJob) -> Job:
        """Admit a request (cooldown and limits in one step) or raise `Refused`."""
        if not self.accepting:
            raise Refused(replies.RESTARTING)
        try:
            job = await self._store.admit(new, await self._limits(new.guild_id))
        except DailyLimitReached as no:
            raise Refused(replies.daily_limit(no.count, no.limit, no.until)) from None
        except BudgetSpent as no:
            raise Refused(replies.budget_spent(no.spent, no.budget, no.until)) from None
        except CoolingDown as no:
            raise Refused(replies.cooldown(no.until)) from None
        except QueueFull as no:
            raise Refused(replies.queue_full(no.limit)) from None
        except TooManyOfYours as no:
            raise Refused(replies.too_many_of_yours(no.count)) from None
        self._accepted.add(job.id)
        self._log(job, "accepted")
        return job

    async def _limits(self, guild_id: int | None) -> Limits:
        server = await self._servers.get(guild_id)
        base = self._rules.limits
        return dataclasses.replace(
            base,
            cooldown_seconds=(
                base.cooldown_seconds
                if server.cooldown_seconds is None
                else server.cooldown_seconds
            ),
            daily_limit=server.daily_limit,
            budget=server.budget,
            expected_cost=self._expected_cost or self._rules.sheet_cost,
        )

    async def queue(
        self, job: Job, placeholder_id: int | None, pose: bytes | None, pose_note: str | None
    ) -> None:
        """Put an accepted job in line, with its pose (None: the default pose sheet)."""
        job = dataclasses.replace(job, placeholder_id=placeholder_id, pose_note=pose_note)
        await self._store.move(
            job.id,
            JobState.ACCEPTED,
            state=JobState.QUEUED,
            placeholder_id=placeholder_id,
            pose=pose,
            pose_note=pose_note,
        )
        self._accepted.discard(job.id)
        await self._store.release(job.id)  # any worker, of any process, may take it now
        await self._enter_line(dataclasses.replace(job, state=JobState.QUEUED), "queued")

    async def refuse(self, job: Job) -> None:
        """An accepted job was refused before it was queued (its member is told by the caller)."""
        self._accepted.discard(job.id)
        await self._finish(job, JobState.REFUSED, error="refused after acceptance")

    async def _enter_line(self, job: Job, how: str) -> None:
        ahead = await self._line.add(job)
        if ahead is None:
            return  # a worker has it already
        self._told[job.id] = ahead
        self._log(job, how, ahead=ahead, pose="custom" if job.custom_pose else "default")
        self._placeholders.show(job, replies.queued(ahead))

    # Running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the background work; settle what a previous run left."""
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._rules.concurrency)]
        if self._rules.lease_seconds is None:
            self._background.once("settle leftovers", self._settle_leftovers)
        else:  # other processes go on: only what nobody renewed is left over
            every = self._rules.lease_seconds / 2
            self._background.every(every, "settle orphaned jobs", self._settle_orphans)
        if self._line.renew_every is not None:
            self._background.every(self._line.renew_every, "renew leases", self._line.renew)
        self._background.every(ANNOUNCE_EVERY, "announce places", self._announce_places)
        retry = min(self._rules.delivery_retry_seconds, 60.0)
        self._background.every(retry, "deliver kept sheets", self._deliver_kept)
        self._background.every(UNSAVED_RETRY, "save what failed to save", self._save_unsaved)

    async def stop(self, grace: float) -> int:
        """Take no more jobs; let running ones finish within `grace` seconds.

        Queued jobs stay stored for the next start. Returns how many running jobs were cut.
        """
        self.accepting = False
        self._line.close()
        if self._running:
            log.info("waiting up to %.0fs for %d running job(s)", grace, len(self._running))
        late: set[asyncio.Task[None]] = set()
        if self._workers:
            _, late = await asyncio.wait(self._workers, timeout=grace)
        for worker in late:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        try:
            await self._save_unsaved()
        except Exception as exc:
            log.error("writes still failing at shutdown (%s): the database lags behind", exc)
        return len(late)

    async def _work(self) -> None:
        while (job := await self._line.take()) is not None:
            self._told.pop(job.id, None)
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            self._working.add(job.id)
            try:
                await self._go_on(job)
            except Exception:
                log.exception("job %d failed unexpectedly", job.id)
            finally:
                self._running.discard(task)
                self._working.discard(job.id)
                if self._writes.waiting(job.id):
                    # Its end is not stored yet: it keeps its lease (and place) until it is, so
                    # no other process takes it for abandoned.
                    self._unsaved_ends[job.id] = job
                else:
                    await self._line.done(job)

    async def _save_unsaved(self) -> None:
        """Store the writes that failed; then let go of the jobs that waited for them."""
        await self._writes.retry()
        for job_id, job in list(self._unsaved_ends.items()):
            if not self._writes.waiting(job_id):
                del self._unsaved_ends[job_id]
                await self._line.done(job)

    async def _go_on(self, job: Job) -> None:
        """Go on with a job from its state (another process's, when that one stopped)."""
        if job.state is JobState.QUEUED:
            await self._send(job)
        elif job.state is JobState.SUBMITTED:
            await self._follow(job)
        elif job.state is JobState.DRAWN:
            image = await self._store.sheet(job.id)
            if image is None:  # too large to keep in Redis, and its process died with it
                await self._finish(job, JobState.FAILED, error="drawn, but its sheet was lost")
                return
            self._log(job, "delivering for a stopped process")
            await self._deliver(job, image)
        else:  # sending, with no request id: Segmind may have billed it, never send it again
            await self._finish(job, JobState.INTERRUPTED)

    async def _send(self, job: Job) -> None:
        # Segmind's plan allows only so many requests a minute.
        await self._line.turn(
            lambda wait: self._placeholders.show(job, replies.paced(time.time() + wait))
        )
        started = time.time()
        # The claim: only one worker, once, ever moves this job from queued to sending.
        if not await self._store.move(
            job.id, JobState.QUEUED, state=JobState.SENDING, started_at=started
        ):
            log.info("job %d was already taken; not sending it again", job.id)
            return
        job = dataclasses.replace(job, state=JobState.SENDING, started_at=started)
        self._log(job, "sending", wait=f"{started - job.created_at:.1f}s")
        self._placeholders.show(
            job, replies.SENDING if self._segmind.uses_v2 else replies.drawing(started)
        )
        try:
            pose = await self._store.pose(job.id) if job.custom_pose else None
            if pose is None:  # decoded once, in a thread, then cached
                pose = (await asyncio.to_thread(default_pose)).jpeg
            sheet = await self._segmind.draw(
                job.request.for_segmind(pose),
                on_submitted=functools.partial(self._submitted, job),
                on_progress=functools.partial(self._progress, job),
            )
        except Exception as exc:
            await self._fail(job, exc)
            return
        finally:
            self._metrics.segmind_seconds.observe(time.time() - started)
        job = await self._keep(job, sheet, time.time() - started)
        await self._deliver(job, sheet.image)

    async def _submitted(self, job: Job, submission: Submission) -> None:
        # From here a restart resumes the job instead of reporting it interrupted.
        await self._writes.save(
            job.id,
            state=JobState.SUBMITTED,
            request_id=submission.request_id,
            status_url=submission.status_url,
            response_url=submission.response_url,
            submitted_at=submission.submitted_at.timestamp(),
        )
        self._log(job, "submitted", request_id=submission.request_id)

    async def _progress(self, job: Job, progress: Progress) -> None:
        if progress.status is RequestStatus.QUEUED:
            self._placeholders.show(job, replies.WAITING_AT_SEGMIND)
        elif progress.status is RequestStatus.PROCESSING:
            self._placeholders.show(job, replies.drawing(time.time()))

    async def _follow(self, job: Job) -> None:
        """Follow up a request Segmind took before a restart, by its stored request id."""
        assert job.request_id and job.status_url and job.response_url and job.submitted_at
        started = time.time()
        if started - job.submitted_at > RESULT_RETENTION:
            await self._fail(job, RequestExpired(404, "older than Segmind keeps results", None))
            return
        self._log(job, "following up", request_id=job.request_id)
        self._placeholders.show(job, replies.WAITING_AT_SEGMIND)
        submission = Submission(
            request_id=job.request_id,
            status_url=job.status_url,
            response_url=job.response_url,
            submitted_at=datetime.fromtimestamp(job.submitted_at, UTC),
            seed=job.request.seed or 0,
        )
        try:
            sheet = await self._segmind.wait(
                submission, on_progress=functools.partial(self._progress, job)
            )
        except Exception as exc:
            await self._fail(job, exc)
            return
        job = await self._keep(job, sheet, time.time() - (job.started_at or started))
        await self._deliver(job, sheet.image)

    async def _keep(self, job: Job, sheet: Sheet, seconds: float) -> Job:
        # Paid for: store it before delivering so a crash cannot lose it. If storage fails,
        # the sheet is delivered from memory all the same, and the write is retried.
        outcome = Outcome(
            seed=sheet.seed,
            credits_left=sheet.credits_left,
            seconds=seconds,
            content_type=sheet.content_type,
            cost=sheet.cost,
        )
        if sheet.cost is not None:
            self._expected_cost = sheet.cost  # what the next sheet will likely cost
        job = dataclasses.replace(
            job,
            state=JobState.DRAWN,
            outcome=outcome,
            finished_at=time.time(),
            reserved=job.reserved if sheet.cost is None else sheet.cost,
        )
        saved = await self._writes.save(
            job.id,
            state=JobState.DRAWN,
            result=sheet.image,
            outcome=outcome,
            finished_at=job.finished_at,
            cost=sheet.cost,
            credits_left=sheet.credits_left,
            reserved=job.reserved,
        )
        if not saved:
            self._unstored_sheets[job.id] = (job, sheet.image)
        self._log(job, "drawn", segmind=f"{seconds:.1f}s", credits_left=sheet.credits_left)
        if sheet.credits_left is not None:
            self._metrics.credits_left.set(sheet.credits_left)
            self._beside(functools.partial(self._alerts.balance_seen, sheet.credits_left))
        if sheet.credits_left is not None and not self._writes.failing:
            try:
                await self._store.set_fact(
                    "last_credits", {"credits": sheet.credits_left, "at": time.time()}
                )
            except Exception as exc:
                log.warning("could not store the last balance (%s)", exc)
        return job

    # Delivering ----------------------------------------------------------------------------

    async def _deliver(self, job: Job, image: bytes) -> None:
        """One attempt to deliver a drawn sheet; kept for a later attempt if no route is open."""
        if job.id in self._delivering:
            return
        self._delivering.add(job.id)
        try:
            await self._placeholders.settle(job.id)
            try:
                parcel = await sheet_parcel(job, image, self._buttons(job.id))
            except ValueError as exc:  # it cannot be made to fit Discord's upload limit
                await self._fail(job, exc)
                return
            try:
                route = await self._courier.deliver(job, parcel)
            except Undelivered:
                await self._postpone(job)
                return
            except Exception:
                log.exception("job %d: delivery failed unexpectedly", job.id)
                await self._postpone(job)
                return
            self._unstored_sheets.pop(job.id, None)
            await self._finish(job, JobState.DONE, via=route, bytes=len(parcel.image or b""))
        finally:
            self._delivering.discard(job.id)

    async def _postpone(self, job: Job) -> None:
        drawn_at = job.finished_at or time.time()
        if time.time() - drawn_at > self._rules.delivery_retry_hours * 3600:
            log.error(
                "job %d: gave up delivering its sheet after %d attempt(s)",
                job.id,
                job.delivery_attempts + 1,
            )
            await self._courier.direct(job, Parcel(content=replies.UNDELIVERED))
            self._unstored_sheets.pop(job.id, None)
            await self._finish(job, JobState.FAILED, error="undelivered", tell=False)
            return
        attempts = job.delivery_attempts + 1
        wait = min(self._rules.delivery_retry_seconds * 2 ** (attempts - 1), MAX_DELIVERY_BACKOFF)
        job = dataclasses.replace(job, delivery_attempts=attempts, deliver_after=time.time() + wait)
        if job.id in self._unstored_sheets:
            self._unstored_sheets[job.id] = (job, self._unstored_sheets[job.id][1])
        await self._writes.save(job.id, delivery_attempts=attempts, deliver_after=job.deliver_after)
        self._metrics.deliveries_postponed.inc()
        log.warning(
            "job %d: no route reached user %d; the sheet is kept, next attempt in %.0fs",
            job.id,
            job.user_id,
            wait,
        )

    async def _deliver_kept(self) -> None:
        """Deliver drawn sheets whose next attempt is due (after a restart: all of them)."""
        now = time.time()
        due = {job.id: job for job in await self._store.jobs_in(JobState.DRAWN)}
        due.update({job.id: job for job, _ in self._unstored_sheets.values()})  # the newer
        for job in due.values():
            fresh = not job.delivery_attempts and (job.finished_at or 0) >= self._booted
            if fresh or job.id in self._delivering or (job.deliver_after or 0) > now:
                continue  # a fresh one is being delivered by its worker
            if job.id in self._unstored_sheets:
                image: bytes | None = self._unstored_sheets[job.id][1]
            elif self._writes.waiting(job.id):
                continue  # stored as drawn, but its end (delivered) waits to be written
            else:
                image = await self._store.sheet(job.id)
            if image is None:
                continue
            if not await self._store.hold(job.id):
                continue  # another process delivers it
            if not job.delivery_attempts:
                self._log(job, "delivering after restart")
            try:
                await self._deliver(job, image)
            finally:
                await self._store.release(job.id)

    # Finishing -----------------------------------------------------------------------------

    async def _fail(self, job: Job, error: Exception) -> None:
        if isinstance(error, AuthError):
            log.error("Segmind refused the API key: check SEGMIND_API_KEY (job %d)", job.id)
        elif not isinstance(error, SegmindError):
            log.error("job %d failed unexpectedly", job.id, exc_info=error)
        await self._finish(
            job,
            JobState.FAILED,
            error=f"{type(error).__name__}: {error}",
            message=replies.failure(error),
        )

    async def _finish(
        self,
        job: Job,
        state: JobState,
        *,
        error: str | None = None,
        message: str | None = None,
        tell: bool = True,
        **facts: object,
    ) -> None:
        """The one way a job ends: record, store, count, log, settle the cooldown, tell."""
        paid = (job.outcome.cost or job.reserved) if job.outcome is not None else 0.0
        entry = LedgerEntry(job.id, time.time(), job.guild_id, job.user_id, paid, state.value)
        fields: dict[str, Any] = {"state": state, "interaction_token": None}
        if state is not JobState.DONE or job.finished_at is None:
            fields["finished_at"] = time.time()
        if state is JobState.DONE:
            fields["result"] = None
        else:
            fields["error"] = error
        await self._writes.finish(job.id, entry, **fields)
        self._unstored_sheets.pop(job.id, None)
        self._metrics.jobs.labels(outcome=state.value).inc()
        self._log(job, state.value, **facts, **({"error": error} if error else {}))
        if paid:
            self._beside(functools.partial(self._alerts.spend_seen, job.guild_id))
        if state is JobState.DONE:
            return
        try:
            await self._store.give_back_cooldown(job.user_id, job.guild_id)
        except Exception as exc:
            log.warning("job %d: could not give the cooldown back (%s)", job.id, exc)
        if state is JobState.REFUSED or not tell:
            return
        await self._placeholders.settle(job.id)
        text = message or (replies.INTERRUPTED if state is JobState.INTERRUPTED else replies.OOPS)
        try:
            await self._courier.deliver(job, Parcel(content=text))
        except Undelivered:
            log.warning("job %d: could not tell user %d it ended %s", job.id, job.user_id, state)

    def _beside(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run work (alerts) beside the jobs: a failure is logged, never holds a job back.

        Started inside the task, so a task cancelled before it runs leaves no coroutine behind.
        """

        async def guarded() -> None:
            try:
                await work()
            except Exception:
                log.exception("alert check failed")

        task = asyncio.create_task(guarded())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # After a restart -----------------------------------------------------------------------

    async def _settle_leftovers(self) -> None:
        """Report jobs cut off before or while sending (before Segmind gave a request id);
        follow up submitted ones; put queued ones back in line.

        Drawn ones are delivered by the kept-sheets loop.
        """
        for job in await self._store.jobs_in(JobState.ACCEPTED, JobState.SENDING):
            began = job.started_at if job.state is JobState.SENDING else job.created_at
            if (began or 0) < self._booted:  # not one this run is working on
                # Never sent again: Segmind may have billed it already.
                await self._finish(job, JobState.INTERRUPTED)
        for job in await self._store.jobs_in(JobState.SUBMITTED):
            if (job.submitted_at or 0) < self._booted:  # Segmind has it: follow it up first
                await self._line.add(job, first=True)
        for job in await self._store.jobs_in(JobState.QUEUED):
            await self._enter_line(job, "resumed")

    async def _settle_orphans(self) -> None:
        """With several processes: report jobs no live process holds any more. Accepted ones
        whose process stopped before queueing them; sending ones whose worker lost track (a
        claim whose answer Redis dropped). The rest come back through the shared line."""
        for job in await self._store.jobs_in(JobState.ACCEPTED, JobState.SENDING):
            # Never this process's own: being fetched, worked on, or its end not yet stored.
            ours = job.id in self._accepted or job.id in self._working
            if ours or self._writes.waiting(job.id):
                continue
            # Held only if still in that state: it may have moved on since the listing.
            if await self._store.hold(job.id, only_in=job.state):
                await self._finish(job, JobState.INTERRUPTED)  # never sent again

    async def _announce_places(self) -> None:
        # Tell waiting members when their place changed; the edits run beside the jobs.
        for job, ahead in await self._line.places():
            if self._told.get(job.id) != ahead:
                self._told[job.id] = ahead
                self._placeholders.show(job, replies.queued(ahead))

    def _log(self, job: Job, event: str, **facts: object) -> None:
        details = " ".join(f"{key}={value}" for key, value in facts.items())
        prompt = f" prompt={job.request.prompt!r}" if self._rules.log_prompts else ""
        log.info(
            "job %d %s: user=%d guild=%s %s%s",
            job.id,
            event,
            job.user_id,
            job.guild_id,
            details,
            prompt,
        )
