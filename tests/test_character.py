"""/character end to end: the real bot process against the wire-level fakes."""

from __future__ import annotations

import asyncio
import base64
import io
import re

import pytest
from PIL import Image

from tests.fake_discord import InteractionRecord
from tests.fake_segmind import Planned
from tests.harness import Harness
from tests.helpers import refusal, refused_in_private

USER = 5001
TIMESTAMP = re.compile(r"<t:\d+:R>")


def sheet_delivered(rec: InteractionRecord) -> bool:
    return rec.original is not None and bool(rec.original.attachments)


def settled(rec: InteractionRecord) -> bool:
    """The placeholder shows a final state: a sheet, or words saying what went wrong."""
    original = rec.original
    if original is None:
        return False
    return bool(original.attachments) or "cooldown was reset" in original.content


def picture(size: tuple[int, int], fmt: str = "PNG", **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, fmt, **save)
    return buffer.getvalue()


def private_refusal(rec: InteractionRecord) -> str:
    """The text of an ephemeral refusal given as the initial response."""
    assert rec.ack_type == 4 and rec.ephemeral, rec.events
    assert rec.original is not None
    return rec.original.content


def private_followup(rec: InteractionRecord) -> str:
    """The text told privately after the public placeholder was taken away."""
    assert "delete_original" in rec.events, rec.events
    private = [m for m in rec.followups if m.ephemeral]
    assert private, rec.events
    return private[-1].content


