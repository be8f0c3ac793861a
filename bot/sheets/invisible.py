"""What draws nothing: the one definition the prompt check and the blocked-word filter share.

A character is invisible when Unicode says it is ignorable (Default_Ignorable_Code_Point), when
it is a format (Cf) or control (Cc) character, or when it is a known blank that fonts draw as
empty room; white space is not invisible, it separates words. A prompt needs at least one
character that is neither invisible, white space nor a mark on its own; the word filter reads
invisible characters as nothing, so "dra\u200bgon" is "dragon".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Default_Ignorable_Code_Point, copied from Unicode 15.0.0 DerivedCoreProperties.txt
# (https://www.unicode.org/Public/15.0.0/ucd/DerivedCoreProperties.txt): the Unicode version
# of Python 3.11's unicodedata, which has no such property of its own.
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels AQ and AA
    (0x180B, 0x180D),  # Mongolian free variation selectors one to three
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x180F, 0x180F),  # Mongolian free variation selector four
    (0x200B, 0x200F),  # zero-width space, joiners, left-to-right and right-to-left marks
    (0x202A, 0x202E),  # bidirectional embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2065, 0x2065),  # reserved
    (0x2066, 0x206F),  # bidirectional isolates, deprecated format characters
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol beams, ties, slurs and phrases
    (0xE0000, 0xE0FFF),  # language tag, tag characters, variation selectors supplement, reserved
)

# Blanks: characters that draw nothing yet take up room, so a reader sees a gap. The Hangul
# fillers are Default_Ignorable too; the Braille blank is a symbol (So) Unicode does not
# ignore. The word filter reads a prompt with them both as nothing and as spaces.
BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# White_Space, from Unicode 15.0.0 PropList.txt. Not Python's str.isspace, which also counts
# the controls U+001C to U+001F (Unicode's information separators, which draw nothing).
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _category_points(categories: Iterable[str]) -> list[int]:
    """Code points of the given general categories in Python's Unicode database: planes 0, 1
    and 14 hold every format and control character."""
    wanted = frozenset(categories)
    return [
        point
        for plane in (range(0x20000), range(0xE0000, 0xE1000))
        for point in plane
        if unicodedata.category(chr(point)) in wanted
    ]


_INVISIBLE_POINTS = (
    {point for low, high in DEFAULT_IGNORABLE for point in range(low, high + 1)}
    | set(_category_points(("Cf", "Cc")))
    | {ord(char) for char in BLANKS}
) - {ord(char) for char in WHITE_SPACE}

INVISIBLE = frozenset(map(chr, _INVISIBLE_POINTS))


def _char_class(points: Iterable[int]) -> str:
    """A regular expression character class matching `points`, as ranges."""
    ranges: list[tuple[int, int]] = []
    for point in sorted(points):
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return "[" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges) + "]"


_INVISIBLE_RUN = re.compile(_char_class(_INVISIBLE_POINTS) + "+")
_BLANK_RUN = re.compile(_char_class(map(ord, BLANKS)) + "+")


def is_invisible(char: str) -> bool:
    """Whether `char` draws nothing and is not white space."""
    return char in INVISIBLE


def remove_invisible(text: str) -> str:
    """`text` without its invisible characters."""
    return _INVISIBLE_RUN.sub("", text)


def blanks_as_spaces(text: str) -> str:
    """`text` with each run of blanks made one space."""
    return _BLANK_RUN.sub(" ", text)


def has_visible_text(text: str) -> bool:
    """Whether `text` shows anything: a character that is not invisible, not white space and
    not a nonspacing mark (which draws nothing without a letter to sit on)."""
    return any(
        char not in INVISIBLE and char not in WHITE_SPACE and unicodedata.category(char) != "Mn"
        for char in text
    )
