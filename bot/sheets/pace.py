"""Requests to Segmind paced to the plan: at most N in any rolling minute, so members wait in the
queue (and see their place) instead of meeting Segmind's 429.

Segmind counts a request when it arrives, somewhere between the bot sending it and its answer.
So a request counts from when it is sent until a window after its answer (the latest moment
Segmind can have counted it); one never answered counts two windows from its start.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable


class Pace:
    """A rolling-window limit on how many requests Segmind may have counted."""

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
        # When each turn's request leaves the window: a window after its answer, or two
        # windows after its start while it has none.
        self._leaves: dict[int, float] = {}
        self._unanswered: set[int] = set()
        self._turns = itertools.count(1)

    def next_turn(self) -> float:
        """Seconds until one more request may start (0: now)."""
        now = self._clock()
        for turn, leaves in list(self._leaves.items()):
            if leaves <= now:
                del self._leaves[turn]
                self._unanswered.discard(turn)
        if len(self._leaves) < self._per_window:
            return 0.0
        return min(self._leaves.values()) - now

    async def turn(self) -> int:
        """Wait until a request may start, count it as started; the turn, to say `answered`."""
        # Sleeps until the first request leaves the window; again if another took the turn.
        while (wait := self.next_turn()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        turn = next(self._turns)
        self._leaves[turn] = self._clock() + 2 * self._window
        self._unanswered.add(turn)
        return turn

    def answered(self, turn: int) -> None:
        """Segmind answered the turn's request: it counts until a window from now (the first
        answer only: a later one, such as the end of polling, is not when Segmind counted it)."""
        if turn in self._unanswered:
            self._unanswered.discard(turn)
            self._leaves[turn] = self._clock() + self._window
