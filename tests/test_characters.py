"""Saved characters: the Save button and its form, /characters draw|list|delete|share and their
autocomplete, end to end against the wire-level fakes."""

from __future__ import annotations

import asyncio
import sqlite3

from bot.sheets.characters import MAX_SHARED, Character, server_shelf
from bot.sheets.request import SheetRequest
from bot.state.sqlite.store import Store
from tests.fake_discord import InteractionRecord, Message, Permissions
from tests.harness import Harness
from tests.helpers import (
    OTHER,
    OWNER,
    THIRD,
    acked,
    ask,
    config,
    embed_fields,
    png,
    refusal,
    refused_in_private,
    sheet_delivered,
)

MODERATOR = Permissions.MANAGE_GUILD
MODERATOR_ID = 7103


def job_of(sheet: Message) -> str:
    return sheet.custom_ids()[0].rsplit(":", 1)[1]


async def a_sheet(
    harness: Harness, prompt: str = "Aria, an elf ranger", **options: object
) -> Message:
    rec = await ask(harness, OWNER, prompt, **options)
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    return rec.original


async def save(
    harness: Harness, sheet: Message, name: str, user_id: int = OWNER
) -> InteractionRecord:
    """Press Save under `sheet` and send its form with `name`; the form's answer."""
    press = await harness.discord.click(sheet, f"sheet:save:{job_of(sheet)}", user_id=user_id)
    await press.wait_for(acked, timeout=5)
    assert press.ack_type == 9 and press.modal is not None, press.events
    sent = await harness.discord.submit_modal(press, {"name": name})
    await sent.wait_for(acked, timeout=5)
    return sent


def names_on(page: Message) -> list[str]:
    """The characters a /characters list page shows, in order."""
    return [line.split("**")[1] for line in page.embeds[0]["description"].splitlines()]


def said(rec: InteractionRecord) -> str:
    """The private answer of a command or form."""
    assert rec.ephemeral and rec.original is not None, rec.events
    return rec.original.content


async def characters(
    harness: Harness, sub: str, user_id: int = OWNER, *, permissions: int = 0, **options: object
) -> InteractionRecord:
    rec = await harness.discord.invoke(
        f"characters {sub}", options, user_id=user_id, permissions=permissions
    )
    await rec.wait_for(acked, timeout=5)
    return rec


async def drawn(harness: Harness, user_id: int = OWNER, **options: object) -> InteractionRecord:
    rec = await harness.discord.invoke("characters draw", options, user_id=user_id)
    await rec.wait_for(lambda r: sheet_delivered(r) or refused_in_private(r), timeout=10)
    return rec


async def offered(
    harness: Harness, typed: str, user_id: int = OWNER, sub: str = "draw"
) -> list[str]:
    """The names autocomplete offers a member typing `typed`."""
    rec = await harness.discord.autocomplete(
        f"characters {sub}", {"name": typed}, focused="name", user_id=user_id
    )
    await rec.wait_for(lambda r: r.choices is not None, timeout=5)
    assert rec.ack_type == 8 and rec.ack_latency is not None and rec.ack_latency < 3
    assert rec.choices is not None
    return [c["value"] for c in rec.choices]


# --- save, then draw again ----------------------------------------------------------------------


