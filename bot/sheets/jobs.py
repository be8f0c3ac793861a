"""A job's whole life, owned here: accepted → queued → sending → drawn → done (or failed,
interrupted, refused). `Jobs` is the only writer of a job's state; how a job ends is written
by `Books`, its delivery by `Deliveries`, what a previous run left by `Recovery`.

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
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.ops.metrics import Metrics
from bot.segmind import (
    Progress,
    RequestExpired,
    RequestStatus,
    SegmindClient,
    Sheet,
    Submission,
)
from bot.sheets import texts
from bot.sheets.books import Books
from bot.sheets.deliveries import Deliveries
from bot.sheets.imaging import default_pose
from bot.sheets.job import Job, JobState, NewJob, Outcome
from bot.sheets.line import Line
from bot.sheets.members import Members, Undelivered
from bot.sheets.records import Fenced, Records
from bot.sheets.rules import Limits, Refused
from bot.sheets.servers import ServerSettings
from bot.sheets.writes import JobWrites

log = logging.getLogger(__name__)

# Segmind keeps an async request's result this long after it was submitted.
RESULT_RETENTION = 3600.0


def worth_telling(told: int, ahead: int) -> bool:
    """Whether a member last told `told` ahead should be told `ahead` now: when they are next,
    when the place fell to 3/4 of what they were told, or rose past 4/3 of it."""
    if ahead == told:
        return False
    return ahead == 0 or 4 * ahead <= 3 * told or 3 * ahead > 4 * told


@dataclass(frozen=True)
class JobRules:
    """What admission checks (the operator's limits) and how many jobs run at once."""

    limits: Limits
    concurrency: int


class Jobs:
    """Admits and queues requests; its workers draw them, keep the sheets and hand them on."""

    def __init__(
        self,
        *,
        store: Records,
        writes: JobWrites,
        line: Line,
        segmind: SegmindClient,
        members: Members,
        deliveries: Deliveries,
        books: Books,
        metrics: Metrics,
        rules: JobRules,
    ) -> None:
        self._store = store
        self._writes = writes
        self._line = line
        self._segmind = segmind
        self._members = members
        self._deliveries = deliveries
        self._books = books
        self._metrics = metrics
        self._rules = rules
        self._told: dict[int, int] = {}  # the place each waiting member was last told
        self._workers: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._accepted: set[int] = set()  # accepted here, not yet queued or refused
        self._working: set[int] = set()  # taken by this process's workers
        self._unsaved_ends: dict[int, Job] = {}  # worked on, their end still to be stored
        self.accepting = True

    @property
    def waiting(self) -> int:
        """How many jobs wait for a worker."""
        return self._line.waiting

    def owns(self, job_id: int) -> bool:
        """Whether this process works on a job: fetching its pose, drawing it, or storing its
        end. Nobody else may report it abandoned."""
        return job_id in self._accepted or job_id in self._working or self._writes.waiting(job_id)

    # Taking a request ----------------------------------------------------------------------

    async def accept(self, new: NewJob, server: ServerSettings) -> Job:
        """Admit a request under its server's rules (one atomic step) or raise `Refused`."""
        if not self.accepting:
            raise Refused(texts.RESTARTING)
        limits = server.limits(self._rules.limits, self._books.expected_cost)
        job = await self._store.admit(new, limits)  # raises a NotAdmitted, worded for the member
        self._accepted.add(job.id)
        self._books.log(job, "accepted")
        return job

    async def queue(
        self, job: Job, placeholder_id: int | None, pose: bytes | None, pose_note: str | None
    ) -> None:
        """Put an accepted job in line, with its pose (None: the default pose sheet)."""
        job = dataclasses.replace(job, placeholder_id=placeholder_id, pose_note=pose_note)
        queued = await self._store.move(
            job.id,
            JobState.ACCEPTED,
            state=JobState.QUEUED,
            placeholder_id=placeholder_id,
            pose=pose,
            pose_note=pose_note,
        )
        self._accepted.discard(job.id)
        if not queued:  # ended meanwhile (reported interrupted), or lost with Redis's data
            if await self._store.job(job.id) is None:
                await self._tell_lost(job)
            return
        await self._store.release(job.id)  # any worker, of any process, may take it now
        await self._enter_line(dataclasses.replace(job, state=JobState.QUEUED), "queued")

    async def withdraw(self, job: Job) -> None:
        """An accepted job will not be queued (a bad pose; the member is told by the caller)."""
        self._accepted.discard(job.id)
        await self._books.finish(job, JobState.REFUSED, error="refused after acceptance")

    async def resume(self, job: Job) -> None:
        """Put a queued job of an earlier run back in line."""
        await self._enter_line(job, "resumed")

    async def _enter_line(self, job: Job, how: str) -> None:
        ahead = await self._line.add(job)
        if ahead is None:
            return  # a worker has it already
        self._told[job.id] = ahead
        self._books.log(job, how, ahead=ahead, pose="custom" if job.custom_pose else "default")
        self._members.show(job, texts.queued(ahead))

    async def announce_places(self) -> None:
        """Tell waiting members whose place changed meaningfully; the edits run beside the
        jobs. O(N) for N waiting, and each member's placeholder is edited O(log N) times on
        its way to the front, not at every step (telling every member every 2 s was the most
        frequent Discord request under load)."""
        for job, ahead in await self._line.places():
            told = self._told.get(job.id)
            if told is None or worth_telling(told, ahead):
                self._told[job.id] = ahead
                self._members.show(job, texts.queued(ahead))

    async def tell_lost(self) -> None:
        """Tell the members whose queued jobs storage lost (Redis wiped): never drawn."""
        for job in self._line.lost():
            self._told.pop(job.id, None)
            await self._tell_lost(job)

    async def _tell_lost(self, job: Job) -> None:
        log.warning("job %d: lost with the storage's data; its member is told", job.id)
        try:
            await self._members.tell(job, texts.LOST)
        except Undelivered:
            log.warning("job %d: its member could not be told it was lost", job.id)

    # Running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers."""
        self._workers = [asyncio.create_task(self._work()) for _ in range(self._rules.concurrency)]

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
            await self.save_unsaved()
        except Exception as exc:
            log.error("writes still failing at shutdown (%s): the database lags behind", exc)
        return len(late)

    async def save_unsaved(self) -> None:
        """Store the writes that failed; then let go of the jobs that waited for them."""
        await self._writes.retry()
        for job_id, job in list(self._unsaved_ends.items()):
            if not self._writes.waiting(job_id):
                del self._unsaved_ends[job_id]
                await self._line.done(job)

    async def _work(self) -> None:
        while (job := await self._line.take()) is not None:
            self._told.pop(job.id, None)
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            self._working.add(job.id)
            try:
                await self._go_on(job)
            except Fenced:  # frozen or cut off past its lease: another process has the job
                log.warning("job %d: another process took it over; this one stops", job.id)
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

    async def _go_on(self, job: Job) -> None:
        """Go on with a job from its state (another process's, when that one stopped)."""
        if job.state is JobState.QUEUED:
            await self._send(job)
        elif job.state is JobState.SUBMITTED:
            await self._follow(job)
        elif job.state is JobState.DRAWN:
            image = await self._store.sheet(job.id)
            if image is None:  # too large to keep in Redis, and its process died with it
                await self._books.finish(
                    job, JobState.FAILED, error="drawn, but its sheet was lost"
                )
                return
            self._books.log(job, "delivering for a stopped process")
            await self._deliveries.deliver(job, image)
        else:  # sending, with no request id: Segmind may have billed it, never send it again
            await self._books.finish(job, JobState.INTERRUPTED)

    async def _send(self, job: Job) -> None:
        # Segmind's plan allows only so many requests a minute.
        turn = await self._line.turn(
            lambda wait: self._members.show(job, texts.paced(time.time() + wait))
        )
        started = time.time()
        # The claim: only one worker, once, ever moves this job from queued to sending.
        if not await self._store.move(
            job.id, JobState.QUEUED, state=JobState.SENDING, started_at=started
        ):
            await self._line.answered(turn)  # nothing was sent
            if await self._store.job(job.id) is None:  # lost with the storage's data
                await self._tell_lost(job)
            else:
                log.info("job %d was already taken; not sending it again", job.id)
            return
        job = dataclasses.replace(job, state=JobState.SENDING, started_at=started)
        self._books.log(job, "sending", wait=f"{started - job.created_at:.1f}s")
        self._members.show(job, texts.SENDING if self._segmind.uses_v2 else texts.drawing(started))
        try:
            pose = await self._store.pose(job.id) if job.custom_pose else None
            if pose is None:  # decoded once, in a thread, then cached
                pose = (await asyncio.to_thread(default_pose)).jpeg
            sheet = await self._segmind.draw(
                job.request.for_segmind(pose),
                on_submitted=functools.partial(self._submitted, job, turn),
                on_progress=functools.partial(self._progress, job),
            )
        except Fenced:
            raise
        except Exception as exc:
            await self._line.answered(turn)
            await self._books.fail(job, exc)
            return
        finally:
            self._metrics.segmind_seconds.observe(time.time() - started)
        await self._line.answered(turn)  # v1: now; v2: already at the submit's answer
        job = await self._keep(job, sheet, time.time() - started)
        await self._deliveries.deliver(job, sheet.image)

    async def _submitted(self, job: Job, turn: str, submission: Submission) -> None:
        await self._line.answered(turn)  # Segmind has counted it by now
        # From here a restart resumes the job instead of reporting it interrupted.
        await self._writes.save(
            job.id,
            state=JobState.SUBMITTED,
            request_id=submission.request_id,
            status_url=submission.status_url,
            response_url=submission.response_url,
            submitted_at=submission.submitted_at.timestamp(),
        )
        self._books.log(job, "submitted", request_id=submission.request_id)

    async def _progress(self, job: Job, progress: Progress) -> None:
        if progress.status is RequestStatus.QUEUED:
            self._members.show(job, texts.WAITING_AT_SEGMIND)
        elif progress.status is RequestStatus.PROCESSING:
            self._members.show(job, texts.drawing(time.time()))

    async def _follow(self, job: Job) -> None:
        """Follow up a request Segmind took before a restart, by its stored request id."""
        assert job.request_id and job.status_url and job.response_url and job.submitted_at
        started = time.time()
        if started - job.submitted_at > RESULT_RETENTION:
            expired = RequestExpired(404, "older than Segmind keeps results", None)
            await self._books.fail(job, expired)
            return
        self._books.log(job, "following up", request_id=job.request_id)
        self._members.show(job, texts.WAITING_AT_SEGMIND)
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
        except Fenced:
            raise
        except Exception as exc:
            await self._books.fail(job, exc)
            return
        job = await self._keep(job, sheet, time.time() - (job.started_at or started))
        await self._deliveries.deliver(job, sheet.image)

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
        self._books.cost_seen(sheet.cost)
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
            self._deliveries.keep_unstored(job, sheet.image)
        self._books.log(job, "drawn", segmind=f"{seconds:.1f}s", credits_left=sheet.credits_left)
        await self._books.balance_seen(sheet)
        return job
