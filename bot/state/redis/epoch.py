"""Noticing that Redis lost the bot's state (restarted without its data, or flushed).

The first process writes `epoch`, a random name for this keyspace's life; every process
remembers the one it found. A wiped Redis has none: the first process to look writes a new
one, and each process, seeing a name it did not know, knows its jobs there are gone. Each
process also remembers the highest job id it saw and puts the counter back past it, so an id is
never given to two jobs (an old sheet's buttons name their job by id).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import redis.asyncio as redis

from bot.state.redis import lua

log = logging.getLogger(__name__)


class Epoch:
    """This keyspace's life as one process knows it, and the highest job id it has seen."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._script = lua.register(client, "epoch")
        self._prefix = prefix
        self.known: str | None = None
        self.highest = 0
        self.wipes = 0

    def saw(self, job_id: int) -> None:
        """A job id this process met (admitted, took, read)."""
        self.highest = max(self.highest, job_id)

    async def notice(self) -> bool:
        """Look once: whether Redis was wiped since this process last looked (the first look
        only learns the epoch; an older keyspace without one is carried on)."""
        answer: Any = await self._script(args=[self._prefix, self.highest, uuid.uuid4().hex])
        epoch, counter = (_text(value) for value in answer)
        self.saw(int(counter))
        wiped = self.known is not None and epoch != self.known
        self.known = epoch
        if wiped:
            self.wipes += 1
            log.error(
                "REDIS LOST THE BOT'S DATA (restarted without appendonly, or flushed): every "
                "job, cooldown and ledger entry kept there is gone. Members whose requests this "
                "process held are told; new job ids go on after %d.",
                self.highest,
            )
        return wiped


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
