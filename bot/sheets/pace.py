"""Requests to Segmind paced to the plan: at most N in any rolling minute, so members wait in the
queue (and see their place) instead of meeting Segmind's 429."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class Pace:
    """A rolling-window limit on how many requests start."""

    def __init__(
        self,
        per_window: int,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_window < 1 or window <= 0:
            raise ValueError("need at least one request per a positive window")
        self._per_window = per_window
        self._window = window
        self._clock = clock
        self._starts: deque[float] = deque()

    def next_turn(self) -> float:
        """Seconds until one more request may start (0: now)."""
        now = self._clock()
        while self._starts and self._starts[0] <= now - self._window:
            self._starts.popleft()
        if len(self._starts) < self._per_window:
            return 0.0
        return self._starts[0] + self._window - now

    async def turn(self) -> None:
        """Wait until a request may start, and count it as started."""
        # Sleeps until the oldest start leaves the window; again only if another took the turn.
        while (wait := self.next_turn()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        self._starts.append(self._clock())