async def test_prompt_only_draws_a_sheet_on_the_default_pose(harness: Harness) -> None:
    await harness.start_bot()
    rec = await harness.discord.invoke("character", {"prompt": "a red fox knight"}, user_id=USER)
    await rec.wait_for(sheet_delivered, timeout=20)
    assert rec.ack_type == 5 and not rec.ephemeral
    assert rec.ack_latency is not None and rec.ack_latency < 3
    message = rec.original
    assert message is not None
    with Image.open(io.BytesIO(message.attachments[0].data)) as sheet:
        assert sheet.format == "JPEG"
    embed = message.embeds[0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    sent = harness.segmind.requests[0].json
    assert fields["Seed"] == f"`{sent['seed']}`"
    assert fields["Strength"] == "0.8"
    assert fields["Asked by"] == f"<@{USER}>"
    assert "default pose" in fields["Notes"]
    assert "a red fox knight" in embed["description"]
    assert embed["image"]["url"] == f"attachment://{message.attachments[0].filename}"
    assert fields["Credits left"] == f"{harness.segmind.credits:,.2f}"
    assert message.custom_ids() == [
        "sheet:reroll:1",
        "sheet:edit:1",
        "sheet:save:1",
        "sheet:delete:1",
    ]
    assert message.pinged_user_ids == []


async def test_a_phone_photo_pose_is_normalized_before_it_is_sent(harness: Harness) -> None:
    await harness.start_bot()
    photo = picture((4032, 3024), "JPEG", quality=95)
    attachment = harness.discord.host_attachment(photo, "IMG_0001.jpg", "image/jpeg")
    rec = await harness.discord.invoke(
        "character",
        {"prompt": "an astronaut", "seed": 42, "strength": 0.5},
        user_id=USER,
        attachments={"pose": attachment},
    )
    await rec.wait_for(sheet_delivered, timeout=20)
    sent = harness.segmind.requests[0].json
    assert (sent["seed"], sent["strength"]) == (42, 0.5)
    pose = base64.b64decode(sent["image"])
    assert len(sent["image"]) < 300_000
    with Image.open(io.BytesIO(pose)) as image:
        assert image.format == "JPEG" and image.width > image.height
        assert 900 <= image.width <= 1024
    assert harness.discord.cdn_downloads == [attachment["id"]]
    fields = {f["name"]: f["value"] for f in rec.original.embeds[0]["fields"]}  # type: ignore[union-attr]
    assert fields["Seed"] == "`42`"


async def test_commands_are_registered_with_their_options_and_permissions(
    harness: Harness,
) -> None:
    await harness.start_bot()
    commands = {c["name"]: c for c in harness.discord.global_commands}
    options = {o["name"]: o for o in commands["character"]["options"]}
    assert options["prompt"]["type"] == 3 and options["prompt"]["required"]
    assert options["prompt"]["max_length"] == 1000
    assert options["pose"]["type"] == 11 and not options["pose"].get("required")
    assert options["seed"]["type"] == 4 and options["seed"]["min_value"] == 0
    assert (options["strength"]["min_value"], options["strength"]["max_value"]) == (0, 1)
    assert {"negative_prompt", "steps", "guidance", "upscale"} <= set(options)
    assert all(o["description"] for o in options.values())
    assert int(commands["credits"]["default_member_permissions"]) == 1 << 5


async def test_commands_are_synced_only_when_they_change(harness: Harness) -> None:
    first = await harness.start_bot()
    await first.kill()
    await harness.start_bot()
    assert harness.discord.command_syncs == 1


async def test_second_request_within_cooldown_is_refused_with_when_it_ends(
    harness: Harness,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600")
    first = await harness.discord.invoke("character", {"prompt": "one"}, user_id=USER)
    await first.wait_for(sheet_delivered)
    second = await harness.discord.invoke("character", {"prompt": "two"}, user_id=USER)
    # Refused at once, or after a deferral when admission takes over 20 ms (a loaded machine).
    await second.wait_for(refused_in_private)
    text = refusal(second)
    assert TIMESTAMP.search(text) and "draw again" in text
    assert len(harness.segmind.requests) == 1


async def test_five_simultaneous_requests_from_one_user_start_one_job(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600", MAX_JOBS_PER_USER="5")
    records = await asyncio.gather(
        *(
            harness.discord.invoke("character", {"prompt": f"try {n}"}, user_id=USER)
            for n in range(5)
        )
    )
    for rec in records:  # refused at once, or (on a loaded machine) after a deferral
        await rec.wait_for(lambda r: sheet_delivered(r) or refused_in_private(r), timeout=15)
    assert sum(map(sheet_delivered, records)) == 1
    assert len(harness.segmind.requests) == 1


async def test_cooldown_survives_a_restart(harness: Harness) -> None:
    bot = await harness.start_bot(COOLDOWN_SECONDS="600")
    first = await harness.discord.invoke("character", {"prompt": "one"}, user_id=USER)
    await first.wait_for(sheet_delivered)
    await bot.kill()
    await harness.start_bot(COOLDOWN_SECONDS="600")
    again = await harness.discord.invoke("character", {"prompt": "two"}, user_id=USER)
    await again.wait_for(refused_in_private)  # at once, or after a deferral under load
    assert "draw again" in refusal(again)


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "declared", "words"),
    [
        (b"%PDF-1.7 not a picture", "pose.pdf", "application/pdf", None, "isn't a picture"),
        (b"hello", "pose.txt", "text/plain", None, "isn't a picture"),
        (b"\xff\xd8", "huge.jpg", "image/jpeg", 50 * 2**20, "the limit is 8 MiB"),
    ],
)
async def test_bad_attachments_are_refused_privately_without_downloading(
    harness: Harness,
    data: bytes,
    filename: str,
    content_type: str,
    declared: int | None,
    words: str,
) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="600")
    attachment = harness.discord.host_attachment(
        data, filename, content_type, declared_size=declared
    )
    rec = await harness.discord.invoke(
        "character",
        {"prompt": "x"},
        user_id=USER,
        attachments={"pose": attachment},
    )
    await rec.wait_for(lambda r: r.acked_at is not None)
    assert words in private_refusal(rec)
    assert harness.discord.cdn_downloads == []
    assert harness.segmind.requests == []
    # Refusals cost nothing: the member can try again at once.
    retry = await harness.discord.invoke("character", {"prompt": "x"}, user_id=USER)
    await retry.wait_for(sheet_delivered)


