"""Each server's own settings, changed by its moderators with /config: cooldown, daily limit,
budget, alerts, allowed channels, moderator roles, blocked words, open re-rolls.

Every change is stored with who made it and the old and new value, and logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from bot.storage import Store

log = logging.getLogger(__name__)


class ListKind(StrEnum):
    """The lists a server keeps."""

    CHANNELS = "channel"
    MODERATOR_ROLES = "moderator_role"
    BLOCKED_WORDS = "blocked_word"


@dataclass(frozen=True)
class ServerSettings:
    """One server's settings; None means "the operator's default"."""

    cooldown_seconds: float | None = None
    daily_limit: int = 0
    budget: float = 0.0
    alerts_channel_id: int | None = None
    alerts_below: float | None = None
    open_reroll: bool | None = None
    channels: frozenset[int] = frozenset()
    moderator_roles: frozenset[int] = frozenset()
    blocked_words: tuple[str, ...] = ()


# The columns of server_settings, in ServerSettings' words.
_SCALARS = (
    "cooldown_seconds",
    "daily_limit",
    "budget",
    "alerts_channel_id",
    "alerts_below",
    "open_reroll",
)


class Servers:
    """Reads (cached) and changes servers' settings."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[int, asyncio.Future[ServerSettings]] = {}

    async def get(self, guild_id: int | None) -> ServerSettings:
        """A server's settings (the defaults outside servers)."""
        if guild_id is None:
            return ServerSettings()
        if guild_id not in self._cache:
            # One load however many requests ask at once (a burst starts with an empty cache).
            self._cache[guild_id] = asyncio.ensure_future(self._load(guild_id))
        try:
            return await asyncio.shield(self._cache[guild_id])
        except Exception:
            self._cache.pop(guild_id, None)  # not kept: the next request loads again
            raise

    async def with_alerts(self) -> dict[int, ServerSettings]:
        """Every server that has an alerts channel."""
        rows = await self._store.rows(
            "SELECT guild_id FROM server_settings WHERE alerts_channel_id IS NOT NULL"
        )
        return {int(r["guild_id"]): await self.get(int(r["guild_id"])) for r in rows}

    async def change(self, guild_id: int, user_id: int, setting: str, value: object) -> object:
        """Set one of a server's settings; returns the old value."""
        assert setting in _SCALARS, setting
        old = getattr(await self.get(guild_id), setting)
        await self._store.write(
            "INSERT INTO server_settings (guild_id) VALUES (?) ON CONFLICT DO NOTHING", guild_id
        )
        await self._store.write(
            f"UPDATE server_settings SET {setting} = ? WHERE guild_id = ?", value, guild_id
        )
        await self._changed(guild_id, user_id, setting, old, value)
        return old

    async def add(
        self, guild_id: int, user_id: int, kind: ListKind, values: list[str]
    ) -> list[str]:
        """Add to one of a server's lists; returns what was new."""
        current = await self._list(guild_id, kind)
        added = [v for v in values if v not in current]
        for value in added:
            await self._store.write(
                "INSERT OR IGNORE INTO server_lists (guild_id, kind, value) VALUES (?, ?, ?)",
                guild_id,
                kind,
                value,
            )
        if added:
            await self._changed(guild_id, user_id, kind, sorted(current), sorted(current + added))
        return added

    async def remove(
        self, guild_id: int, user_id: int, kind: ListKind, values: list[str] | None
    ) -> list[str]:
        """Remove from one of a server's lists (None: everything); returns what was there."""
        current = await self._list(guild_id, kind)
        gone = current if values is None else [v for v in values if v in current]
        for value in gone:
            await self._store.write(
                "DELETE FROM server_lists WHERE guild_id = ? AND kind = ? AND value = ?",
                guild_id,
                kind,
                value,
            )
        if gone:
            after = sorted(v for v in current if v not in gone)
            await self._changed(guild_id, user_id, kind, sorted(current), after)
        return gone

    async def _changed(
        self, guild_id: int, user_id: int, setting: str, old: object, new: object
    ) -> None:
        self._cache.pop(guild_id, None)
        await self._store.write(
            "INSERT INTO config_changes (at, guild_id, user_id, setting, old, new)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            time.time(),
            guild_id,
            user_id,
            setting,
            json.dumps(old),
            json.dumps(new),
        )
        log.info(
            "config: guild=%d user=%d %s: %s -> %s",
            guild_id,
            user_id,
            setting,
            json.dumps(old),
            json.dumps(new),
        )

    async def _list(self, guild_id: int, kind: ListKind) -> list[str]:
        rows = await self._store.rows(
            "SELECT value FROM server_lists WHERE guild_id = ? AND kind = ? ORDER BY rowid",
            guild_id,
            kind,
        )
        return [str(r["value"]) for r in rows]

    async def _load(self, guild_id: int) -> ServerSettings:
        rows = await self._store.rows(
            f"SELECT {', '.join(_SCALARS)} FROM server_settings WHERE guild_id = ?", guild_id
        )
        settings = ServerSettings()
        if rows:
            row = rows[0]
            settings = dataclasses.replace(
                settings,
                cooldown_seconds=row["cooldown_seconds"],
                daily_limit=int(row["daily_limit"]),
                budget=float(row["budget"]),
                alerts_channel_id=row["alerts_channel_id"],
                alerts_below=row["alerts_below"],
                open_reroll=None if row["open_reroll"] is None else bool(row["open_reroll"]),
            )
        return dataclasses.replace(
            settings,
            channels=frozenset(int(v) for v in await self._list(guild_id, ListKind.CHANNELS)),
            moderator_roles=frozenset(
                int(v) for v in await self._list(guild_id, ListKind.MODERATOR_ROLES)
            ),
            blocked_words=tuple(await self._list(guild_id, ListKind.BLOCKED_WORDS)),
        )
