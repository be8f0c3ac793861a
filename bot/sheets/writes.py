"""Job writes that survive a failing disk: kept in memory, in order, and retried.

Once Segmind has been paid, a full disk or a locked database must not lose the sheet or hold
the member back: the job goes on from memory, and its writes wait here until storage answers.
While writes wait, new ones queue behind them instead of each waiting out the database's busy
timeout.
"""

from __future__ import annotations

import logging
from typing import Unpack

from bot.sheets.job import JobChange, LedgerEntry
from bot.sheets.records import Fenced, Records

log = logging.getLogger(__name__)


class JobWrites:
    """Writes of jobs' fields (and their ledger entries), retried in order when storage fails."""

    def __init__(self, store: Records) -> None:
        self._store = store
        self._pending: dict[int, JobChange] = {}
        self._entries: dict[int, LedgerEntry] = {}

    @property
    def failing(self) -> bool:
        """Whether writes are waiting for storage to answer again."""
        return bool(self._pending)

    def waiting(self, job_id: int) -> bool:
        """Whether some of this job's writes wait (storage lags behind what happened)."""
        return job_id in self._pending

    async def save(self, job_id: int, **fields: Unpack[JobChange]) -> bool:
        """Write a job's fields now if storage answers; returns whether it did. Raises
        `Fenced` if another process took the job over."""
        return await self._write(job_id, fields, None)

    async def finish(self, job_id: int, entry: LedgerEntry, **fields: Unpack[JobChange]) -> bool:
        """Write a job's last fields and its ledger entry together."""
        return await self._write(job_id, fields, entry)

    async def retry(self) -> None:
        """Write what waits, oldest job first; raises (and keeps the rest) if storage fails."""
        for job_id in list(self._pending):
            try:
                await self._store_now(job_id, self._pending[job_id], self._entries.get(job_id))
            except Fenced:  # taken over meanwhile: what this process had to say is void
                log.warning("job %d: taken over by another process; its writes dropped", job_id)
            self._pending.pop(job_id)
            self._entries.pop(job_id, None)
            log.info("job %d: stored at last", job_id)

    async def _write(self, job_id: int, fields: JobChange, entry: LedgerEntry | None) -> bool:
        failing = self.failing  # before this job's own waiting writes are taken out
        fields = {**self._pending.pop(job_id, {}), **fields}  # later values win, in order
        entry = entry or self._entries.pop(job_id, None)
        if not failing:
            try:
                await self._store_now(job_id, fields, entry)
                return True
            except Fenced:  # not a failing store: this process must stop working on the job
                raise
            except Exception as exc:
                log.error("job %d: could not be stored (%s); will retry", job_id, exc)
        self._pending[job_id] = fields
        if entry is not None:
            self._entries[job_id] = entry
        return False

    async def _store_now(self, job_id: int, fields: JobChange, entry: LedgerEntry | None) -> None:
        if entry is not None:
            await self._store.finish(entry, **fields)
        else:
            await self._store.update(job_id, **fields)
