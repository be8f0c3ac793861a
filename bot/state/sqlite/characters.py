"""Saved characters in SQLite (the `characters` table, schema 5), mixed into `Store`."""

from __future__ import annotations

import asyncio

import aiosqlite

from bot.sheets.characters import Character, NameTaken, ShelfFull
from bot.state.characters import character_record, read_character

_FIELDS = "name, owner_id, params, saved_at, has_pose, pose_note"


class SqliteShelves:
    """`Records`' character methods over the store's connection and write lock."""

    _db: aiosqlite.Connection
    _lock: asyncio.Lock

    async def save_character(self, character: Character, pose: bytes | None, *, limit: int) -> None:
        """Keep a new character: refused if its name is taken on its shelf, or the shelf full."""
        record = character_record(character)
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                async with self._db.execute(
                    "SELECT COUNT(*), SUM(name_key = ?) FROM characters WHERE shelf = ?",
                    (character.key, character.shelf),
                ) as cursor:
                    count, taken = await cursor.fetchone() or (0, 0)
                if taken:
                    raise NameTaken(character.name, shared=character.shared)
                if count >= limit:
                    raise ShelfFull(limit, shared=character.shared)
                await self._db.execute(
                    f"INSERT INTO characters (shelf, name_key, {_FIELDS}, pose)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (character.shelf, character.key, *record.values(), pose),
                )
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()

    async def characters_on(self, shelf: str) -> list[Character]:
        """Every character on a shelf, by name."""
        async with self._db.execute(
            f"SELECT {_FIELDS} FROM characters WHERE shelf = ? ORDER BY name_key", (shelf,)
        ) as cursor:
            return [read_character(shelf, dict(row)) async for row in cursor]

    async def character(self, shelf: str, key: str) -> Character | None:
        async with self._db.execute(
            f"SELECT {_FIELDS} FROM characters WHERE shelf = ? AND name_key = ?", (shelf, key)
        ) as cursor:
            row = await cursor.fetchone()
        return read_character(shelf, dict(row)) if row else None

    async def character_pose(self, shelf: str, key: str) -> bytes | None:
        async with self._db.execute(
            "SELECT pose FROM characters WHERE shelf = ? AND name_key = ?", (shelf, key)
        ) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def delete_character(self, shelf: str, key: str) -> bool:
        return await self._delete("shelf = ? AND name_key = ?", shelf, key) > 0

    async def clear_shelf(self, shelf: str) -> int:
        return await self._delete("shelf = ?", shelf)

    async def _delete(self, where: str, *args: str) -> int:
        async with self._lock:
            cursor = await self._db.execute(f"DELETE FROM characters WHERE {where}", args)
            await self._db.commit()
        return cursor.rowcount
