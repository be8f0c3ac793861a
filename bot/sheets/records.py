"""What the bot keeps, as one interface with two homes: a SQLite file
(`bot.state.sqlite.store.Store`, one process) or a Redis server (`bot.state.redis.store.RedisStore`,
several processes sharing it).

Jobs with their pose and sheet bytes, cooldowns, the ledger, server settings, alert states and
small facts. Both implementations pass the same contract tests (tests/test_records_contract.py).
"""

from __future__ import annotations

from typing import Any, Protocol, Unpack

from bot.sheets.characters import Character
from bot.sheets.job import Job, JobChange, JobState, LedgerEntry, NewJob
from bot.sheets.rules import Limits


class Fenced(Exception):
    """Another process took the job over (this one was frozen or cut off past its lease): this
    process's write was refused, and it stops working on the job at once (no keep, no
    delivery, no message). Never raised with one process (SQLite)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} was taken over by another process")
        self.job_id = job_id


# A server's own settings (`bot.sheets.servers.ServerSettings` gives them meaning; None: default).
SERVER_SETTINGS = (
    "cooldown_seconds",
    "daily_limit",
    "budget",
    "alerts_channel_id",
    "alerts_below",
    "open_reroll",
    "safety_mode",
    "safety_log_channel_id",
    "language",
)


class Records(Protocol):
    """Everything the bot stores, whichever the backend."""

    backend: str  # "sqlite" or "redis", as `check` and the logs name it

    # Admission: cooldown, queue limits, daily limit and budget reservation in one atomic step.
    async def admit(self, new: NewJob, limits: Limits) -> Job: ...

    # Jobs. Each write raises `Fenced` if another process took the job over from this one.
    async def move(
        self, job_id: int, expected: JobState | None, **fields: Unpack[JobChange]
    ) -> bool: ...
    async def update(self, job_id: int, **fields: Unpack[JobChange]) -> None: ...
    async def finish(self, entry: LedgerEntry, **fields: Unpack[JobChange]) -> None: ...
    async def job(self, job_id: int) -> Job | None: ...
    async def jobs_in(self, *states: JobState) -> list[Job]: ...
    async def pose(self, job_id: int) -> bytes | None: ...
    async def sheet(self, job_id: int) -> bytes | None: ...
    async def forget_old_poses(self, older_than: float) -> int: ...
    async def give_back_cooldown(self, user_id: int, guild_id: int | None) -> None: ...

    # A member's delivered sheets in a server (None: direct messages) finished since a moment,
    # newest first: `take` of them after the first `skip`, and how many there are in all.
    async def sheets_of(
        self, user_id: int, guild_id: int | None, since: float, *, skip: int, take: int
    ) -> tuple[list[Job], int]: ...

    # Leases: which process works on a job. One process (SQLite) always holds every job.
    async def hold(self, job_id: int, *, only_in: JobState | None = None) -> bool: ...
    async def release(self, job_id: int) -> None: ...

    # The ledger of finished jobs, oldest first (one server, or all).
    async def ledger(self, since: float, guild_id: int | None = None) -> list[LedgerEntry]: ...

    # Server settings (`bot.sheets.servers` gives them meaning).
    async def server_settings(self, guild_id: int) -> dict[str, Any] | None: ...
    async def set_server_setting(self, guild_id: int, setting: str, value: Any) -> None: ...
    async def server_list(self, guild_id: int, kind: str) -> list[str]: ...
    async def add_to_server_list(self, guild_id: int, kind: str, value: str) -> None: ...
    async def remove_from_server_list(self, guild_id: int, kind: str, value: str) -> None: ...
    async def record_config_change(
        self, at: float, guild_id: int, user_id: int, setting: str, old: str, new: str
    ) -> None: ...
    async def guilds_with_alerts(self) -> list[int]: ...
    # The safety modes servers chose, each once (a server that chose none adds nothing): at
    # start-up, whether any needs the content classifier.
    async def safety_modes(self) -> set[str]: ...

    # Set whether an alert of a kind is raised in a server; whether it was before. One step, so
    # of several processes seeing one crossing, one posts the alert.
    async def swap_alert(self, guild_id: int, kind: str, raised: bool) -> bool: ...

    # Saved characters, by shelf (a member's own or a server's shared ones, see
    # `bot.sheets.characters`) and name key. Saving refuses a taken name (`NameTaken`) or a
    # full shelf (`ShelfFull`) in the same atomic step as it keeps the character.
    async def save_character(
        self, character: Character, pose: bytes | None, *, limit: int
    ) -> None: ...
    async def characters_on(self, shelf: str) -> list[Character]: ...  # by name key
    async def character(self, shelf: str, key: str) -> Character | None: ...
    async def character_pose(self, shelf: str, key: str) -> bytes | None: ...
    async def delete_character(self, shelf: str, key: str) -> bool: ...
    async def clear_shelf(self, shelf: str) -> int: ...

    # Small values (JSON).
    async def fact(self, key: str) -> Any: ...
    async def set_fact(self, key: str, value: Any) -> None: ...

    def file_problem(self) -> str | None: ...

    # How the backend keeps what it is told (journal mode; Redis's appendonly), for `check`.
    async def persistence(self) -> dict[str, str]: ...
