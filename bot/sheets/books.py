"""The books of the job engine: how every job ends (ledger, store, count, log, cooldown, the
member told), and what Segmind said about the money (the balance, the cost of a sheet)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bot.ops.metrics import Metrics
from bot.segmind import AuthError, SegmindError, Sheet
from bot.sheets import texts
from bot.sheets.alerts import Alerts
from bot.sheets.job import DRAWN_FOR_MEMBER, Job, JobChange, JobState, LedgerEntry
from bot.sheets.locales import Text
from bot.sheets.members import Members, Undelivered
from bot.sheets.records import Records
from bot.sheets.writes import JobWrites

log = logging.getLogger(__name__)


class Books:
    """The one way a job ends, one log line per event, and the balance and cost last seen."""

    def __init__(
        self,
        *,
        store: Records,
        writes: JobWrites,
        members: Members,
        alerts: Alerts,
        metrics: Metrics,
        sheet_cost: float,
        log_prompts: bool = False,
    ) -> None:
        self._store = store
        self._writes = writes
        self._members = members
        self._alerts = alerts
        self._metrics = metrics
        self._sheet_cost = sheet_cost
        self._log_prompts = log_prompts
        self._last_cost: float | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()

    @property
    def expected_cost(self) -> float:
        """What the next sheet will likely cost: the last one's, else SHEET_COST_CREDITS."""
        return self._last_cost or self._sheet_cost

    def cost_seen(self, cost: float | None) -> None:
        """Segmind reported what a sheet cost: the next one will likely cost the same."""
        if cost is not None:
            self._last_cost = cost

    async def balance_seen(self, sheet: Sheet) -> None:
        """Segmind reported the balance with a sheet (stored after the sheet itself)."""
        if sheet.credits_left is None:
            return
        self._metrics.credits_left.set(sheet.credits_left)
        self._beside(lambda: self._alerts.balance_seen(sheet.credits_left or 0.0))
        if self._writes.failing:
            return
        try:
            await self._store.set_fact(
                "last_credits", {"credits": sheet.credits_left, "at": time.time()}
            )
        except Exception as exc:
            log.warning("could not store the last balance (%s)", exc)

    async def fail(self, job: Job, error: Exception) -> None:
        """End a job that could not be drawn, telling its member why in their words."""
        if isinstance(error, AuthError):
            log.error("Segmind refused the API key: check SEGMIND_API_KEY (job %d)", job.id)
        elif not isinstance(error, SegmindError):
            log.error("job %d failed unexpectedly", job.id, exc_info=error)
        await self.finish(
            job,
            JobState.FAILED,
            error=f"{type(error).__name__}: {error}",
            message=texts.failure(error),
        )

    async def finish(
        self,
        job: Job,
        state: JobState,
        *,
        error: str | None = None,
        message: Text | None = None,
        tell: bool = True,
        **facts: object,
    ) -> None:
        """The one way a job ends: return a failure's cooldown, record, store, count, log, tell."""
        paid = (job.outcome.cost or job.reserved) if job.outcome is not None else 0.0
        entry = LedgerEntry(job.id, time.time(), job.guild_id, job.user_id, paid, state.value)
        fields: JobChange = {"state": state, "interaction_token": None}
        drawn = state in DRAWN_FOR_MEMBER  # delivered, or withheld: its cooldown stays
        if not drawn or job.finished_at is None:
            fields["finished_at"] = time.time()
        if drawn:
            fields["result"] = None  # a withheld sheet is not kept either
        if state is not JobState.DONE:
            fields["error"] = error
        if not drawn:
            # Before the end is stored: once anything shows the job ended (its state, the log,
            # the member's notice), the member may ask again without meeting its cooldown.
            try:
                await self._store.give_back_cooldown(job.user_id, job.guild_id)
            except Exception as exc:
                log.warning("job %d: could not give the cooldown back (%s)", job.id, exc)
        await self._writes.finish(job.id, entry, **fields)
        self._metrics.jobs.labels(outcome=state.value).inc()
        self.log(job, state.value, **facts, **({"error": error} if error else {}))
        if paid:
            self._beside(lambda: self._alerts.spend_seen(job.guild_id))
        if drawn or state is JobState.REFUSED or not tell:
            return
        text = message or (texts.INTERRUPTED if state is JobState.INTERRUPTED else texts.OOPS)
        try:
            await self._members.tell(job, text)
        except Undelivered:
            log.warning("job %d: could not tell user %d it ended %s", job.id, job.user_id, state)

    async def close(self) -> None:
        """Let the alert checks under way finish (before storage closes)."""
        await asyncio.gather(*self._side_tasks, return_exceptions=True)

    def log(self, job: Job, event: str, **facts: object) -> None:
        """One line for one event of a job's life (with its prompt only if LOG_PROMPTS)."""
        details = " ".join(f"{key}={value}" for key, value in facts.items())
        prompt = f" prompt={job.request.prompt!r}" if self._log_prompts else ""
        log.info(
            "job %d %s: user=%d guild=%s %s%s",
            job.id,
            event,
            job.user_id,
            job.guild_id,
            details,
            prompt,
        )

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
