"""Blocked words: whole words only, in any case, width, accent or look-alike letters, not fooled
by invisible marks."""

# Look-alike letters and punctuation are what these tests are about.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import random
import string
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.sheets.lookalikes import skeleton
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


@pytest.mark.parametrize(
    "prompt",
    [
        "a dr\u0430gon",  # Cyrillic а
        "a drag\u03bfn",  # Greek ο
        "a dr\u0430g\u043en",  # Cyrillic а and о
        "A DR\u0410GON",  # Cyrillic capital А
        "\u1d05\u0280\u1d00\u0262\u1d0f\u0274",  # small capitals ᴅʀᴀɢᴏɴ
        "\u1d05ʀ\u0430\u0262\u03bf\u0274!",  # small capitals, Cyrillic and Greek at once
        "𝐝𝐫𝐚𝐠𝐨𝐧",  # mathematical bold (NFKC)
        "dr\u0430\u200bgon",  # a look-alike and an invisible character
        "the \u0501r\u0430gon",  # Cyrillic komi de ԁ
    ],
)
def test_a_blocked_word_written_with_look_alike_letters_is_found(prompt: str) -> None:
    assert find_blocked(prompt, ["dragon"]) == "dragon"


@pytest.mark.parametrize(
    "prompt",
    [
        "a dr\u0430gonfly",  # still whole words: a look-alike inside a longer word
        "snapdr\u0430gon",
        "dr\u0430gons",
        "a dr\u0430 gon",
    ],
)
def test_a_look_alike_inside_a_longer_word_is_not_found(prompt: str) -> None:
    assert find_blocked(prompt, ["dragon"]) is None


@pytest.mark.parametrize(
    ("blocked", "prompt"),
    [
        ("bum", "a burning barn"),  # "rn" looks like "m", but plain ASCII is read as typed
        ("modem", "a modern knight"),
        ("dragon", "drag0n"),  # digits are not letters
        ("cl", "a d"),
    ],
)
def test_plain_ascii_is_read_as_typed(blocked: str, prompt: str) -> None:
    assert find_blocked(prompt, [blocked]) is None


def test_blocking_a_latin_word_does_not_refuse_russian_words_made_of_the_same_letters() -> None:
    # с, а, т look like c, a, t, but inside other words they are parts of those words.
    assert find_blocked("кот на сатиновой подушке, сатира", ["cat"]) is None
    # A Russian word that looks like an English one is still Russian in Russian text ...
    assert find_blocked("сор на полу", ["cop"]) is None
    assert find_blocked("Красивая оса у окна", ["oca"]) is None
    assert find_blocked("вот кот", ["bot"]) is None
    # ... but alone among English words it is a disguise.
    assert find_blocked("a cute сат", ["cat"]) == "cat"
    assert find_blocked("a сор", ["cop"]) == "cop"
    # Mixed scripts in one word are always a disguise, whatever the text around it.
    assert find_blocked("кот и cаt на полу", ["cat"]) == "cat"


@pytest.mark.parametrize(
    ("blocked", "prompt", "found"),
    [
        ("дракон", "дракон", True),
        ("дракон", "большой д\u0440акон", True),  # the same word
        ("дракон", "большой дp\u0430кoн", True),  # Latin p and o inside a Cyrillic word
        ("дракон", "dpakoh", False),  # a Latin word in Latin text
        ("ドラゴン", "赤いドラゴンの絵", True),
        ("ドラゴン", "ドラコン", False),
        ("δράκος", "ΔΡΑΚΟΣ", True),
        ("δράκος", "δρ\u0430κος", True),  # a Cyrillic а inside a Greek word
    ],
)
def test_blocked_words_of_other_scripts_still_match_themselves_and_their_disguises(
    blocked: str, prompt: str, found: bool
) -> None:
    entry = parse_words(blocked)[0]
    assert find_blocked(prompt, [entry]) == (entry if found else None)


def test_letters_are_read_as_the_plain_letter_they_look_like() -> None:
    assert skeleton("\u0430\u03bf\u0441\u0440") == "aocp"  # Cyrillic а, Greek ο, Cyrillic с, р
    assert skeleton("\u1d00\u0299\u1d04\u1d05\u1d07\ua730\u0262\u029c\u026a") == "abcdefghi"
    assert skeleton("dragon, m, rn, 0, l, I") == "dragon, m, rn, 0, l, I"  # ASCII as typed


@pytest.mark.parametrize("letter", string.ascii_lowercase)
def test_each_look_alike_reads_as_one_latin_letter(letter: str) -> None:
    # A class of look-alikes holding two plain letters would make ordinary words collide.
    for char in LOOK_ALIKES.get(letter, ""):
        assert skeleton(normalize(char)) == letter, (char, skeleton(normalize(char)))


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


def test_a_long_prompt_with_look_alikes_against_a_hundred_entries_is_fast() -> None:
    rng = random.Random(8)
    blocked = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(99)
    ]
    blocked.append("cop")  # "сор" below looks like it: every check takes the slow path
    russian = "красивый сор на полу и большой кот с дракон "
    prompt = (russian + "a dr\u0430gon with red eyes ") * 20
    assert len(prompt[:1000]) == 1000
    find_blocked(prompt[:1000], blocked)  # the list's index is built once
    started = time.perf_counter()
    for n in range(100):
        assert find_blocked(prompt[: 1000 - n], blocked) is None
    # About 0.5 ms a check on a quiet machine; the bound leaves room for a busy one.
    assert time.perf_counter() - started < 1.0


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
# Letters of other scripts, and Latin small capitals, that look like a plain Latin letter.
LOOK_ALIKES = {
    "a": "\u0430\u03b1\u1d00",
    "b": "\u0299",
    "c": "\u0441\u2ca5\u1d04",
    "d": "\u0501\u1d05",
    "e": "\u0435\u1d07",
    "f": "\ua730",
    "g": "\u0261\u0262",
    "h": "\u04bb\u029c",
    "i": "\u0456\u03b9\u026a",
    "j": "\u0458\u1d0a",
    "k": "\u03ba\u1d0b",
    "l": "\u029f",
    "m": "\u1d0d",
    "n": "\u0274",
    "o": "\u043e\u03bf\u1d0f",
    "p": "\u0440\u03c1\u1d18",
    "q": "\u051b",
    "r": "\u0433\u0280",
    "s": "\u0455\ua731",
    "t": "\u1d1b",
    "u": "\u1d1c",
    "v": "\u03bd\u1d20",
    "w": "\u051d\u1d21",
    "x": "\u0445",
    "y": "\u0443\u028f",
    "z": "\u1d22",
}
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


@given(
    word=st.text(string.ascii_lowercase, min_size=1, max_size=12),
    before=st.text(string.digits + " ,.!", max_size=20),
    after=st.text(string.digits + " ,.!", max_size=20),
    data=st.data(),
)
def test_a_blocked_word_is_found_whatever_look_alikes_it_is_written_with(
    word: str, before: str, after: str, data: st.DataObject
) -> None:
    looking = "".join(data.draw(st.sampled_from([c, *LOOK_ALIKES[c]])) for c in word)
    assert find_blocked(f"{before} {looking}, {after}", [word]) == word
    longer = data.draw(st.sampled_from(string.ascii_lowercase)) + looking
    assert find_blocked(f"{before} {longer}, {after}", [word]) is None


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
