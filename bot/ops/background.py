"""Background work that never dies silently: every failure is logged, counted and retried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)


class Background:
    """Owns the bot's background tasks (strong references, one place to stop them)."""

    def __init__(self, metrics: Metrics, *, retry_after: float = 5.0) -> None:
        self._metrics = metrics
        self._retry_after = retry_after
        self._tasks: set[asyncio.Task[None]] = set()

    def once(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` until it succeeds once, retrying after each failure."""
        self._spawn(name, work, every=None)

    def every(self, seconds: float, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` now and then every `seconds`, whatever happens to one run."""
        self._spawn(name, work, every=seconds)

    def _spawn(self, name: str, work: Callable[[], Awaitable[None]], every: float | None) -> None:
        task = asyncio.create_task(self._supervise(name, work, every), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(
        self, name: str, work: Callable[[], Awaitable[None]], every: float | None
    ) -> None:
        while True:
            try:
                await work()
            except Exception:
                self._metrics.background_failures.labels(task=name).inc()
                # Work that must run often (renewing leases) is retried as often.
                wait = self._retry_after if every is None else min(every, self._retry_after)
                log.exception("background task %r failed; retrying in %.1fs", name, wait)
                await asyncio.sleep(wait)
                continue
            if every is None:
                return
            await asyncio.sleep(every)

    async def close(self) -> None:
        """Stop every background task."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
