"""A saved character as both stores keep it: its fields as text or numbers, without its pose."""

from __future__ import annotations

from typing import Any

from bot.sheets.characters import Character
from bot.sheets.request import SheetRequest


def character_record(character: Character) -> dict[str, Any]:
    """The stored fields of a character (ids as text: Lua reads JSON numbers as doubles)."""
    return {
        "name": character.name,
        "owner_id": str(character.owner_id),
        "params": character.request.model_dump_json(),
        "saved_at": character.saved_at,
        "has_pose": int(character.has_pose),
        "pose_note": character.pose_note,
    }


def read_character(shelf: str, record: dict[str, Any]) -> Character:
    """A character from its stored fields."""
    return Character(
        shelf=shelf,
        name=str(record["name"]),
        owner_id=int(record["owner_id"]),
        request=SheetRequest.model_validate_json(record["params"]),
        saved_at=float(record["saved_at"]),
        has_pose=bool(int(record["has_pose"])),
        pose_note=record.get("pose_note"),
    )
