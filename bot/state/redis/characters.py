"""Saved characters in Redis, mixed into `RedisStore`: a hash per shelf (name key → the
character's fields as JSON) and each pose as its own key. Kept until deleted (no expiry)."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as redis
from redis.commands.core import AsyncScript

from bot.sheets.characters import Character, NameTaken, ShelfFull
from bot.state.characters import character_record, read_character


class RedisShelves:
    """`Records`' character methods over the store's client and scripts."""

    _redis: redis.Redis
    _scripts: dict[str, AsyncScript]
    _prefix: str

    async def save_character(self, character: Character, pose: bytes | None, *, limit: int) -> None:
        record = json.dumps(character_record(character))
        saved = await self._scripts["save_character"](
            args=[self._prefix, character.shelf, character.key, record, limit, pose or b""]
        )
        if int(saved) == -1:
            raise NameTaken(character.name, shared=character.shared)
        if int(saved) == -2:
            raise ShelfFull(limit, shared=character.shared)

    async def characters_on(self, shelf: str) -> list[Character]:
        stored = await self._redis.hgetall(self._shelf_key(shelf))
        found = sorted((_text(k), _text(v)) for k, v in stored.items())
        return [read_character(shelf, json.loads(record)) for _, record in found]

    async def character(self, shelf: str, key: str) -> Character | None:
        record = await self._redis.hget(self._shelf_key(shelf), key)
        return None if record is None else read_character(shelf, json.loads(_text(record)))

    async def character_pose(self, shelf: str, key: str) -> bytes | None:
        pose = await self._redis.get(self._pose_key(shelf, key))
        return pose if isinstance(pose, bytes) else None  # the client answers bytes

    async def delete_character(self, shelf: str, key: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._shelf_key(shelf), key)
            pipe.delete(self._pose_key(shelf, key))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def clear_shelf(self, shelf: str) -> int:
        keys = [_text(k) for k in await self._redis.hkeys(self._shelf_key(shelf))]
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.delete(self._pose_key(shelf, key))
            pipe.delete(self._shelf_key(shelf))
            await pipe.execute()
        return len(keys)

    def _shelf_key(self, shelf: str) -> str:
        return f"{self._prefix}characters:{shelf}"  # as save_character.lua builds it

    def _pose_key(self, shelf: str, key: str) -> str:
        return f"{self._prefix}character:{shelf}:{key}:pose"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
