"""The languages the bot speaks, and how a text becomes words in one of them.

A `Text` is a message in no language yet: its English (also its id in the gettext catalogs,
`bot/locales/<ll>/LC_MESSAGES/bot.po`) and the values it names. It is put into words where it
reaches a person, in the language of that person (`Language.say`): a member's own language for
a message to them, the server's for a message to everyone there. Numbers, percentages and
lists are written as that language writes them (Babel).
"""

from __future__ import annotations

import asyncio
import gettext
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Protocol

CATALOGS = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "bot"
ENGLISH = "en-US"
# Discord's codes for the languages the bot has a catalog for (English needs none).
TRANSLATED = ("de", "fr", "es-ES", "pt-BR", "it", "pl", "ru", "ja", "ko", "zh-CN")
# Discord locales answered in a catalog made for another: the same language.
SAME_AS = {"en-GB": ENGLISH, "es-419": "es-ES"}
SUPPORTED = (ENGLISH, *TRANSLATED)


@dataclass(frozen=True, slots=True)
class Text:
    """Words for a person, in no language yet: `Language.say` puts them into words."""

    message: str
    values: tuple[tuple[str, object], ...] = ()
    plural: str | None = None
    count: int = 1

    def __str__(self) -> str:  # for logs and the operator's terminal: English
        return language(ENGLISH).say(self)


def _(message: str, /, **values: object) -> Text:
    """A message to translate; `{name}` in it is replaced by the value of that name."""
    return Text(message, tuple(values.items()))


def n_(singular: str, plural: str, count: int, /, **values: object) -> Text:
    """A message whose words depend on a count (`{count}` in it), as each language counts."""
    return Text(singular, (("count", Number(count)), *values.items()), plural, count)


def N_(message: str, /) -> str:
    """A message translated later, where it is used (marked here for the catalogs)."""
    return message


@dataclass(frozen=True, slots=True)
class Number:
    """A number as the reader's language writes it ("1,234.50"; in German "1.234,50")."""

    value: float
    places: int = 2
    fixed: bool = False  # keep trailing zeros (money: "0.50")


@dataclass(frozen=True, slots=True)
class Percent:
    value: float  # 0.8 is "80%" ("80 %" in German)


@dataclass(frozen=True, slots=True)
class Seconds:
    value: float  # a duration: "90 sec" ("90 Sek." in German)


@dataclass(frozen=True, slots=True)
class Listing:
    """Several values as one list ("a, b and c"), each put into words."""

    items: tuple[object, ...]

    @classmethod
    def of(cls, items: Iterable[object]) -> Listing:
        return cls(tuple(items))


# What can be put into words: a message, or a value said as the language writes it (a `str`
# is said as it is: a name, a prompt, a mention).
Said = Text | str | Number | Percent | Seconds | Listing


class Language:
    """One language: its catalog, and how it writes numbers. Both are read at first use (or by
    `ready`, in a thread): a process keeps in memory only the languages it speaks."""

    def __init__(self, code: str) -> None:
        self.code = code
        self._translations: gettext.NullTranslations | None = None
        self._writer: Writer | None = None

    @property
    def loaded(self) -> bool:
        return self._translations is not None and self._writer is not None

    def load(self) -> None:
        """Read the catalog and how the language writes numbers."""
        self._words()
        self._numbers()

    def _words(self) -> gettext.NullTranslations:
        if self._translations is None:
            self._translations = translations(self.code)
        return self._translations

    def _numbers(self) -> Writer:
        if self._writer is None:
            self._writer = EnglishWriter() if self.code == ENGLISH else CldrWriter(self.code)
        return self._writer

    def say(self, text: Said) -> str:
        """The text in this language."""
        if not isinstance(text, Text):
            return self._value(text)
        if text.plural is None:
            words = self._words().gettext(text.message)
        else:
            words = self._words().ngettext(text.message, text.plural, text.count)
        if not text.values:
            return words
        return words.format(**{name: self._value(value) for name, value in text.values})

    def _value(self, value: object) -> str:
        if isinstance(value, Text):
            return self.say(value)
        if isinstance(value, Number):
            rounded = round(value.value, value.places) + 0.0  # + 0.0: no "-0"
            return self._numbers().decimal(rounded, value.places, value.fixed)
        if isinstance(value, Percent):
            return self._numbers().percent(value.value)
        if isinstance(value, Seconds):
            return self._numbers().seconds(value.value)
        if isinstance(value, Listing):
            return self._numbers().listing([self._value(item) for item in value.items])
        return str(value)


