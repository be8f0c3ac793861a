"""/sheets: a member's last sheets in a server, ten a page, end to end against the fakes."""

from __future__ import annotations

import re

from tests.fake_discord import InteractionRecord, Message
from tests.harness import Harness
from tests.helpers import OTHER, OWNER, draw, sheet_delivered

LINE = re.compile(
    r"^\*\*(\d+)\.\*\* (.+) — seed `(\d+)` — <t:\d+:R> — \[open\]\((https://discord\.com/\S+)\)$"
)


def lines(message: Message) -> list[tuple[str, ...]]:
    """Each sheet listed: its number, prompt start, seed and link."""
    found: list[tuple[str, ...]] = []
    for line in message.embeds[0]["description"].splitlines():
        match = LINE.match(line)
        assert match, line
        found.append(match.groups())
    return found


def buttons(message: Message) -> dict[str, dict[str, object]]:
    return {c["label"]: c for row in message.components for c in row["components"]}


async def sheets(harness: Harness, user_id: int, guild_id: int | None = None) -> Message:
    rec = await harness.discord.invoke("sheets", user_id=user_id, guild_id=guild_id)
    await rec.wait_for(lambda r: r.original is not None and not r.original.loading, timeout=5)
    assert rec.ephemeral and rec.original is not None, rec.events
    return rec.original


async def press(harness: Harness, page: Message, label: str) -> InteractionRecord:
    button = buttons(page)[label]
    assert not button.get("disabled"), f"{label} is disabled"
    edits = page.edits
    rec = await harness.discord.click(page, str(button["custom_id"]), user_id=OWNER)
    await rec.wait_for(lambda _: page.edits > edits, timeout=5)
    return rec


async def test_sheets_lists_the_members_own_sheets_here_ten_a_page_with_links(
    harness: Harness,
) -> None:
    bot = await harness.start_bot(COOLDOWN_SECONDS="0")
    drawn = [await draw(harness, OWNER, f"sheet number {n}") for n in range(12)]
    assert all(map(sheet_delivered, drawn))
    await draw(harness, OTHER, "someone else's sheet")
    for job in range(1, 14):  # delivered, and its end stored (what /sheets lists)
        await harness.until_job(job, "done")
    seeds = [r.json["seed"] for r in harness.segmind.requests]
    guild, channel = harness.discord.guild_id, harness.discord.channels_of()[0]

    first = await sheets(harness, OWNER)
    listed = lines(first)
    assert [n for n, *_ in listed] == [str(n) for n in range(1, 11)]
    assert [prompt for _, prompt, *_ in listed] == [f"sheet number {n}" for n in range(11, 1, -1)]
    assert [int(seed) for *_, seed, _ in listed] == seeds[11:1:-1]
    newest = drawn[-1].original
    assert newest is not None
    assert listed[0][3] == f"https://discord.com/channels/{guild}/{channel}/{newest.id}"
    assert "Page 1 of 2" in first.embeds[0]["footer"]["text"]
    assert "12 sheets" in first.embeds[0]["footer"]["text"]
    assert buttons(first)["Previous"].get("disabled") and not buttons(first)["Next"].get("disabled")

    await press(harness, first, "Next")
    assert [prompt for _, prompt, *_ in lines(first)] == ["sheet number 1", "sheet number 0"]
    assert "Page 2 of 2" in first.embeds[0]["footer"]["text"]
    assert buttons(first)["Next"].get("disabled")

    await bot.kill()  # the buttons keep working after a restart
    await harness.start_bot(COOLDOWN_SECONDS="0")
    await press(harness, first, "Previous")
    assert lines(first)[0][1] == "sheet number 11"

    theirs = await sheets(harness, OTHER)
    assert [prompt for _, prompt, *_ in lines(theirs)] == ["someone else's sheet"]
    harness.discord.assert_no_violations()


async def test_sheets_shows_nothing_from_another_server(harness: Harness) -> None:
    elsewhere = harness.discord.add_guild()
    await harness.start_bot()
    await draw(harness, OWNER, "drawn in the first server")
    empty = await sheets(harness, OWNER, guild_id=elsewhere)
    assert "no sheets in this server" in empty.content and not empty.embeds
    assert not empty.components


async def test_a_long_prompt_is_cut_and_cannot_break_the_link(harness: Harness) -> None:
    await harness.start_bot()
    prompt = "a [mage](https://evil.example) " + "with a very long description " * 10
    rec = await draw(harness, OWNER, prompt)
    assert sheet_delivered(rec)
    await harness.until_job(1, "done")
    ((_, start, _, link),) = lines(await sheets(harness, OWNER))
    assert start.endswith("…") and len(start) <= 70
    assert "[" not in start and link.startswith("https://discord.com/channels/")
