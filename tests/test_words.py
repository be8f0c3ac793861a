"""Blocked words: whole words only, in any case, width or accent, not fooled by invisible marks."""

# Look-alike letters and punctuation are what these tests are about.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import random
import string
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sheets.words import find_blocked, normalize, parse_words


@pytest.mark.parametrize(
    "prompt",
    [
        "DRAGON",
        "Dragón",
        "ＤＲＡＧＯＮ",
        "a red dragon",
        "dragon!",
        "(dragon)",
        "a-dragon",
        "DRAGON's lair",
        "#dragon",
        "dragon_rider",  # a word is letters and digits: the underscore separates
        "dra\u200bgon",  # zero-width space
        "dra\u00adgon",  # soft hyphen
        "dra\u2060gon",  # word joiner
        "dra\ufe0fgon",  # variation selector
        "\u202edragon\u202c",  # bidirectional override
        "Dr\u0061\u0301gon",  # a combining accent, not a precomposed letter
        "ｄｒａｇｏｎ",  # full-width lower case
        "dra\u17b4gon",  # Khmer inherent vowel AQ (Default_Ignorable, a mark)
        "dra\u17b5gon",  # Khmer inherent vowel AA
        "dra\x00gon",  # a control character
        "dra\x1fgon",  # unit separator: a control, though Python's isspace says space
        "dra\x7fgon",  # delete
        "dra\x9bgon",  # a C1 control
        "dra\u3164gon",  # Hangul filler
        "dra\u115f\u1160gon",  # Hangul choseong and jungseong fillers
        "dra\uffa0gon",  # half-width Hangul filler
        "dra\u2800gon",  # Braille blank
        "dra\U000e0067gon",  # a tag character
    ],
)
def test_a_blocked_word_is_found_in_any_case_width_accent_or_punctuation(prompt: str) -> None:
    assert find_blocked(prompt, ["dragon"]) == "dragon"


@pytest.mark.parametrize(
    "prompt",
    ["dragonfly", "xdragon", "dragons", "dragon2", "snapdragon", "dra gon", "d-r-a-g-o-n", ""],
)
def test_a_blocked_word_inside_a_longer_word_is_not_found(prompt: str) -> None:
    assert find_blocked(prompt, ["dragon"]) is None


@pytest.mark.parametrize(
    "prompt",
    [
        "red eyes",
        "Red-Eyes",
        "glowing RED, eyes!",
        "red\n\teyes",
        "réd  éyes",
        "red\u2800eyes",  # a blank leaves a gap: it is read as a space too
        "red\u3164eyes",
        "red\uffa0\uffa0eyes",
    ],
)
def test_a_phrase_is_found_when_its_words_follow_each_other(prompt: str) -> None:
    assert find_blocked(prompt, ["red eyes"]) == "red eyes"


@pytest.mark.parametrize("prompt", ["red eyeshadow", "eyes red", "bored eyes", "red and eyes"])
def test_a_phrase_is_not_found_when_its_words_are_apart_or_part_of_others(prompt: str) -> None:
    assert find_blocked(prompt, ["red eyes"]) is None


@pytest.mark.parametrize(
    ("blocked", "prompt", "found"),
    [
        ("дракон", "ДРАКОН!", True),
        ("дракон", "драконы", False),
        ("ёлка", "Ёлка в снегу", True),  # Cyrillic ё folds to е, as é to e
        ("δράκος", "ΔΡΑΚΟΣ", True),  # final sigma folds to sigma
        ("ドラゴン", "赤いドラゴンの絵", True),  # Japanese has no spaces: characters are words
        ("ドラゴン", "ﾄﾞﾗｺﾞﾝ", True),  # half-width katakana
        ("ガキ", "カキ", False),  # the kana voicing mark is part of a letter, not an accent
        ("龍", "青い龍", True),
        ("किताब", "एक किताब।", True),  # Devanagari vowel signs stay inside the word
        ("किताब", "किताबें", False),
    ],
)
def test_words_of_other_scripts(blocked: str, prompt: str, found: bool) -> None:
    entry = parse_words(blocked)[0]
    assert find_blocked(prompt, [entry]) == (entry if found else None)


def test_the_first_blocked_entry_in_list_order_is_named_as_given() -> None:
    assert find_blocked("the dragon has red eyes", ["red eyes", "dragon"]) == "red eyes"
    assert find_blocked("the dragon has red eyes", ["dragon", "red eyes"]) == "dragon"
    assert find_blocked("nothing here", ["dragon", "red eyes"]) is None
    assert find_blocked("dragon", []) is None
    assert find_blocked("dragon", ["", "!!", "dragon"]) == "dragon"  # unmatchable ones skipped


