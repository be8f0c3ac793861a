"""The job engine in one piece: `Jobs` with its books, deliveries and recovery, wired once (for
the bot and for the in-process tests alike), and the background work that runs beside them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.ops.background import Background
from bot.ops.metrics import Metrics
from bot.segmind import SegmindClient
from bot.sheets.alerts import Alerts
from bot.sheets.books import Books
from bot.sheets.deliveries import Deliveries, DeliveryRules
from bot.sheets.jobs import JobRules, Jobs
from bot.sheets.line import Line
from bot.sheets.members import Members
from bot.sheets.records import Records
from bot.sheets.recovery import Recovery
from bot.sheets.rules import Limits
from bot.sheets.safety import Safety
from bot.sheets.servers import Servers
from bot.sheets.writes import JobWrites

# How often waiting members are told their new place, at most.
ANNOUNCE_EVERY = 2.0
# Writes that fail (disk full, database locked) are tried again this often.
UNSAVED_RETRY = 5.0


@dataclass(frozen=True)
class EngineRules:
    """The operator's rules for the engine (from the settings)."""

    limits: Limits
    concurrency: int
    sheet_cost: float
    delivery: DeliveryRules
    log_prompts: bool = False
    # Several processes share the jobs (Redis): a job nobody renewed for this long is orphaned.
    lease_seconds: float | None = None


class JobEngine:
    """Admits, draws, keeps and delivers jobs; settles what earlier runs left."""

    def __init__(
        self,
        *,
        store: Records,
        line: Line,
        segmind: SegmindClient,
        members: Members,
        servers: Servers,
        safety: Safety,
        metrics: Metrics,
        rules: EngineRules,
        clock: Callable[[], float] = time.time,
    ) -> None:
        writes = JobWrites(store)
        self.books = Books(
            store=store,
            writes=writes,
            members=members,
            alerts=Alerts(store=store, servers=servers, members=members),
            metrics=metrics,
            sheet_cost=rules.sheet_cost,
            log_prompts=rules.log_prompts,
        )
        self.deliveries = Deliveries(
            store=store,
            writes=writes,
            members=members,
            books=self.books,
            metrics=metrics,
            rules=rules.delivery,
            servers=servers,
            safety=safety,
            clock=clock,
        )
        self.jobs = Jobs(
            store=store,
            writes=writes,
            line=line,
            segmind=segmind,
            members=members,
            deliveries=self.deliveries,
            books=self.books,
            metrics=metrics,
            rules=JobRules(limits=rules.limits, concurrency=rules.concurrency),
        )
        self.recovery = Recovery(store=store, line=line, jobs=self.jobs, books=self.books)
        self._line = line
        self._rules = rules

    def start(self, background: Background) -> None:
        """Start the workers, and the engine's background work beside them."""
        self.jobs.start()
        every = background.every
        lease = self._rules.lease_seconds
        if lease is None:
            background.once("settle leftovers", self.recovery.settle_leftovers)
        else:  # other processes go on: only what nobody renewed is left over
            every(lease / 2, "settle orphaned jobs", self.recovery.settle_orphans)
        if self._line.renew_every is not None:
            every(self._line.renew_every, "renew leases", self._line.renew)
        every(ANNOUNCE_EVERY, "announce places", self.jobs.announce_places)
        every(ANNOUNCE_EVERY, "tell lost requests", self.jobs.tell_lost)
        retry = min(self._rules.delivery.retry_seconds, 60.0)
        every(retry, "deliver kept sheets", self.deliveries.deliver_kept)
        every(UNSAVED_RETRY, "save what failed to save", self.jobs.save_unsaved)

    async def stop(self, grace: float) -> int:
        """Take no more jobs, let running ones finish within `grace` seconds, and the alert
        checks under way; how many running jobs were cut."""
        cut = await self.jobs.stop(grace)
        await self.books.close()
        return cut
