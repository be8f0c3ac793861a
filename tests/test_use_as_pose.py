"""Use as pose (right-click a message → Apps), end to end against the wire-level fakes."""

from __future__ import annotations

import base64
import io

from PIL import Image

from tests.fake_discord import InteractionRecord, Message
from tests.harness import Harness
from tests.helpers import (
    OTHER,
    OWNER,
    acked,
    config,
    embed_fields,
    png,
    refusal,
    refused_in_private,
    sheet_delivered,
)
from tests.test_character import bomb

MENU = "Use as pose"


def sent_pose(harness: Harness, index: int = 0) -> Image.Image:
    """The pose picture the bot sent Segmind in its `index`th request."""
    return Image.open(io.BytesIO(base64.b64decode(harness.segmind.requests[index].json["image"])))


def picture_post(harness: Harness, size: tuple[int, int] = (600, 800)) -> tuple[Message, str]:
    """A member's message with a picture attached; the attachment's id."""
    hosted = harness.discord.host_attachment(png(size), "my pose.png", "image/png")
    message = harness.discord.post_as_member(OTHER, "look at this pose", attachments=[hosted])
    return message, str(hosted["id"])


async def open_menu(harness: Harness, message: Message, user_id: int = OWNER) -> InteractionRecord:
    rec = await harness.discord.use_on_message(MENU, message, user_id=user_id)
    await rec.wait_for(acked, timeout=5)
    return rec


async def draw_on(
    harness: Harness, message: Message, values: dict[str, str], user_id: int = OWNER
) -> InteractionRecord:
    """Use the menu on `message`, send its form with `values`; once that is answered."""
    menu = await open_menu(harness, message, user_id)
    assert menu.ack_type == 9 and menu.modal is not None, menu.events
    sent = await harness.discord.submit_modal(menu, values)
    await sent.wait_for(lambda r: sheet_delivered(r) or refused_in_private(r), timeout=10)
    return sent


async def test_the_menu_draws_on_an_attached_picture_with_the_prompt_given(
    harness: Harness,
) -> None:
    await harness.start_bot()
    command = next(c for c in harness.discord.global_commands if c["name"] == MENU)
    assert command["type"] == 3 and not command.get("description")
    message, attachment = picture_post(harness)
    menu = await open_menu(harness, message)
    assert menu.ack_type == 9 and menu.modal is not None
    inputs = [c for row in menu.modal["components"] for c in row["components"]]
    assert [c["custom_id"] for c in inputs] == ["prompt", "strength", "seed"]
    assert [c.get("required", True) for c in inputs] == [True, False, False]
    assert harness.discord.cdn_downloads == []  # nothing fetched before the member asks

    sent = await harness.discord.submit_modal(menu, {"prompt": "a dancer in red", "seed": "9"})
    await sent.wait_for(sheet_delivered, timeout=10)
    assert sent.ack_type == 5 and not sent.ephemeral
    body = harness.segmind.requests[0].json
    assert (body["prompt"], body["seed"], body["strength"]) == ("a dancer in red", 9, 0.8)
    with sent_pose(harness) as pose:
        assert (pose.format, pose.size) == ("JPEG", (600, 800))
    assert harness.discord.cdn_downloads == [attachment]
    assert sent.original is not None and embed_fields(sent.original)["Asked by"] == f"<@{OWNER}>"
    harness.discord.assert_no_violations()


async def test_the_menu_draws_on_an_embeds_image_through_discords_proxy(harness: Harness) -> None:
    await harness.start_bot()
    image = harness.discord.embed_image(png((500, 700)), "preview.png")
    embed = {"type": "image", "url": "https://example.invalid/page", "image": image}
    message = harness.discord.post_as_member(OTHER, "https://example.invalid/page", embeds=[embed])
    sent = await draw_on(harness, message, {"prompt": "a knight", "strength": "0.4"})
    assert sheet_delivered(sent), sent.events
    assert harness.segmind.requests[0].json["strength"] == 0.4
    with sent_pose(harness) as pose:
        assert pose.size == (500, 700)
    assert len(harness.discord.cdn_downloads) == 1  # the proxy's copy, not example.invalid


async def test_a_message_without_a_picture_is_explained_privately(harness: Harness) -> None:
    await harness.start_bot()
    pdf = harness.discord.host_attachment(b"%PDF-1.7", "notes.pdf", "application/pdf")
    message = harness.discord.post_as_member(OTHER, "just words", attachments=[pdf])
    menu = await open_menu(harness, message)
    await menu.wait_for(refused_in_private, timeout=5)
    assert "no picture" in refusal(menu)
    assert menu.modal is None and harness.discord.cdn_downloads == []


async def test_a_picture_over_the_size_limit_is_refused_before_the_form(harness: Harness) -> None:
    await harness.start_bot()
    hosted = harness.discord.host_attachment(
        png(), "huge.png", "image/png", declared_size=50 * 2**20
    )
    message = harness.discord.post_as_member(OTHER, attachments=[hosted])
    menu = await open_menu(harness, message)
    await menu.wait_for(refused_in_private, timeout=5)
    assert "the limit is" in refusal(menu)
    assert menu.modal is None and harness.discord.cdn_downloads == []


async def test_a_decompression_bomb_is_refused_and_costs_nothing(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600")
    hosted = harness.discord.host_attachment(bomb(), "bomb.png", "image/png")
    message = harness.discord.post_as_member(OTHER, attachments=[hosted])
    sent = await draw_on(harness, message, {"prompt": "a bomb"})
    assert "megapixels" in refusal(sent)
    assert harness.segmind.requests == []
    again, _ = picture_post(harness)
    retry = await draw_on(harness, again, {"prompt": "a real pose"})  # no cooldown was charged
    assert sheet_delivered(retry)


async def test_a_form_opened_before_a_restart_says_to_open_it_again(harness: Harness) -> None:
    bot = await harness.start_bot()
    message, _ = picture_post(harness)
    menu = await open_menu(harness, message)
    await bot.kill()
    await harness.start_bot()
    sent = await harness.discord.submit_modal(menu, {"prompt": "too late"})
    await sent.wait_for(refused_in_private, timeout=5)
    assert "Use as pose on the message again" in refusal(sent)
    assert harness.segmind.requests == []


# --- the same admission as /character -----------------------------------------------------------


async def test_use_as_pose_meets_the_cooldown(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600")
    message, _ = picture_post(harness)
    assert sheet_delivered(await draw_on(harness, message, {"prompt": "first"}))
    second = await draw_on(harness, message, {"prompt": "second"})
    assert "draw again" in refusal(second)
    assert len(harness.segmind.requests) == 1


async def test_use_as_pose_meets_the_servers_budget(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0", SHEET_COST_CREDITS="0.13")
    await config(harness, "budget", credits=0.13)
    message, _ = picture_post(harness)
    assert sheet_delivered(await draw_on(harness, message, {"prompt": "fits"}))
    over = await draw_on(harness, message, {"prompt": "over budget"})
    assert "budget is spent" in refusal(over)
    assert len(harness.segmind.requests) == 1


async def test_use_as_pose_meets_the_blocked_words(harness: Harness) -> None:
    await harness.start_bot()
    await config(harness, "blocked-words add", words="dragon")
    message, _ = picture_post(harness)
    sent = await draw_on(harness, message, {"prompt": "a Dragón tamer"})
    assert "dragon" in refusal(sent)
    assert harness.segmind.requests == [] and harness.discord.cdn_downloads == []
