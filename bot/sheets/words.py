"""Blocked words: a prompt naming one, as a whole word in any case, width, accent or look-alike
letters, is refused.

Text is compared after `normalize` (NFKC, case folding, accents and invisible characters
removed) and split into words, a word being a run of letters, digits and the marks that belong
to them. "dragon" is found in "DRAGON's", "Dragón!" and full-width "DRAGON", never in "dragonfly".
Scripts written without spaces (Chinese, Japanese, Thai, ...) have no word boundaries to go
by, so there each character counts as a word of its own: "ドラゴン" is found in "赤いドラゴンの絵".
A blank that leaves a gap (the Hangul fillers, the Braille blank) is read both as nothing and
as a space, so "dra<U+2800>gon" is "dragon" and "red<U+2800>eyes" is "red eyes".

Words are also compared by their look (`bot.sheets.lookalikes`: Unicode's confusables, small
capitals read as letters, plain ASCII as typed): "drаgon" with a Cyrillic "а", "dragοn" with a
Greek "ο" and "ᴅʀᴀɢᴏɴ" are "dragon". That is still a whole-word match: every letter of the
prompt's word must look like the blocked word's, so "drаgonfly" is not "dragon". One exception
keeps other languages apart: a word written wholly in a script the blocked word does not use
is a word of that script, not a disguise, when the prompt also has a letter of that script that
looks like none of the blocked word's letters. So blocking "cop" refuses "a сор" (only the
disguise is Cyrillic) but not the Russian "сор на полу" ("н", "л" look like no letter of
"cop"); a Russian or Japanese blocked word still matches itself.
"""

# Look-alike letters are what this module is about.
# ruff: noqa: RUF002

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.sheets import texts
from bot.sheets.invisible import BLANKS, blanks_as_spaces, remove_invisible
from bot.sheets.locales import Text
from bot.sheets.lookalikes import script, scripts, skeleton

MAX_ENTRY_LENGTH = 100

# Split a moderator's list on commas, including the ideographic and Arabic ones (NFKC has
# already turned the full-width comma into ",").
_ENTRY_SEPARATORS = re.compile("[,\u3001\u060c]")


def _char_class(*ranges: tuple[int, int]) -> str:
    """A regular expression character class matching code points in `ranges`."""
    return (
        "[" + "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges) + "]"
    )


def _mark_ranges() -> list[tuple[int, int]]:
    """Code point ranges of combining marks ("M"), read from Python's Unicode database once:
    planes 0, 1 and 14 hold all of them (about 25 ms)."""
    ranges: list[tuple[int, int]] = []
    for point in itertools.chain(range(0x20000), range(0xE0000, 0xE1000)):
        if unicodedata.category(chr(point))[0] != "M":
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return ranges


# Accents are the generic combining diacritics (Latin, Greek, Cyrillic: "é", "ñ", "ё").
# Script-specific marks are letters' parts, not decoration, and stay: stripping the kana
# voicing mark would make "ガキ" the same word as "カキ".
_ACCENT = re.compile(
    _char_class(
        (0x0300, 0x036F),  # combining diacritical marks
        (0x1AB0, 0x1AFF),  # ... extended
        (0x1DC0, 0x1DFF),  # ... supplement
        (0x20D0, 0x20FF),  # ... for symbols
        (0xFE20, 0xFE2F),  # combining half marks
    )
)

# Scripts written without spaces between words: each character is a word of its own.
_UNSPACED = _char_class(
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # ideographic iteration mark, closing mark, number zero
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK unified ideographs extensions B and later
)

# A word: a run of letters, digits and combining marks, or one character of an unspaced script.
_MARK = _char_class(*_mark_ranges())
_WORD = re.compile(rf"{_UNSPACED}|(?:(?!{_UNSPACED})(?:[^\W_]|{_MARK}))+")


def _fold(text: str) -> str:
    # Invisible characters (bot.sheets.invisible) would split a word for a naive comparison.
    text = remove_invisible(unicodedata.normalize("NFKC", text)).casefold()
    return unicodedata.normalize("NFKC", _ACCENT.sub("", unicodedata.normalize("NFKD", text)))


def normalize(text: str) -> str:
    """`text` as blocked words are compared: NFKC, case folded, without accents or invisible
    characters, runs of whitespace made one space."""
    folded = _fold(text)
    # Case folding can yield what NFKC recomposes and vice versa; more passes settle it.
    while (again := _fold(folded)) != folded:
        folded = again
    return " ".join(folded.split())


def _words(normalized: str) -> tuple[str, ...]:
    """The words of normalized text, in order."""
    return tuple(_WORD.findall(normalized))


