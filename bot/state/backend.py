"""Where the bot keeps its state: one SQLite file (one process), or Redis (several processes).

Opened at the entry point and passed in: the records and the line of jobs that go with them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.ops.settings import Settings
from bot.sheets.line import Line
from bot.sheets.records import Records
from bot.state.sqlite.line import LocalLine
from bot.state.sqlite.store import Store


@dataclass(frozen=True)
class Backend:
    """The store and its line; `lease_seconds` is None when one process owns everything."""

    store: Records
    line: Line
    lease_seconds: float | None


@asynccontextmanager
async def open_backend(settings: Settings) -> AsyncIterator[Backend]:
    """Open Redis when REDIS_URL is set, else the SQLite file at DATABASE_PATH."""
    if settings.redis_url is None:
        async with Store.open(settings.database_path) as store:
            yield Backend(store, LocalLine(settings.segmind_rpm), None)
        return
    # Imported only here: redis and its scripts cost ~6 MB of memory a SQLite bot never uses.
    from bot.state.redis.line import SharedLine
    from bot.state.redis.store import RedisStore

    url = settings.redis_url.get_secret_value()
    async with RedisStore.open(
        url, lease_seconds=settings.job_lease_seconds, workers=settings.max_concurrent_jobs
    ) as shared:
        await shared.beat()  # alive from the start; renewed with the leases
        await shared.epoch.notice()  # the keyspace as found: a wipe from now on is noticed
        line = SharedLine(
            shared,
            concurrency=settings.max_concurrent_jobs,
            requests_per_minute=settings.segmind_rpm,
        )
        yield Backend(shared, line, settings.job_lease_seconds)
