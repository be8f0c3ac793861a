"""The Edit button under a sheet and its form, end to end against the wire-level fakes."""

from __future__ import annotations

import base64

from tests.fake_discord import InteractionRecord, Message
from tests.harness import Harness
from tests.helpers import (
    OTHER,
    OWNER,
    acked,
    ask,
    config,
    embed_fields,
    png,
    refusal,
    refused_in_private,
    sheet_delivered,
)


def job_of(sheet: Message) -> str:
    return sheet.custom_ids()[0].rsplit(":", 1)[1]


def inputs(rec: InteractionRecord) -> dict[str, dict[str, object]]:
    """The text inputs of the form the bot answered with, by custom_id."""
    assert rec.ack_type == 9 and rec.modal is not None, rec.events
    return {c["custom_id"]: c for row in rec.modal["components"] for c in row.get("components", [])}


async def delivered_sheet(harness: Harness, user_id: int = OWNER, **options: object) -> Message:
    rec = await ask(harness, user_id, "a knight in green armour", **options)
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    return rec.original


async def open_edit(harness: Harness, sheet: Message, user_id: int = OWNER) -> InteractionRecord:
    press = await harness.discord.click(sheet, f"sheet:edit:{job_of(sheet)}", user_id=user_id)
    await press.wait_for(acked, timeout=5)
    return press


async def test_edit_opens_a_prefilled_form_and_draws_on_the_same_pose_with_the_changes(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    pose = harness.discord.host_attachment(png((400, 600)), "pose.png", "image/png")
    rec = await harness.discord.invoke(
        "character",
        {"prompt": "a knight in green armour", "seed": 77, "strength": 0.55, "steps": 30},
        user_id=OWNER,
        attachments={"pose": pose},
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    sheet = rec.original
    assert sheet is not None
    job = job_of(sheet)
    assert sheet.custom_ids() == [
        f"sheet:reroll:{job}",
        f"sheet:edit:{job}",
        f"sheet:save:{job}",
        f"sheet:delete:{job}",
    ]

    press = await open_edit(harness, sheet)
    fields = inputs(press)
    assert press.modal is not None and press.modal["custom_id"] == f"sheet:edit-form:{job}"
    assert fields["prompt"]["value"] == "a knight in green armour"
    assert fields["strength"]["value"] == "0.55"
    assert fields["seed"]["value"] == "77"
    assert fields["negative_prompt"].get("value") is None and not fields["seed"]["required"]

    sent = await harness.discord.submit_modal(
        press, {"prompt": "a knight in red armour", "negative_prompt": "helmet", "seed": "12"}
    )
    await sent.wait_for(sheet_delivered, timeout=10)
    assert sent.ack_type == 5 and not sent.ephemeral
    first, second = (r.json for r in harness.segmind.requests)
    assert second["prompt"] == "a knight in red armour"
    assert second["negative_prompt"] == "helmet"
    assert (second["seed"], second["strength"]) == (12, 0.55)
    assert second["num_inference_steps"] == first["num_inference_steps"] == 30  # kept
    assert second["image"] == first["image"]  # the same pose, kept by the bot
    assert base64.b64decode(second["image"])
    assert harness.discord.cdn_downloads == [pose["id"]]
    assert sent.original is not None and embed_fields(sent.original)["Seed"] == "`12`"
    harness.discord.assert_no_violations()


async def test_an_emptied_seed_draws_with_a_new_random_one(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await delivered_sheet(harness, seed=5)
    press = await open_edit(harness, sheet)
    sent = await harness.discord.submit_modal(press, {"seed": ""})
    await sent.wait_for(sheet_delivered, timeout=10)
    first, second = (r.json for r in harness.segmind.requests)
    assert first["seed"] == 5 and second["seed"] != 5
    assert second["prompt"] == first["prompt"]


async def test_a_form_opened_before_a_restart_is_still_drawn_after_it(harness: Harness) -> None:
    bot = await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await delivered_sheet(harness)
    press = await open_edit(harness, sheet)
    await bot.kill()
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sent = await harness.discord.submit_modal(press, {"prompt": "a knight at dawn"})
    await sent.wait_for(sheet_delivered, timeout=10)
    assert [r.json["prompt"] for r in harness.segmind.requests][-1] == "a knight at dawn"


async def test_only_the_requester_may_edit_unless_rerolls_are_open(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await delivered_sheet(harness)
    stranger = await open_edit(harness, sheet, user_id=OTHER)
    await stranger.wait_for(refused_in_private, timeout=5)
    assert "only the member who asked" in refusal(stranger).lower()
    assert stranger.modal is None

    await config(harness, "reroll", open=True)
    allowed = await open_edit(harness, sheet, user_id=OTHER)
    sent = await harness.discord.submit_modal(allowed, {"prompt": "a knight, my version"})
    await sent.wait_for(sheet_delivered, timeout=10)
    assert sent.original is not None
    assert embed_fields(sent.original)["Asked by"] == f"<@{OTHER}>"


async def test_a_bad_strength_is_refused_privately_naming_it(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await delivered_sheet(harness)
    press = await open_edit(harness, sheet)
    sent = await harness.discord.submit_modal(press, {"strength": "lots"})
    await sent.wait_for(refused_in_private, timeout=5)
    assert "`strength`" in refusal(sent)
    assert len(harness.segmind.requests) == 1


# --- the same admission as /character -----------------------------------------------------------


async def test_an_edit_meets_the_cooldown(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600")
    sheet = await delivered_sheet(harness)
    press = await open_edit(harness, sheet)
    sent = await harness.discord.submit_modal(press, {"prompt": "again, at once"})
    await sent.wait_for(refused_in_private, timeout=5)
    assert "draw again" in refusal(sent)
    assert len(harness.segmind.requests) == 1


async def test_an_edit_meets_the_servers_budget(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0", SHEET_COST_CREDITS="0.13")
    sheet = await delivered_sheet(harness)
    await config(harness, "budget", credits=0.13)
    press = await open_edit(harness, sheet)
    sent = await harness.discord.submit_modal(press, {"prompt": "over budget"})
    await sent.wait_for(refused_in_private, timeout=5)
    assert "budget is spent" in refusal(sent)
    assert len(harness.segmind.requests) == 1


async def test_an_edit_meets_the_blocked_words(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    sheet = await delivered_sheet(harness)
    await config(harness, "blocked-words add", words="dragon")
    press = await open_edit(harness, sheet)
    sent = await harness.discord.submit_modal(press, {"prompt": "a knight riding a DRAGON"})
    await sent.wait_for(refused_in_private, timeout=5)
    assert "dragon" in refusal(sent)
    assert len(harness.segmind.requests) == 1


async def test_edit_of_a_sheet_whose_pose_is_gone_says_so_before_the_form(
    harness: Harness,
) -> None:
    await harness.start_bot(POSE_RETENTION_DAYS="0")
    sheet = await delivered_sheet(harness)
    press = await open_edit(harness, sheet)
    await press.wait_for(refused_in_private, timeout=5)
    assert "too old to edit" in refusal(press)
    assert press.modal is None