def test_a_changed_list_is_used_at_once() -> None:
    blocked = ["knight"]
    assert find_blocked("a dragon", blocked) is None
    blocked.append("dragon")
    assert find_blocked("a dragon", blocked) == "dragon"


def test_normalize_folds_case_width_accents_and_invisible_characters() -> None:
    assert normalize("  Ｃafé\u200b  au\tLAIT\n") == "cafe au lait"
    assert normalize("Straße") == "strasse"
    assert normalize("ﬁre") == "fire"  # ligatures come apart (NFKC)


def test_moderators_list_is_split_normalized_and_deduplicated_in_order() -> None:
    given = " Dragon, red  eyes,, DRAGON ,dragon!，Ёлка、 悪魔 ,  "
    assert parse_words(given) == ["dragon", "red eyes", "елка", "悪魔"]
    assert parse_words("") == []
    assert parse_words(" , ,") == []


def test_an_entry_of_100_characters_is_accepted_and_of_101_refused() -> None:
    assert parse_words("a" * 100) == ["a" * 100]
    with pytest.raises(ValueError, match="longer than 100 characters"):
        parse_words("dragon, " + "a" * 101)


def test_an_entry_without_a_letter_or_digit_is_refused() -> None:
    with pytest.raises(ValueError, match="no letter or digit"):
        parse_words("dragon, !?!")
    assert parse_words("dragon, \u200b\u200b") == ["dragon"]  # invisible only: an empty entry


def test_a_long_prompt_against_a_thousand_entries_is_fast() -> None:
    rng = random.Random(7)

    def word() -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10)))

    blocked = [word() if rng.random() < 0.7 else f"{word()} {word()}" for _ in range(1000)]
    prompt = " ".join(word() for _ in range(200))[:1000]
    started = time.perf_counter()
    for n in range(100):
        find_blocked(prompt + str(n), blocked)
    # A quadratic scan (every entry against every position) takes seconds here.
    assert time.perf_counter() - started < 1.0


# --- properties ----------------------------------------------------------------------------------

LETTERS = string.ascii_lowercase + "абвгдежзиклмнопрстуфхцчшщъыьэюя" + "αβγδεζηθικλμνξοπρστυφχψω"
ACCENTS = "\u0300\u0301\u0308\u0327"  # grave, acute, diaeresis, cedilla
INVISIBLE = "\u200b\u200c\u200d\u00ad\u2060\ufeff"
# Characters that are never part of a word, however they are normalized.
SEPARATORS = " \t\n!?.,;:-'\"()[]{}<>/\\|@#$%&*+=~`_…—–«»¡¿•★🐉！？、。"

words = st.text(alphabet=LETTERS, min_size=1, max_size=12)
separators = st.text(alphabet=SEPARATORS, min_size=1, max_size=5)


def disguises(char: str) -> st.SearchStrategy[str]:
    """The ways a letter can be written and still be that letter to a reader."""
    forms = [char, char.upper(), *(char + accent for accent in ACCENTS)]
    forms += [char + mark for mark in INVISIBLE]
    if char in string.ascii_lowercase:
        forms += [chr(ord(char) - ord("a") + 0xFF41), chr(ord(char) - ord("a") + 0xFF21)]
    return st.sampled_from(forms)


@st.composite
def disguised(draw: st.DrawFn, word: str) -> str:
    return "".join(draw(disguises(char)) for char in word)


@given(word=words, before=st.text(), after=st.text(), data=st.data())
def test_a_blocked_word_is_found_however_disguised_between_any_non_word_characters(
    word: str, before: str, after: str, data: st.DataObject
) -> None:
    entry = parse_words(word)[0]
    prompt = (
        before + data.draw(separators) + data.draw(disguised(word)) + data.draw(separators) + after
    )
    assert find_blocked(prompt, [entry]) == entry


@given(word=words, prefix=st.text(LETTERS, max_size=4), suffix=st.text(LETTERS, max_size=4))
def test_a_blocked_word_inside_a_longer_word_is_never_found(
    word: str, prefix: str, suffix: str
) -> None:
    longer = prefix + word + suffix
    if normalize(longer) == normalize(word):
        return  # not longer after all
    entry = parse_words(word)[0]
    assert find_blocked(f"({longer})", [entry]) is None
    assert find_blocked(f"the {longer.upper()}!", [entry]) is None


@given(st.text())
def test_normalize_is_idempotent_and_leaves_single_spaces(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(st.lists(st.text(max_size=20).filter(lambda s: "," not in s), max_size=8))
def test_every_accepted_entry_is_normalized_and_blocks_itself(pieces: list[str]) -> None:
    try:
        entries = parse_words(",".join(pieces))
    except ValueError:
        return  # an entry with no letter or digit: refused, as it should be
    for entry in entries:
        assert normalize(entry) == entry
        assert find_blocked(entry, entries) is not None