async def test_a_saved_character_is_drawn_again_with_its_prompt_seed_strength_and_pose(
    harness: Harness,
) -> None:
    bot = await harness.start_bot(COOLDOWN_SECONDS="0")
    pose = harness.discord.host_attachment(png((400, 600)), "pose.png", "image/png")
    rec = await harness.discord.invoke(
        "character",
        {
            "prompt": "Aria, an elf ranger",
            "seed": 321,
            "strength": 0.55,
            "steps": 30,
            "negative_prompt": "hat",
        },
        user_id=OWNER,
        attachments={"pose": pose},
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    sheet = rec.original
    assert sheet is not None
    assert sheet.custom_ids()[2] == f"sheet:save:{job_of(sheet)}"
    press = await harness.discord.click(sheet, f"sheet:save:{job_of(sheet)}", user_id=OWNER)
    await press.wait_for(acked, timeout=5)
    assert press.modal is not None
    (name_input,) = [c for row in press.modal["components"] for c in row["components"]]
    assert (name_input["custom_id"], name_input["max_length"]) == ("name", 32)
    assert name_input["value"] == "Aria, an elf ranger"  # a suggestion from the prompt
    sent = await harness.discord.submit_modal(press, {"name": "Aria"})
    await sent.wait_for(acked, timeout=5)
    assert "Saved “Aria”" in said(sent)

    await bot.kill()  # characters last: across restarts
    await harness.start_bot(COOLDOWN_SECONDS="0")
    again = await drawn(harness, name="aria")  # names are found whatever their case
    assert sheet_delivered(again), again.events
    first, second = (r.json for r in harness.segmind.requests)
    for option in ("prompt", "seed", "strength", "num_inference_steps", "negative_prompt", "image"):
        assert second[option] == first[option], option
    assert harness.discord.cdn_downloads == [pose["id"]]  # the saved pose, kept by the bot
    assert again.original is not None and embed_fields(again.original)["Seed"] == "`321`"


async def test_the_options_given_override_the_saved_ones(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await a_sheet(harness, seed=1, strength=0.9)
    await save(harness, sheet, "Aria")
    new_pose = harness.discord.host_attachment(png((300, 300)), "sitting.png", "image/png")
    rec = await harness.discord.invoke(
        "characters draw",
        {"name": "Aria", "seed": 5, "strength": 0.3, "extra": "sitting at night"},
        user_id=OWNER,
        attachments={"pose": new_pose},
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    first, second = (r.json for r in harness.segmind.requests)
    assert second["prompt"] == "Aria, an elf ranger, sitting at night"
    assert (second["seed"], second["strength"]) == (5, 0.3)
    assert second["image"] != first["image"] and new_pose["id"] in harness.discord.cdn_downloads


async def test_a_taken_name_asks_for_another_or_to_delete_the_old_one(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await a_sheet(harness)
    await save(harness, sheet, "Aria")
    second = await save(harness, sheet, "ARIA")
    assert "already have a character called “ARIA”" in refusal(second)
    assert "/characters delete" in refusal(second)


async def test_past_the_limit_saving_is_refused_until_one_is_deleted(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0", MAX_SAVED_CHARACTERS="2")
    sheet = await a_sheet(harness)
    for name in ("one", "two"):
        assert "Saved" in said(await save(harness, sheet, name))
    assert "2 saved characters, the most" in refusal(await save(harness, sheet, "three"))
    deleted = await characters(harness, "delete", name="One")
    assert "Deleted your character “one”" in said(deleted)
    assert "Saved" in said(await save(harness, sheet, "three"))


# --- one member's characters are theirs ---------------------------------------------------------


async def test_another_member_cannot_draw_see_or_autocomplete_them(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    await save(harness, await a_sheet(harness), "Aria")
    assert await offered(harness, "ar") == ["Aria"]
    assert await offered(harness, "ar", user_id=OTHER) == []
    theirs = await drawn(harness, OTHER, name="Aria")
    assert "no character called “Aria”" in refusal(theirs)
    listed = await characters(harness, "list", OTHER)
    await listed.wait_for(lambda r: r.original is not None and not r.original.loading, timeout=5)
    assert "no saved characters" in said(listed)
    gone = await characters(harness, "delete", OTHER, name="Aria")
    assert "no character called" in refusal(gone)
    assert len(harness.segmind.requests) == 1


async def test_anyone_may_save_a_sheet_they_see_for_themselves(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await a_sheet(harness)
    assert "Saved" in said(await save(harness, sheet, "Their Aria", user_id=OTHER))
    assert await offered(harness, "", user_id=OTHER) == ["Their Aria"]
    assert await offered(harness, "") == []


async def test_autocomplete_answers_in_time_with_25_characters_saved(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await a_sheet(harness)
    saved = await asyncio.gather(*(save(harness, sheet, f"hero {n:02}") for n in range(25)))
    assert all("Saved" in said(rec) for rec in saved)
    assert await offered(harness, "") == [f"hero {n:02}" for n in range(25)]
    assert await offered(harness, "HERO 1") == [f"hero {n}" for n in range(10, 20)]

    listed = await characters(harness, "list")
    await listed.wait_for(lambda r: r.original is not None and not r.original.loading, timeout=5)
    page = listed.original
    assert page is not None and listed.ephemeral
    assert names_on(page) == [f"hero {n:02}" for n in range(10)]
    assert page.embeds[0]["footer"]["text"] == "Page 1 of 3 · 25 characters"
    buttons = {c["label"]: c for row in page.components for c in row["components"]}
    assert buttons["Previous"].get("disabled") and not buttons["Next"].get("disabled")
    edits = page.edits
    await harness.discord.click(page, buttons["Next"]["custom_id"], user_id=OWNER)
    await harness.discord.wait_until(lambda: page.edits > edits, timeout=5)
    assert names_on(page) == [f"hero {n}" for n in range(10, 20)]


# --- shared characters --------------------------------------------------------------------------


async def test_a_shared_character_is_drawn_by_members_of_that_server_only(harness: Harness) -> None:
    elsewhere = harness.discord.add_guild()
    await harness.start_bot(COOLDOWN_SECONDS="0")
    await save(harness, await a_sheet(harness), "Aria")
    refused = await characters(harness, "share", name="Aria")
    assert "Only moderators" in refusal(refused)
    shared = await characters(harness, "share", permissions=MODERATOR, name="Aria")
    assert "now shared in this server" in said(shared)

    assert await offered(harness, "a", user_id=OTHER) == ["Aria"]
    listed = await characters(harness, "list", OTHER)
    await listed.wait_for(lambda r: r.original is not None and not r.original.loading, timeout=5)
    assert listed.original is not None
    assert "**Aria** (shared here)" in listed.original.embeds[0]["description"]
    theirs = await drawn(harness, OTHER, name="Aria")
    assert sheet_delivered(theirs)
    assert harness.segmind.requests[-1].json["prompt"] == "Aria, an elf ranger"
    elsewhere_rec = await harness.discord.autocomplete(
        "characters draw", {"name": "a"}, focused="name", user_id=OTHER, guild_id=elsewhere
    )
    await elsewhere_rec.wait_for(lambda r: r.choices is not None, timeout=5)
    assert elsewhere_rec.choices == []

    assert await offered(harness, "a", user_id=OTHER, sub="delete") == []  # not theirs to delete
    member_delete = await characters(harness, "delete", OTHER, name="Aria")
    assert "Only moderators" in refusal(member_delete)
    moderator_delete = await characters(
        harness, "delete", THIRD, permissions=MODERATOR, name="Aria"
    )
    assert "Deleted the shared character “Aria”" in said(moderator_delete)
    assert await offered(harness, "a", user_id=OTHER) == []
    assert await offered(harness, "a") == ["Aria"]  # the owner's own copy stays


async def test_a_server_shares_at_most_100_characters(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    await save(harness, await a_sheet(harness), "Aria")
    # 100 shared already (written beside the running bot, as a moderator would have shared them).
    async with Store.open(harness.cwd / "bot.sqlite3") as store:
        for n in range(MAX_SHARED):
            shelf = server_shelf(harness.discord.guild_id)
            shared = Character(shelf, f"s{n}", MODERATOR_ID, SheetRequest(prompt="x"), 1.0)
            await store.save_character(shared, None, limit=MAX_SHARED)
    refused = await characters(harness, "share", permissions=MODERATOR, name="Aria")
    assert "already shares 100 characters, the most it can" in refusal(refused)


async def test_a_servers_shared_characters_go_when_the_bot_leaves_it(harness: Harness) -> None:
    elsewhere = harness.discord.add_guild()
    bot = await harness.start_bot(COOLDOWN_SECONDS="0")
    await save(harness, await a_sheet(harness), "Aria")
    rec = await harness.discord.invoke(
        "characters share",
        {"name": "Aria"},
        user_id=OWNER,
        permissions=MODERATOR,
        guild_id=elsewhere,
    )
    await rec.wait_for(acked, timeout=5)
    assert "now shared" in said(rec)
    await harness.discord.remove_guild(elsewhere)
    await bot.wait_for_log(f"left guild {elsewhere}: forgot its 1 shared character(s)")
    db = sqlite3.connect(harness.cwd / "bot.sqlite3")
    try:
        shelves = [shelf for (shelf,) in db.execute("SELECT shelf FROM characters")]
    finally:
        db.close()
    assert shelves == [f"member:{OWNER}"]


# --- the same admission as /character -----------------------------------------------------------


async def test_drawing_a_character_meets_the_cooldown(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600")
    await save(harness, await a_sheet(harness), "Aria")
    rec = await drawn(harness, name="Aria")
    assert "draw again" in refusal(rec)
    assert len(harness.segmind.requests) == 1


async def test_drawing_a_character_meets_the_servers_budget(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0", SHEET_COST_CREDITS="0.13")
    await save(harness, await a_sheet(harness), "Aria")
    await config(harness, "budget", credits=0.13)
    rec = await drawn(harness, name="Aria")
    assert "budget is spent" in refusal(rec)
    assert len(harness.segmind.requests) == 1


async def test_blocked_words_hold_in_extra_and_in_names(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await a_sheet(harness)
    await save(harness, sheet, "Aria")
    await config(harness, "blocked-words add", words="dragon")
    rec = await drawn(harness, name="Aria", extra="riding a DRAGON")
    assert "dragon" in refusal(rec)
    named = await save(harness, sheet, "Dragon Aria")
    assert "in names" in refusal(named)
    assert len(harness.segmind.requests) == 1


async def test_characters_and_sheets_work_the_same_on_redis(shared_harness: Harness) -> None:
    harness = shared_harness
    settings = {"COOLDOWN_SECONDS": "0"}
    bot = await harness.start_bot(**settings)
    pose = harness.discord.host_attachment(png((400, 600)), "pose.png", "image/png")
    rec = await harness.discord.invoke(
        "character", {"prompt": "Aria, an elf ranger"}, user_id=OWNER, attachments={"pose": pose}
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    assert "Saved" in said(await save(harness, rec.original, "Aria"))
    assert "already have" in refusal(await save(harness, rec.original, "aria"))
    await bot.kill()
    await harness.start_bot(**settings)
    assert await offered(harness, "AR") == ["Aria"]
    again = await drawn(harness, name="Aria")
    assert sheet_delivered(again)
    first, second = (r.json for r in harness.segmind.requests)
    assert (second["prompt"], second["seed"], second["image"]) == (
        first["prompt"],
        first["seed"],
        first["image"],
    )
    for job in (1, 2):
        await harness.until_job(job, "done")
    listed = await harness.discord.invoke("sheets", user_id=OWNER)
    await listed.wait_for(lambda r: r.original is not None and not r.original.loading, timeout=5)
    assert listed.original is not None
    assert len(listed.original.embeds[0]["description"].splitlines()) == 2
