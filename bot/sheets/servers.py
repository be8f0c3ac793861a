"""Each server's own settings, changed by its moderators with /config: cooldown, daily limit,
budget, alerts, allowed channels, moderator roles, blocked words, open re-rolls, content safety.

Every change is stored with who made it and the old and new value, and logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from bot.sheets.records import SERVER_SETTINGS, Records
from bot.sheets.rules import Limits

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
    safety_mode: str | None = None  # a `bot.sheets.safety.SafetyMode` value; None: SAFETY_MODE
    safety_log_channel_id: int | None = None
    language: str | None = None  # a `bot.sheets.locales` code; None: each member's own
    channels: frozenset[int] = frozenset()
    moderator_roles: frozenset[int] = frozenset()
    blocked_words: tuple[str, ...] = ()
    # The operator's BLOCKED_WORDS, refused here too (not this server's to list or change).
    operator_words: tuple[str, ...] = ()

    @property
    def refused_words(self) -> tuple[str, ...]:
        """Every word a prompt may not hold here: the server's own and the operator's."""
        return self.blocked_words + self.operator_words

    def limits(self, operator: Limits, expected_cost: float) -> Limits:
        """What admission checks here: the operator's limits, with this server's own."""
        own = self.cooldown_seconds
        return dataclasses.replace(
            operator,
            cooldown_seconds=operator.cooldown_seconds if own is None else own,
            daily_limit=self.daily_limit,
            budget=self.budget,
            expected_cost=expected_cost,
        )


@dataclass(frozen=True)
class OperatorRules:
    """What the operator set for every server (and for direct messages, which have no server)."""

    moderator_roles: frozenset[int] = frozenset()
    blocked_words: tuple[str, ...] = ()
    dm_daily_limit: int = 0
    dm_budget: float = 0.0

    def direct_messages(self) -> ServerSettings:
        """The rules of direct messages: the operator's daily limit, budget and words."""
        return ServerSettings(
            daily_limit=self.dm_daily_limit,
            budget=self.dm_budget,
            operator_words=self.blocked_words,
        )


class Servers:
    """Reads (cached) and changes servers' settings."""

    def __init__(
        self,
        store: Records,
        *,
        operator: OperatorRules | None = None,
        fresh_for: float | None = None,
    ) -> None:
        self._store = store
        self._operator = operator or OperatorRules()
        self._cache: dict[int, asyncio.Future[ServerSettings]] = {}
        # Several processes: another may change a setting, so a cached one is read again after
        # this many seconds. One process: None, it changes them all itself.
        self._fresh_for = fresh_for
        self._loaded_at: dict[int, float] = {}

    async def get(self, guild_id: int | None) -> ServerSettings:
        """A server's settings; outside servers, the operator's rules for direct messages."""
        if guild_id is None:
            return self._operator.direct_messages()
        stale = (
            self._fresh_for is not None
            and time.monotonic() - self._loaded_at.get(guild_id, 0.0) > self._fresh_for
        )
        if guild_id not in self._cache or stale:
            # One load however many requests ask at once (a burst starts with an empty cache).
            loading = asyncio.ensure_future(self._load(guild_id))
            # Shielded below: its waiters may give up (a frozen store) while it goes on.
            loading.add_done_callback(functools.partial(self._loaded, guild_id))
            self._cache[guild_id] = loading
            self._loaded_at[guild_id] = time.monotonic()
        try:
            return await asyncio.shield(self._cache[guild_id])
        except Exception:
            self._cache.pop(guild_id, None)  # not kept: the next request loads again
            raise

    def _loaded(self, guild_id: int, loading: asyncio.Future[ServerSettings]) -> None:
        # A failure is seen here even if every waiter gave up, and not kept for the next one.
        if loading.cancelled() or loading.exception() is None:
            return
        log.info("loading the settings of guild %d failed: %r", guild_id, loading.exception())
        if self._cache.get(guild_id) is loading:
            del self._cache[guild_id]

    async def moderator_roles(self, guild_id: int | None) -> frozenset[int]:
        """The roles that count as moderators in a server: the operator's and its own."""
        server = await self.get(guild_id)
        return self._operator.moderator_roles | server.moderator_roles

    async def with_alerts(self) -> dict[int, ServerSettings]:
        """Every server that has an alerts channel."""
        return {guild: await self.get(guild) for guild in await self._store.guilds_with_alerts()}

    async def change(self, guild_id: int, user_id: int, setting: str, value: object) -> object:
        """Set one of a server's settings; returns the old value."""
        assert setting in SERVER_SETTINGS, setting
        old = getattr(await self.get(guild_id), setting)
        await self._store.set_server_setting(guild_id, setting, value)
        await self._changed(guild_id, user_id, setting, old, value)
        return old

    async def add(
        self, guild_id: int, user_id: int, kind: ListKind, values: list[str]
    ) -> list[str]:
        """Add to one of a server's lists; returns what was new."""
        current = await self._list(guild_id, kind)
        added = [v for v in values if v not in current]
        for value in added:
            await self._store.add_to_server_list(guild_id, kind, value)
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
            await self._store.remove_from_server_list(guild_id, kind, value)
        if gone:
            after = sorted(v for v in current if v not in gone)
            await self._changed(guild_id, user_id, kind, sorted(current), after)
        return gone

    async def _changed(
        self, guild_id: int, user_id: int, setting: str, old: object, new: object
    ) -> None:
        self._cache.pop(guild_id, None)
        await self._store.record_config_change(
            time.time(), guild_id, user_id, setting, json.dumps(old), json.dumps(new)
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
        return await self._store.server_list(guild_id, kind)

    async def _load(self, guild_id: int) -> ServerSettings:
        row = await self._store.server_settings(guild_id)
        settings = ServerSettings()
        if row:
            settings = dataclasses.replace(
                settings,
                cooldown_seconds=row.get("cooldown_seconds"),
                daily_limit=int(row.get("daily_limit") or 0),
                budget=float(row.get("budget") or 0),
                alerts_channel_id=row.get("alerts_channel_id"),
                alerts_below=row.get("alerts_below"),
                open_reroll=None if row.get("open_reroll") is None else bool(row["open_reroll"]),
                safety_mode=row.get("safety_mode"),
                safety_log_channel_id=row.get("safety_log_channel_id"),
                language=row.get("language"),
            )
        return dataclasses.replace(
            settings,
            channels=frozenset(int(v) for v in await self._list(guild_id, ListKind.CHANNELS)),
            moderator_roles=frozenset(
                int(v) for v in await self._list(guild_id, ListKind.MODERATOR_ROLES)
            ),
            blocked_words=tuple(await self._list(guild_id, ListKind.BLOCKED_WORDS)),
            operator_words=self._operator.blocked_words,
        )
