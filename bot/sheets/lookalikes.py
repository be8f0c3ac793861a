"""How letters look: Unicode's confusables (UTS #39), so a Cyrillic "а" reads as the Latin "a".

The data is Unicode's confusables.txt as the `confusable-homoglyphs` package ships it
(generated in January 2024 from the then latest file, version 15.1). The package keeps each
pair both ways round, so what it gives is classes of characters that look alike rather than
TR39's direction; each class is read as one representative: its lower-case ASCII letter if it
has one, else its TR39 prototype where the pairs show it, else its lowest character. Two
choices for the word filter on top: plain ASCII is read as typed, so "m" is not "rn" and
"burn" is not "bum"; and Latin small capitals ("ᴀ", "ʀ"), which Unicode gives no case mapping,
are read as their small letters, as upper case is.
"""

# Look-alike letters are what this module is about.
# ruff: noqa: RUF002

from __future__ import annotations

import asyncio
import functools
import unicodedata
from collections.abc import Iterable

# The package copies each character from the file's comments, where right-to-left ones are
# wrapped in left-to-right marks.
_BIDI_MARKS = str.maketrans("", "", "\u200e\u200f")

# Scripts that are every script's: punctuation, digits, combining accents.
_SHARED_SCRIPTS = frozenset({"COMMON", "INHERITED", "Unknown"})


# Where the Latin small capitals are: IPA Extensions, Phonetic Extensions, Latin Extended-D.
_SMALL_CAPITAL_BLOCKS = ((0x0250, 0x02AF), (0x1D00, 0x1D7F), (0xA720, 0xA7FF))


def _small_capitals() -> dict[str, str]:
    """Each Latin small capital and the small letter it stands for ("ᴀ": "a"). Greek and
    Cyrillic ones are left to the confusables: "ᴦ", a small capital gamma, looks like "r"."""
    found: dict[str, str] = {}
    for low, high in _SMALL_CAPITAL_BLOCKS:
        for point in range(low, high + 1):
            name = unicodedata.name(chr(point), "")
            if name.startswith("LATIN LETTER SMALL CAPITAL "):
                try:
                    found[chr(point)] = unicodedata.lookup(
                        "LATIN SMALL LETTER " + name.removeprefix("LATIN LETTER SMALL CAPITAL ")
                    )
                except KeyError:
                    continue
    return found


def _classes() -> list[tuple[set[str], set[str]]]:
    """Unicode's confusable classes, a small capital in its letter's, each with the members
    known to be TR39 prototypes (a prototype stands for several characters or a sequence)."""
    from confusable_homoglyphs import confusables  # its data loads on import: only when needed

    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    parent: dict[str, str] = {}
    degree: dict[str, int] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = node = parent[parent[node]]
        return node

    def join(one: str, other: str) -> None:
        parent[root(one)] = root(other)

    for key, pairs in data.items():
        source = key.translate(_BIDI_MARKS)
        degree[source] = len(pairs)
        for pair in pairs:
            join(source, pair["c"].translate(_BIDI_MARKS))
    for small_capital, letter in _small_capitals().items():
        join(small_capital, letter)
    members: dict[str, set[str]] = {}
    for node in list(parent):
        members.setdefault(root(node), set()).add(node)
    return [
        (nodes, {n for n in nodes if degree.get(n, 0) > 1 or len(n) > 1})
        for nodes in members.values()
    ]


def _representative(nodes: set[str], prototypes: set[str]) -> str:
    """How a class is read: its lower-case ASCII letter, else an ASCII character, else its
    prototype, else its lowest character."""

    def rank(node: str) -> tuple[bool, bool, bool, str]:
        plain_letter = node.isascii() and node.isalpha() and node.islower()
        return (not plain_letter, not node.isascii(), node not in prototypes, node)

    return min((n for n in nodes if len(n) == 1), key=rank)


def _build() -> dict[int, str]:
    """The look-alike table for str.translate."""
    reading: dict[str, str] = {}
    for nodes, prototypes in _classes():
        representative = _representative(nodes, prototypes)
        for node in nodes:
            if len(node) == 1 and not node.isascii():
                reading[node] = representative

    def read(text: str) -> str:
        return "".join(reading.get(char, char).casefold() for char in text)

    table: dict[int, str] = {}
    for char in reading:
        seen = read(char)
        for _ in range(3):  # a reading may case-fold to a character read as another
            again = read(seen)
            if again == seen:
                break
            seen = again
        if seen != char:
            table[ord(char)] = seen
    return table


@functools.cache
def _table() -> dict[int, str]:
    # Built on first use (about 0.1 s of CPU): most processes never compare a blocked word.
    return _build()


def ready() -> bool:
    """Whether the look-alike table is built (`prepare` would return at once)."""
    return bool(_table.cache_info().currsize)


async def prepare() -> None:
    """Build the look-alike table in a thread, so the first check does not stall the loop."""
    if not _table.cache_info().currsize:
        await asyncio.to_thread(_table)


def skeleton(text: str) -> str:
    """`text` with each letter read as the one it looks like (after case folding)."""
    return text.translate(_table())


@functools.lru_cache(maxsize=4096)
def script(char: str) -> str:
    """The Unicode script of `char` ("LATIN", "CYRILLIC", "COMMON", ...)."""
    from confusable_homoglyphs import categories

    found: str = categories.alias(char)
    return found


def scripts(text: Iterable[str]) -> frozenset[str]:
    """The scripts of the letters in `text`, leaving out those every script shares."""
    return frozenset(script(char) for char in text) - _SHARED_SCRIPTS