class Writer(Protocol):
    """How a language writes numbers, percentages, durations and lists."""

    def decimal(self, value: float, places: int, fixed: bool) -> str: ...
    def percent(self, value: float) -> str: ...
    def seconds(self, value: float) -> str: ...
    def listing(self, items: list[str]) -> str: ...


class CldrWriter:
    """As Unicode CLDR says the language writes them, with Babel (its data for the language,
    1-5 MB, is read once: `Language.load`, in a thread)."""

    def __init__(self, code: str) -> None:
        from babel import Locale  # Babel is imported with the first language that needs it

        self._locale = Locale.parse(code, sep="-")
        self._locale.number_symbols  # noqa: B018 - reads the language's CLDR data, once

    def decimal(self, value: float, places: int, fixed: bool) -> str:
        from babel.numbers import format_decimal

        pattern = "#,##0." + ("0" if fixed else "#") * places
        return format_decimal(value, format=pattern.rstrip("."), locale=self._locale)

    def percent(self, value: float) -> str:
        from babel.numbers import format_percent

        return format_percent(value, locale=self._locale)

    def seconds(self, value: float) -> str:
        from babel.units import format_unit

        return format_unit(value, "duration-second", length="short", locale=self._locale)

    def listing(self, items: list[str]) -> str:
        from babel.lists import format_list

        return format_list(items, locale=self._locale)


class EnglishWriter:
    """English as CLDR writes it ("1,234.5", "80%", "60 sec", "a, b, and c"), without reading
    CLDR's data for English and the root (6 MB, and tens of milliseconds the first time): most
    members read English. `tests/test_catalogs.py` checks it against Babel's."""

    def decimal(self, value: float, places: int, fixed: bool) -> str:
        text = f"{_exact(Decimal(repr(value)), places):,f}"
        return text if fixed or "." not in text else text.rstrip("0").rstrip(".")

    def percent(self, value: float) -> str:
        return f"{_exact(Decimal(repr(value)) * 100, 0):,f}%"

    def seconds(self, value: float) -> str:
        return f"{self.decimal(value, 3, False)} sec"

    def listing(self, items: list[str]) -> str:
        if len(items) <= 2:
            return " and ".join(items)
        return ", ".join(items[:-1]) + ", and " + items[-1]


def _exact(value: Decimal, places: int) -> Decimal:
    # As Babel rounds a float: its shortest decimal (repr), then half to even.
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def supported(code: str | None) -> str | None:
    """The catalog's code for a Discord locale, if the bot speaks it."""
    if code is None:
        return None
    code = SAME_AS.get(code, code)
    return code if code in SUPPORTED else None


def for_member(chosen: str | None, member: str | None) -> str:
    """The language a member is answered in: the server's chosen language (None: each member's own),
    else the member's own, else English."""
    return supported(chosen) or supported(member) or ENGLISH


def for_server(chosen: str | None, server: str | None) -> str:
    """What a server's channels are told in: its chosen language, else Discord's preferred
    locale of the server (Community servers set it), else English."""
    return supported(chosen) or supported(server) or ENGLISH


_SPOKEN: dict[str, Language] = {}


def language(code: str) -> Language:
    """The language of a supported code (any other: English)."""
    code = supported(code) or ENGLISH
    spoken = _SPOKEN.get(code)
    if spoken is None:
        spoken = _SPOKEN[code] = Language(code)
    return spoken


async def ready(code: str) -> Language:
    """The language of `code`, its catalog and number formats read (in a thread, once: some
    milliseconds and a few MB of data, never on the event loop)."""
    spoken = language(code)
    if not spoken.loaded:
        await asyncio.to_thread(spoken.load)
    return spoken


def catalog_path(code: str) -> Path:
    return CATALOGS / code.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogs_digest() -> str:
    """What the catalogs say, in one digest: the commands' translations change with it."""
    digest = hashlib.sha256()
    for code in TRANSLATED:
        digest.update(catalog_path(code).with_suffix(".mo").read_bytes())
    return digest.hexdigest()


def translations(code: str) -> gettext.NullTranslations:
    """A language's catalog, ready to look messages up in: the `bot.mo` that `make
    translations` compiles from the `bot.po` (a test fails when they differ). Fuzzy entries are
    not in it; an untranslated message falls back to the English."""
    if code == ENGLISH:
        return gettext.NullTranslations()
    with catalog_path(code).with_suffix(".mo").open("rb") as mo:
        return gettext.GNUTranslations(mo)