def bomb() -> bytes:
    """A small PNG whose header claims 30000 x 30000 pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * 30000) * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (picture((800, 600))[:300], "image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 500, "image"),
        (bomb(), "megapixels"),
        (picture((20, 20)), "pixels"),
    ],
    ids=["truncated", "garbage", "decompression-bomb", "tiny"],
)
async def test_broken_poses_are_explained_privately_and_cost_nothing(
    harness: Harness, data: bytes, words: str
) -> None:
    bot = await harness.start_bot(COOLDOWN_SECONDS="600")
    attachment = harness.discord.host_attachment(data, "pose.png", "image/png")
    rec = await harness.discord.invoke(
        "character",
        {"prompt": "x"},
        user_id=USER,
        attachments={"pose": attachment},
    )
    await rec.wait_for(lambda r: "delete_original" in r.events and bool(r.followups))
    assert words in private_followup(rec)
    assert harness.segmind.requests == []
    assert "Traceback" not in bot.logs
    retry = await harness.discord.invoke("character", {"prompt": "x"}, user_id=USER)
    await retry.wait_for(sheet_delivered)


async def test_an_animated_pose_uses_its_first_frame_and_says_so(harness: Harness) -> None:
    await harness.start_bot()
    frames = [Image.new("RGB", (300, 400), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    attachment = harness.discord.host_attachment(buffer.getvalue(), "pose.gif", "image/gif")
    rec = await harness.discord.invoke(
        "character",
        {"prompt": "x"},
        user_id=USER,
        attachments={"pose": attachment},
    )
    await rec.wait_for(sheet_delivered)
    fields = {f["name"]: f["value"] for f in rec.original.embeds[0]["fields"]}  # type: ignore[union-attr]
    assert "first frame" in fields["Notes"]


async def test_a_blank_prompt_is_refused_privately(harness: Harness) -> None:
    await harness.start_bot()
    rec = await harness.discord.invoke("character", {"prompt": "   "}, user_id=USER)
    await rec.wait_for(lambda r: r.acked_at is not None)
    assert "prompt" in private_refusal(rec)
    assert harness.segmind.requests == []


@pytest.mark.parametrize(
    ("planned", "words"),
    [
        (Planned.status(406, {"error": "Not enough credits"}), "credits have run out"),
        (Planned.status(401, {"error": "Unauthorized"}), "misconfigured"),
        (Planned.rate_limited(reset_in=3600), "rate limited"),
        (Planned.status(500, {"error": "boom"}), "Try again"),
        (Planned.status(503, {"error": "busy"}), "Try again"),
        (Planned.not_an_image(), "Try again"),
        (Planned.drop(), "Try again"),
    ],
    ids=["406", "401", "429", "500", "503", "not-an-image", "dropped"],
)
async def test_segmind_failures_replace_the_spinner_and_give_the_cooldown_back(
    harness: Harness, planned: Planned, words: str
) -> None:
    harness.segmind.plan(*[planned] * 5)
    bot = await harness.start_bot(COOLDOWN_SECONDS="600")
    rec = await harness.discord.invoke("character", {"prompt": "x"}, user_id=USER)
    await rec.wait_for(settled)
    assert rec.original is not None
    assert words in rec.original.content
    assert not rec.original.attachments and not rec.original.ephemeral
    assert "Traceback" not in rec.original.content
    if "misconfigured" in words:
        assert "SEGMIND_API_KEY" in bot.logs
    harness.segmind.plan()
    retry = await harness.discord.invoke("character", {"prompt": "again"}, user_id=USER)
    await retry.wait_for(lambda r: r.acked_at is not None)
    assert retry.ack_type == 5


async def test_a_segmind_timeout_is_reported_and_not_sent_twice(harness: Harness) -> None:
    harness.segmind.plan(Planned.hang(30))
    await harness.start_bot(SEGMIND_TIMEOUT_SECONDS="1")
    rec = await harness.discord.invoke("character", {"prompt": "x"}, user_id=USER)
    await rec.wait_for(settled)
    assert "took too long" in rec.original.content  # type: ignore[union-attr]
    assert len(harness.segmind.requests) == 1


async def test_a_sheet_over_the_upload_limit_is_shrunk_to_fit_and_says_so(
    harness: Harness,
) -> None:
    harness.discord.attachment_size_limit = 20_000
    await harness.start_bot()
    rec = await harness.discord.invoke("character", {"prompt": "x"}, user_id=USER)
    await rec.wait_for(sheet_delivered)
    message = rec.original
    assert message is not None
    assert len(message.attachments[0].data) <= 20_000
    fields = {f["name"]: f["value"] for f in message.embeds[0]["fields"]}
    assert "upload limit" in fields["Notes"]


async def test_mentions_in_a_prompt_ping_nobody(harness: Harness) -> None:
    await harness.start_bot()
    prompt = "@everyone @here <@&777> <@4242> a wizard"
    rec = await harness.discord.invoke("character", {"prompt": prompt}, user_id=USER)
    await rec.wait_for(sheet_delivered)
    for message in rec.all_messages:
        assert message.pinged_user_ids == []
        mentions = message.allowed_mentions
        assert mentions is not None and mentions.get("parse") == []


async def test_direct_messages_are_refused_unless_the_operator_allows_them(
    harness: Harness,
) -> None:
    await harness.start_bot()
    rec = await harness.discord.invoke(
        "character", {"prompt": "a lonely lighthouse keeper"}, user_id=USER, in_guild=False
    )
    await rec.wait_for(lambda r: r.acked_at is not None)
    assert "only draw in servers" in private_refusal(rec)
    assert harness.segmind.requests == []


async def test_allowed_direct_messages_keep_the_operators_limit_and_words(
    harness: Harness,
) -> None:
    # A member refused by their server cannot draw the same prompt in DMs instead.
    await harness.start_bot(
        ALLOW_DMS="true", DM_DAILY_LIMIT="1", BLOCKED_WORDS="dragon", COOLDOWN_SECONDS="0"
    )

    async def in_dm(prompt: str) -> InteractionRecord:
        rec = await harness.discord.invoke(
            "character", {"prompt": prompt}, user_id=USER, in_guild=False
        )
        await rec.wait_for(lambda r: sheet_delivered(r) or refused_in_private(r))
        return rec

    blocked = await in_dm("a red dragon")
    # Private at once, or (the first check in a process, while the look-alike table is built)
    # after a brief "thinking".
    assert "doesn't allow the word “dragon”" in refusal(blocked)
    drawn = await in_dm("a lonely lighthouse keeper")
    assert drawn.original is not None and drawn.original.embeds
    again = await in_dm("a second keeper")
    # (Each refusal private at once, or after a deferral when admission is slow under load.)
    assert "In direct messages the bot allows 1 sheet per member" in refusal(again)
    assert len(harness.segmind.requests) == 1
    # The operator's words hold in every server too.
    in_server = await harness.discord.invoke("character", {"prompt": "dragon"}, user_id=USER + 1)
    await in_server.wait_for(refused_in_private)
    assert "“dragon”" in refusal(in_server)
    assert len(harness.segmind.requests) == 1


async def test_a_channel_where_the_bot_cannot_post_is_refused_up_front(harness: Harness) -> None:
    await harness.start_bot()
    rec = await harness.discord.invoke(
        "character", {"prompt": "x"}, user_id=USER, app_permissions=1 << 10 | 1 << 11
    )
    await rec.wait_for(lambda r: r.acked_at is not None)
    assert "Attach Files" in private_refusal(rec)
    assert harness.segmind.requests == []


async def test_an_unexpected_failure_replaces_the_spinner_with_an_apology(
    harness: Harness,
) -> None:
    # Another program (a backup, say) holds the database: storing the job fails after the
    # request was acknowledged. The member must not be left with "thinking…" forever.
    bot = await harness.start_bot(COOLDOWN_SECONDS="0")
    # A first sheet loads the server's settings (kept from then on). Without it, the lock can
    # catch a start-up write (forgetting old poses) holding the bot's connection, so reading
    # the settings times out first: a private "storage is not answering", not this failure.
    first = await harness.discord.invoke("character", {"prompt": "first"}, user_id=USER)
    await first.wait_for(sheet_delivered)
    await harness.until_job(1, "done")  # its last write made
    with harness.database_locked():
        rec = await harness.discord.invoke("character", {"prompt": "x"}, user_id=USER)
        await rec.wait_for(lambda r: r.original is not None and "wrong" in r.original.content)
        assert rec.ack_type == 5
        assert "Something went wrong on our side" in rec.original.content  # type: ignore[union-attr]
    await bot.wait_for_log("/character failed")
    assert len(harness.segmind.requests) == 1


async def test_a_sheet_that_cannot_fit_any_upload_limit_is_reported_not_lost_silently(
    harness: Harness,
) -> None:
    harness.discord.attachment_size_limit = 100  # no sheet can be shrunk this far
    await harness.start_bot(COOLDOWN_SECONDS="600")
    rec = await harness.discord.invoke("character", {"prompt": "x"}, user_id=USER)
    await rec.wait_for(settled)
    assert "Something went wrong on our side" in rec.original.content  # type: ignore[union-attr]
    await harness.until_job(1, "failed")
    retry = await harness.discord.invoke("character", {"prompt": "again"}, user_id=USER)
    await retry.wait_for(lambda r: r.acked_at is not None)
    assert retry.ack_type == 5  # the cooldown was given back
