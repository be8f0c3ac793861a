"""`python -m bot copy-to-redis`: carry one process's SQLite state into an empty Redis, so a bot
that grows into several processes keeps its servers' settings, its ledger (budgets, daily
limits, `usage`), running cooldowns, the buttons under its old sheets and saved characters."""

from __future__ import annotations

from dataclasses import dataclass

from bot.sheets.job import SPENDING, LedgerEntry
from bot.state.characters import read_character
from bot.state.redis.store import RedisStore
from bot.state.sqlite.store import Store


class NotCopied(Exception):
    """The copy would lose or mix something; the message says what to do."""


@dataclass(frozen=True)
class Copied:
    """How much was carried over."""

    servers: int
    ledger_entries: int
    jobs: int
    cooldowns: int
    characters: int = 0


async def copy_to_redis(store: Store, shared: RedisStore) -> Copied:
    """Copy everything that outlives a job from the SQLite file into an empty Redis."""
    live = await store.jobs_in(*SPENDING)
    if live:
        raise NotCopied(
            f"{len(live)} job(s) in DATABASE_PATH are still waiting, running or undelivered. "
            "Run the bot once more without REDIS_URL until they are done (SIGTERM it when its "
            "queue is empty), then copy again."
        )
    if not await shared.is_empty():
        raise NotCopied(
            "REDIS_URL already holds a bot's state: copy only into an empty Redis (another "
            "database number, e.g. redis://host:6379/1, or FLUSHDB if that state is unwanted)."
        )
    servers = set()
    for row in await store.table("server_settings"):
        guild = int(row.pop("guild_id"))
        servers.add(guild)
        for setting, value in row.items():
            if value is not None:
                await shared.set_server_setting(guild, setting, value)
    for row in await store.table("server_lists"):
        servers.add(int(row["guild_id"]))
        await shared.add_to_server_list(int(row["guild_id"]), row["kind"], row["value"])
    for row in await store.table("config_changes"):
        await shared.record_config_change(
            row["at"], row["guild_id"], row["user_id"], row["setting"], row["old"], row["new"]
        )
    for row in await store.table("alert_states"):
        await shared.swap_alert(int(row["guild_id"]), row["kind"], bool(row["raised"]))
    for row in await store.table("facts"):
        await shared.set_fact(row["key"], await store.fact(row["key"]))
    entries = [LedgerEntry(**row) for row in await store.table("ledger")]
    await shared.import_ledger(entries)
    cooldowns = 0
    for row in await store.table("member_cooldowns"):
        # -1: a cooldown from before cooldowns were per server; it holds in DMs (0) after.
        await shared.import_cooldown(
            int(row["user_id"]), max(int(row["guild_id"]), 0), row["until"]
        )
        cooldowns += 1
    jobs = await store.finished_jobs()
    for job in jobs:
        await shared.import_finished_job(job, await store.pose(job.id))
    await shared.continue_ids_after(max((job.id for job in jobs), default=0))
    characters = await store.table("characters")
    for row in characters:
        character = read_character(row["shelf"], row)
        # Each was within its shelf's limit when saved; a lowered limit keeps what exists.
        await shared.save_character(character, row["pose"], limit=len(characters))
    return Copied(len(servers), len(entries), len(jobs), cooldowns, len(characters))
