"""Each option of a sheet is defined once (`SheetRequest`): the registered slash command, the
CLI's flags and the Segmind body are checked against that one definition here."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.ops.cli import _parser
from bot.sheets.invisible import INVISIBLE
from bot.sheets.request import SheetRequest, describe, limits
from bot.sheets.words import normalize
from tests.harness import Harness
from tests.helpers import OWNER, acked, refused_in_private

# Discord's option types for the model's field types.
OPTION_TYPES = {"prompt": 3, "negative_prompt": 3, "seed": 4, "steps": 4}


async def test_the_registered_command_matches_the_one_definition(harness: Harness) -> None:
    await harness.start_bot()
    (command,) = [c for c in harness.discord.global_commands if c["name"] == "character"]
    options = {o["name"]: o for o in command["options"]}
    assert set(options) == {*SheetRequest.model_fields, "pose"}
    for name, field in SheetRequest.model_fields.items():
        option = options[name]
        assert option["description"] == describe(name)
        assert bool(option.get("required")) == field.is_required(), name
        assert option["type"] == OPTION_TYPES.get(name, 10), name
        low, high = limits(name)
        if option["type"] == 3:
            assert (option.get("min_length"), option.get("max_length")) == (low, high), name
        else:
            assert (option.get("min_value"), option.get("max_value")) == (low, high), name


def test_the_cli_has_one_flag_per_option() -> None:
    generate = _parser()._subparsers._group_actions[0].choices["generate"]  # type: ignore[union-attr,index]
    flags = {a.dest: a for a in generate._actions if a.dest not in ("help", "pose", "out")}
    assert set(flags) == set(SheetRequest.model_fields)
    for name, action in flags.items():
        assert action.help == describe(name)
        assert action.required == SheetRequest.model_fields[name].is_required()


def test_every_option_reaches_the_segmind_body() -> None:
    request = SheetRequest(
        prompt="a knight",
        negative_prompt="blur",
        seed=42,
        strength=0.3,
        steps=30,
        guidance=9,
        upscale=1.5,
    )
    body = request.for_segmind(b"\xff\xd8\xff\xe0pose").model_dump()
    assert body["prompt"] == "a knight" and body["negative_prompt"] == "blur"
    assert (body["seed"], body["strength"]) == (42, 0.3)
    assert (body["num_inference_steps"], body["guidance_scale"], body["upscale_by"]) == (30, 9, 1.5)
    assert base64.b64decode(body["image"]) == b"\xff\xd8\xff\xe0pose"


@given(
    st.text(
        alphabet=st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", " ", "\u00ad"]),
        min_size=1,
        max_size=30,
    )
)
def test_a_prompt_with_nothing_visible_is_refused(prompt: str) -> None:
    with pytest.raises(ValidationError, match="no visible text"):
        SheetRequest(prompt=prompt)


@pytest.mark.parametrize(
    "prompt",
    [
        "\u3164",  # Hangul filler
        "\u115f\u1160",  # Hangul choseong and jungseong fillers
        "\uffa0\uffa0",  # half-width Hangul filler
        "\u2800\u2800\u2800",  # Braille blank
        "\u17b4\u17b5",  # Khmer inherent vowels
        "\x00\x1f\x7f\x9b",  # controls, C0 and C1
        "\U000e0041\U000e0042",  # tag characters
        " \u3164 \u2800 \u200b ",
    ],
)
def test_a_prompt_of_blanks_fillers_or_controls_is_refused(prompt: str) -> None:
    with pytest.raises(ValidationError, match="no visible text"):
        SheetRequest(prompt=prompt)


@given(st.text(alphabet=st.sampled_from(sorted(INVISIBLE)), min_size=1, max_size=5))
def test_what_the_prompt_check_finds_invisible_the_word_filter_reads_as_nothing(
    invisible: str,
) -> None:
    with pytest.raises(ValidationError, match="no visible text"):
        SheetRequest(prompt=invisible)
    assert normalize(f"dra{invisible}gon") == "dragon"


@pytest.mark.parametrize("prompt", ["a\u200bknight", "ドラゴン", "é", "🐉", "\u3164a", "ᴀ"])
def test_a_prompt_with_visible_text_is_kept(prompt: str) -> None:
    assert SheetRequest(prompt=prompt).prompt == prompt


async def test_an_invisible_prompt_is_refused_privately_and_costs_nothing(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600")
    rec = await harness.discord.invoke("character", {"prompt": "\u200b\u200d\ufeff"}, user_id=OWNER)
    await rec.wait_for(acked, timeout=5)
    assert refused_in_private(rec)
    assert rec.original is not None and "prompt" in rec.original.content
    assert harness.segmind.requests == []
    # No cooldown was charged.
    again = await harness.discord.invoke("character", {"prompt": "a real one"}, user_id=OWNER)
    await again.wait_for(acked, timeout=5)
    assert again.ack_type == 5