class BadEntry(ValueError):
    """An entry of a blocked-word list that cannot be used; `text` says why."""

    def __init__(self, text: Text) -> None:
        super().__init__(text)
        self.text = text


def parse_words(text: str) -> list[str]:
    """A moderator's comma-separated list as normalized entries, in order, without empties or
    duplicates. Raises `BadEntry` naming an entry that is too long or has no letter or digit."""
    entries: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for raw in _ENTRY_SEPARATORS.split(unicodedata.normalize("NFKC", text)):
        entry = normalize(raw)
        if not entry:
            continue
        if len(entry) > MAX_ENTRY_LENGTH:
            raise BadEntry(texts.entry_too_long(entry[:30], MAX_ENTRY_LENGTH))
        words = _words(entry)
        if not words:
            raise BadEntry(texts.entry_without_letters(entry))
        if words not in seen:  # "Dragon" and "dragon!" block the same thing
            seen.add(words)
            entries.append(entry)
    return entries


@dataclass(frozen=True)
class _Entry:
    """A blocked entry as it is compared: its words as written and as they look, the scripts
    it is written in and the letters it looks made of."""

    rank: int
    words: tuple[str, ...]
    looks: tuple[str, ...]
    scripts: frozenset[str]
    letters: frozenset[str]


class _Reading:
    """A prompt as it is compared: its words as written and as they look."""

    def __init__(self, normalized: str) -> None:
        self.text = normalized
        self.words = _words(normalized)
        # Plain ASCII is read as typed: most prompts need no look-up.
        plain = normalized.isascii()
        self.looks = self.words if plain else tuple(skeleton(word) for word in self.words)
        self._known: dict[tuple[str, frozenset[str]], bool] = {}

    def has(self, entry: _Entry, start: int) -> bool:
        """Whether `entry` is the words from `start`: each one as written, or looking like it
        and not a word of its own script."""
        end = start + len(entry.looks)
        return self.looks[start:end] == entry.looks and all(
            word == wanted or not self._in_own_script(word, entry)
            for word, wanted in zip(self.words[start:end], entry.words, strict=True)
        )

    def _in_own_script(self, word: str, entry: _Entry) -> bool:
        """Whether `word` is written wholly in one script the entry does not use, and the
        prompt shows that script: it has a letter of it that looks like none of the entry's."""
        key = (word, entry.letters)
        if key not in self._known:
            own = scripts(word)
            self._known[key] = (
                len(own) == 1
                and not own <= entry.scripts
                and any(
                    script(char) in own and not entry.letters.issuperset(skeleton(char))
                    for char in set(self.text)
                )
            )
        return self._known[key]


def _readings(prompt: str) -> Iterator[_Reading]:
    """The prompt normalized; when it has blanks, also with them read as spaces."""
    yield _Reading(normalize(prompt))
    if not BLANKS.isdisjoint(prompt):
        yield _Reading(normalize(blanks_as_spaces(prompt)))


class _Index:
    """Blocked entries by how their first word looks, so a prompt is checked in one pass over
    its words."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.by_first_look: dict[str, list[_Entry]] = {}
        for rank, text in enumerate(entries):
            words = _words(normalize(text))
            if words:
                looks = tuple(skeleton(word) for word in words)
                entry = _Entry(
                    rank, words, looks, scripts("".join(words)), frozenset("".join(looks))
                )
                self.by_first_look.setdefault(looks[0], []).append(entry)
        self.entries = entries

    def first_in(self, prompt: str) -> str | None:
        found: int | None = None
        for reading in _readings(prompt):
            for start, look in enumerate(reading.looks):
                for entry in self.by_first_look.get(look, ()):
                    if (found is None or entry.rank < found) and reading.has(entry, start):
                        found = entry.rank
        return None if found is None else self.entries[found]


# Guilds keep their lists for many prompts: build each list's index once, not per prompt.
@functools.lru_cache(maxsize=256)
def _index(entries: tuple[str, ...]) -> _Index:
    return _Index(entries)


def find_blocked(prompt: str, blocked: Iterable[str]) -> str | None:
    """The first entry of `blocked`, in its order, that occurs in `prompt` as whole words
    (a phrase: its words in a row, whatever non-word characters lie between), as written or
    by their look; else None."""
    # Linear: building an index costs the entries' total length (once per list, cached),
    # checking a prompt costs its length plus, per word, the entries whose first word looks
    # like it. A 1000-character prompt against 100 entries takes 0.15 to 0.6 ms once indexed
    # (plain ASCII is the fast end; every other word looking like an entry the slow one).
    return _index(tuple(blocked)).first_in(prompt)
