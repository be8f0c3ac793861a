"""Characters that last: a sheet's settings and pose saved under a name, by a member for
themselves (everywhere) or shared by a moderator with one server. Kept until deleted.

The rules live here (names, limits, which shelf a name is found on); the stores
(`bot.state.sqlite.characters`-like methods on each `Records`) only keep and find them, and
enforce the limit and the unique name in one atomic step each.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.sheets import texts
from bot.sheets.request import SheetRequest
from bot.sheets.rules import Refused

NAME_CHARS = 32
MAX_SHARED = 100  # shared characters per server


def member_shelf(user_id: int) -> str:
    """Where a member's own characters are kept (the same in every server)."""
    return f"member:{user_id}"


def server_shelf(guild_id: int) -> str:
    """Where a server's shared characters are kept."""
    return f"server:{guild_id}"


def name_key(name: str) -> str:
    """What makes two names the same: compared case-insensitively (and width-insensitively)."""
    return unicodedata.normalize("NFKC", " ".join(name.split())).casefold()


def clean_name(name: str) -> str:
    """A name as typed, spaces tidied; refused if it is empty or too long."""
    tidy = " ".join(name.split())
    if not 1 <= len(tidy) <= NAME_CHARS:
        raise Refused(texts.bad_character_name(NAME_CHARS))
    return tidy


@dataclass(frozen=True)
class Character:
    """A saved character: everything to draw it again (its pose bytes are kept beside it)."""

    shelf: str
    name: str
    owner_id: int  # who saved it (for a shared one: the moderator who shared it)
    request: SheetRequest  # prompt, negative prompt, seed, strength, steps, guidance, upscale
    saved_at: float
    has_pose: bool = False
    pose_note: str | None = None

    @property
    def key(self) -> str:
        return name_key(self.name)

    @property
    def shared(self) -> bool:
        return self.shelf.startswith("server:")


class NameTaken(Refused):
    def __init__(self, name: str, *, shared: bool = False) -> None:
        super().__init__(texts.character_name_taken(name, shared=shared))


class ShelfFull(Refused):
    def __init__(self, limit: int, *, shared: bool = False) -> None:
        super().__init__(texts.characters_full(limit, shared=shared))
        self.limit = limit


class NoSuchCharacter(Refused):
    def __init__(self, name: str) -> None:
        super().__init__(texts.no_such_character(name))
