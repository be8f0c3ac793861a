"""The catalogs (bot/locales): every language has every message the code says, translated, with
the same placeholders, within Discord's limits, and none left over or fuzzy."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import discord
import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from discord.ext import commands
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.discord.app import EXTENSIONS
from bot.discord.languages import CommandTranslator
from bot.sheets import texts
from bot.sheets.locales import (
    ENGLISH,
    TRANSLATED,
    CldrWriter,
    EnglishWriter,
    Text,
    catalog_path,
    for_member,
    for_server,
    language,
    translations,
)

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "n_": (1, 2), "N_": None, "locale_str": None}
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _code_messages() -> dict[str, str | None]:
    """Every message the code marks for translation (singular -> plural), as `make
    translations` extracts them."""
    found: dict[str, str | None] = {}
    for folder in ("bot", "cogs"):
        for _, _, message, _, _ in extract_from_dir(ROOT / folder, keywords=KEYWORDS):
            if isinstance(message, tuple):
                found[message[0]] = message[1]
            else:
                found[message] = None
    return found


CODE = _code_messages()


def _catalog(code: str) -> Catalog:
    """A language's catalog as translators edit it (its plural forms as its header says)."""
    with catalog_path(code).open("rb") as po:
        return read_po(po, abort_invalid=True)


def _strings(message: Message) -> list[str]:
    string = message.string
    return [str(s) for s in string] if isinstance(string, list | tuple) else [str(string or "")]


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_is_translated_once_with_its_placeholders(code: str) -> None:
    catalog = _catalog(code)
    entries = {str(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}
    assert sorted(set(CODE) - set(entries)) == [], "missing from the catalog"
    assert sorted(set(entries) - set(CODE)) == [], "in the catalog, no longer in the code"
    for msgid, message in entries.items():
        assert not message.fuzzy, f"fuzzy: {msgid!r}"
        strings = _strings(message)
        if CODE[msgid] is not None:
            assert len(strings) == catalog.num_plurals, f"plural forms of {msgid!r}"
        for translated in strings:
            assert translated.strip(), f"untranslated: {msgid!r}"
            assert _placeholders(translated) == _placeholders(msgid), (
                f"placeholders differ in {code}: {msgid!r} -> {translated!r}"
            )


@pytest.mark.parametrize("code", TRANSLATED)
def test_each_catalog_counts_as_its_language_does(code: str) -> None:
    # The bot reads the plural rule from the catalog's header (`make translations` keeps it).
    rule = get_plural(Locale.parse(code, sep="-"))
    catalog = _catalog(code)
    assert catalog.num_plurals == rule.num_plurals
    told, cldr = gettext.c2py(catalog.plural_expr), gettext.c2py(rule.plural_expr)
    assert [told(n) for n in range(1200)] == [cldr(n) for n in range(1200)]


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalog_the_bot_reads_is_the_one_translators_edit(code: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(code))
    compiled.seek(0)
    from_po = gettext.GNUTranslations(compiled)
    read = translations(code)
    assert isinstance(read, gettext.GNUTranslations), "run make translations"
    assert read._catalog == from_po._catalog, "bot.mo is stale: run make translations"  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_translation_can_be_filled_in(code: str) -> None:
    # A stray brace would make str.format fail at the moment a member is answered.
    for message in _catalog(code):
        for translated in _strings(message) if message.id else []:
            names = _placeholders(translated)
            translated.format(**dict.fromkeys(names, "x"))


@pytest.mark.parametrize("code", TRANSLATED)
def test_labels_fit_discords_limits(code: str) -> None:
    say = language(code).say
    for label in (
        texts.PROMPT_FIELD,
        texts.NEGATIVE_FIELD,
        texts.STRENGTH_FIELD,
        texts.SEED_FIELD,
        texts.NAME_FIELD,
        texts.EDIT_FORM_TITLE,
        texts.SAVE_FORM_TITLE,
        texts.POSE_FORM_TITLE,
    ):
        assert 1 <= len(say(label)) <= 45, say(label)  # a modal's title, a text input's label
    for button in (texts.REROLL, texts.EDIT, texts.SAVE, texts.DELETE, texts.PREVIOUS):
        assert 1 <= len(say(button)) <= 80, say(button)
    assert 1 <= len(say(texts.NEXT)) <= 80


async def _payloads() -> list[dict[str, object]]:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents(guilds=True))
    await bot.tree.set_translator(CommandTranslator())
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    translator = bot.tree.translator
    assert translator is not None
    return [await c.get_translated_payload(bot.tree, translator) for c in bot.tree.get_commands()]


def _localized(payload: object, path: str = "") -> list[tuple[str, str, dict[str, str] | None]]:
    """Every text of a command's payload a member reads: where, its English, its translations
    (every description, choices' names; an option's name only if it has any, which it must not)."""
    found: list[tuple[str, str, dict[str, str] | None]] = []
    if isinstance(payload, dict):
        if "description" in payload:
            localized = payload.get("description_localizations")
            found.append((f"{path}.description", payload["description"], localized))
        if payload.get("name_localizations") or "value" in payload:  # a choice has a value
            found.append((f"{path}.name", payload["name"], payload.get("name_localizations")))
        for key in ("options", "choices"):
            for n, item in enumerate(payload.get(key) or []):
                found += _localized(item, f"{path}.{key}[{n}]")
    return found


async def test_commands_describe_themselves_in_every_language_within_1_to_100_chars() -> None:
    for payload in await _payloads():
        assert not payload.get("name_localizations") or payload.get("type") == 3, payload["name"]
        for where, english, localized in _localized(payload, str(payload["name"])):
            if english in ("…", "") or english in texts.LANGUAGE_NAMES.values():
                continue  # no words to translate: discord.py's "…", a language's own name
            if where.endswith(".name") and "choices" not in where:
                assert payload.get("type") == 3, f"{where}: names stay English"
            assert localized, where
            limit = 32 if where.endswith(".name") and payload.get("type") == 3 else 100
            expected = {*TRANSLATED, "es-419"} - {ENGLISH}
            assert set(localized) == expected, f"{where}: {sorted(expected - set(localized))}"
            for code, said in localized.items():
                assert 1 <= len(said) <= limit, f"{where} in {code}: {said!r}"


def test_a_member_is_answered_in_their_language_and_unknown_ones_fall_back_to_english() -> None:
    assert for_member(None, "de") == "de"
    assert for_member(None, "es-419") == "es-ES"  # Latin American Spanish: the Spanish catalog
    assert for_member(None, "en-GB") == ENGLISH
    assert for_member(None, "nl") == ENGLISH  # no Dutch catalog
    assert for_member(None, "xx-Nowhere") == ENGLISH
    assert for_member("ja", "de") == "ja"  # the server chose Japanese for everyone
    assert for_server(None, "fr") == "fr" and for_server(None, None) == ENGLISH
    assert language("nl").code == ENGLISH


def test_german_writes_numbers_and_plurals_its_own_way() -> None:
    de = language("de")
    alert = de.say(texts.balance_alert(1234.5, 2000))
    assert "1.234,50" in alert and "2.000,00" in alert and "Segmind" in alert
    one, two = de.say(texts.usage(1, 0, 0.5)), de.say(texts.usage(2, 0, 1))
    assert "0,50" in one and "1,00" in two and one.split()[1] != two.split()[1]


@settings(max_examples=400, deadline=None)
@example(value=575000.0, places=2, fixed=True, items=["a", "b"])  # 57.5 %: half to even
@example(value=2.675, places=2, fixed=False, items=[])
@example(value=-0.0001, places=2, fixed=True, items=["a"])
@example(value=1234567.891, places=0, fixed=False, items=["a", "b", "c"])
@given(
    value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    places=st.integers(0, 4),
    fixed=st.booleans(),
    items=st.lists(st.text("ab<#>0", min_size=1, max_size=3), max_size=5),
)
def test_english_writes_numbers_and_lists_as_babel_would(
    value: float, places: int, fixed: bool, items: list[str]
) -> None:
    # English is written without reading CLDR's data; it must read as Babel writes it.
    english, cldr = EnglishWriter(), CldrWriter(ENGLISH)
    rounded = round(value, places) + 0.0
    assert english.decimal(rounded, places, fixed) == cldr.decimal(rounded, places, fixed)
    assert english.percent(value / 1e6) == cldr.percent(value / 1e6)
    assert english.seconds(abs(value)) == cldr.seconds(abs(value))
    assert english.listing(items) == cldr.listing(items)


def test_text_of_no_language_reads_as_english_in_logs() -> None:
    assert str(texts.GONE) == "That sheet no longer exists."
    assert isinstance(texts.GONE, Text)
