"""The job engine end to end: the real bot process against the wire-level fakes.

Concurrency and fairness, what waiting members are told, where results go when the interaction
token is gone, what survives a crash or a graceful restart, the sheet buttons after a restart,
and the queue's refusals.
"""

from __future__ import annotations

import io
import re
import signal

import pytest
from PIL import Image

from tests.fake_discord import InteractionRecord, Permissions
from tests.fake_segmind import Planned
from tests.harness import Harness
from tests.helpers import (
    OTHER,
    OWNER,
    THIRD,
    acked,
    ask,
    ask_queued,
    at_segmind,
    embed_fields,
    history,
    placeholder_says,
    prompts,
    refused_in_private,
    see_places_move,
    sheet_delivered,
)

# --- helpers ------------------------------------------------------------------------------------


def assert_queue_lines_stop_once_drawing(rec: InteractionRecord) -> None:
    """The placeholder went Queued… -> (Drawing…, unless the sheet came first) -> sheet,
    never back to a queue line."""
    assert rec.original is not None
    seen = history(rec.original)
    drawing = [i for i, text in enumerate(seen) if text.startswith("Drawing")]
    started = drawing[0] if drawing else len(seen)
    late = [text for text in seen[started:] if text.startswith("Queued")]
    assert late == [], f"user {rec.user_id}'s placeholder went back to the queue: {seen}"
    assert rec.original.content == "", rec.original.content  # the sheet, not a queue line
    assert rec.original.attachments


async def assert_refused_privately(rec: InteractionRecord, *words: str) -> None:
    """Refused in words only the member sees: at once, or after a deferral (the bot defers
    when admission takes longer than 20 ms, as it often does on a loaded machine)."""
    await rec.wait_for(refused_in_private, timeout=10)
    private = [m for m in rec.all_messages if m.ephemeral and not m.deleted]
    said = " ".join(m.content for m in private).lower()
    for word in words:
        assert word in said, said
    assert all(m.pinged_user_ids == [] for m in private)


# --- concurrency and fairness -------------------------------------------------------------------


async def test_a_burst_of_twenty_members_is_served_without_exceeding_the_concurrency_limit(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.3
    await harness.start_bot(MAX_CONCURRENT_JOBS="3", MAX_QUEUE="50")
    users = [6000 + n for n in range(20)]
    recs = [
        await harness.discord.invoke("character", {"prompt": f"hero {n}"}, user_id=user)
        for n, user in enumerate(users)
    ]
    for rec in recs:
        await rec.wait_for(sheet_delivered, timeout=30)
    assert harness.segmind.max_in_flight == 3
    assert sorted(prompts(harness.segmind)) == sorted(f"hero {n}" for n in range(20))
    for n, rec in enumerate(recs):
        assert rec.ack_type == 5 and not rec.ephemeral
        assert rec.ack_latency is not None and rec.ack_latency < 3
        assert rec.original is not None
        assert rec.original.embeds[0]["description"] == f"hero {n}"
        assert embed_fields(rec.original)["Asked by"] == f"<@{users[n]}>"
    assert harness.discord.violations == []


async def test_one_members_five_sheets_do_not_hold_back_another_members_one(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.5
    await harness.start_bot(COOLDOWN_SECONDS="0", MAX_JOBS_PER_USER="5", MAX_CONCURRENT_JOBS="1")
    for n in range(5):
        await ask_queued(harness, OWNER, f"busy {n}")
    other = await ask_queued(harness, OTHER, "patient one")
    await other.wait_for(sheet_delivered, timeout=15)
    order = prompts(harness.segmind)
    assert order[0] == "busy 0"
    # Second, or at worst before the busy member's third sheet.
    assert order.index("patient one") <= 2, order
    assert "busy 2" not in order[: order.index("patient one")], order


# --- what waiting members see -------------------------------------------------------------------


async def test_queued_members_see_their_place_move_then_drawing_then_the_sheet(
    harness: Harness,
) -> None:
    await see_places_move(harness)


async def test_a_slow_place_announcement_never_overwrites_a_finished_sheet(
    harness: Harness,
) -> None:
    # Discord rate-limits one placeholder edit of the place announcer for a few seconds (the
    # bot waits and retries, as discord.py does); meanwhile later members' sheets are drawn and
    # delivered. The announcer must not then write their old place over their sheet.
    harness.segmind.plan(Planned.hang(0.5), Planned.hang(2.7), Planned.hang(2.7), Planned.hang(2.2))
    await harness.start_bot(MAX_CONCURRENT_JOBS="3")
    for n, user in enumerate((6001, 6002, 6003)):
        await ask_queued(harness, user, f"running {n}")
    await at_segmind(harness, 3)
    blocker = await ask_queued(harness, OWNER, "blocker")
    await harness.until_job(4, "queued", "sending")
    slowed = await ask_queued(harness, OTHER, "slowed")
    await harness.until_job(5, "queued", "sending")
    victim = await ask_queued(harness, THIRD, "victim")
    await harness.until_job(6, "queued", "sending")
    assert victim.original is not None and victim.original.content == "Queued — 2 ahead of you."
    # The next edit of `slowed`'s placeholder is the announcer telling it has moved up.
    harness.discord.inject_429("PATCH", re.escape(slowed.token), retry_after=3)
    for rec in (blocker, slowed, victim):
        await rec.wait_for(sheet_delivered, timeout=20)
    assert harness.discord.rate_limited, "the announcer never told `slowed` it moved up"
    for rec in (blocker, slowed, victim):
        assert_queue_lines_stop_once_drawing(rec)


# --- delivery when the interaction token is gone ------------------------------------------------


async def test_sheet_goes_to_the_channel_pinging_only_the_member_when_the_token_expired(
    harness: Harness,
) -> None:
    harness.segmind.delay = 1.0
    await harness.start_bot()
    rec = await ask_queued(harness, OWNER, "late knight")
    await at_segmind(harness, 1)
    harness.discord.expire_token(rec)
    await harness.discord.wait_until(lambda: bool(harness.discord.channel_messages), timeout=10)
    (message,) = harness.discord.channel_messages
    assert message.attachments and message.embeds
    assert message.embeds[0]["description"] == "late knight"
    assert f"<@{OWNER}>" in message.content
    assert message.pinged_user_ids == [OWNER]
    mentions = message.allowed_mentions
    assert mentions is not None
    assert not set(mentions.get("parse") or []) & {"everyone", "roles", "users"}
    assert [int(u) for u in mentions.get("users") or []] == [OWNER]
    assert message.custom_ids() == [
        "sheet:reroll:1",
        "sheet:edit:1",
        "sheet:save:1",
        "sheet:delete:1",
    ]
    assert harness.discord.dm_messages == []


async def test_sheet_goes_by_direct_message_when_the_token_expired_and_the_channel_is_closed(
    harness: Harness,
) -> None:
    harness.segmind.delay = 1.0
    await harness.start_bot()
    rec = await ask_queued(harness, OWNER, "lonely ranger")
    await at_segmind(harness, 1)
    harness.discord.deny_channel_send = True
    harness.discord.expire_token(rec)
    await harness.discord.wait_until(lambda: bool(harness.discord.dm_messages), timeout=10)
    (message,) = harness.discord.dm_messages
    assert message.channel_id == harness.discord.dm_channels[OWNER]
    assert message.attachments and message.embeds[0]["description"] == "lonely ranger"
    assert message.pinged_user_ids == []
    assert harness.discord.channel_messages == []
    assert harness.discord.denied_sends, "the channel was never tried"


# --- crashes and restarts -----------------------------------------------------------------------


@pytest.mark.process
async def test_after_a_crash_queued_sheets_resume_and_the_interrupted_one_is_not_resent(
    harness: Harness,
) -> None:
    settings = {"MAX_CONCURRENT_JOBS": "1", "COOLDOWN_SECONDS": "60"}
    harness.segmind.plan(Planned.hang(30))
    bot = await harness.start_bot(**settings)
    cut = await ask_queued(harness, OWNER, "cut off")
    await at_segmind(harness, 1)
    waiting = await ask_queued(harness, OTHER, "waiting one")
    assert waiting.original is not None and waiting.original.content == "Queued — you're next."
    await harness.until_job(2, "queued", "sending")
    await bot.kill()  # SIGKILL: no chance to clean up

    await harness.start_bot(**settings)
    await cut.wait_for(placeholder_says("interrupted by a restart"), timeout=10)
    await waiting.wait_for(sheet_delivered, timeout=10)
    assert waiting.original.embeds[0]["description"] == "waiting one"
    assert cut.original is not None and not cut.original.attachments
    assert cut.original.pinged_user_ids == []

    # The cooldown was given back: the member can ask again at once.
    again = await ask(harness, OWNER, "second attempt")
    assert again.ack_type == 5 and not again.ephemeral, again.events
    await again.wait_for(sheet_delivered, timeout=10)
    # Never sent twice: Segmind might have billed the first one already.
    assert prompts(harness.segmind).count("cut off") == 1
    assert prompts(harness.segmind) == ["cut off", "waiting one", "second attempt"]


@pytest.mark.process
async def test_sigterm_finishes_the_running_sheet_refuses_new_ones_and_keeps_the_queue(
    harness: Harness,
) -> None:
    settings = {"MAX_CONCURRENT_JOBS": "1", "SHUTDOWN_GRACE_SECONDS": "30"}
    harness.segmind.delay = 2.0
    bot = await harness.start_bot(**settings)
    running = await ask_queued(harness, OWNER, "almost done")
    await at_segmind(harness, 1)
    waiting = await ask_queued(harness, OTHER, "next in line")
    await harness.until_job(2, "queued", "sending")

    await bot.signal(signal.SIGTERM)
    await bot.wait_for_log("shutting down")
    late = await ask(harness, THIRD, "too late")
    await assert_refused_privately(late, "restarting")

    await running.wait_for(sheet_delivered, timeout=10)
    assert await bot.wait(timeout=15) == 0
    assert prompts(harness.segmind) == ["almost done"]
    assert waiting.original is not None and waiting.original.content.startswith("Queued")

    harness.segmind.delay = 0
    await harness.start_bot(**settings)
    await waiting.wait_for(sheet_delivered, timeout=10)
    assert waiting.original.embeds[0]["description"] == "next in line"
    assert prompts(harness.segmind) == ["almost done", "next in line"]


# --- the buttons under a sheet ------------------------------------------------------------------


async def test_reroll_and_delete_work_after_a_restart_and_refuse_strangers(
    harness: Harness,
) -> None:
    settings = {"COOLDOWN_SECONDS": "0"}
    bot = await harness.start_bot(**settings)
    rec = await ask(harness, OWNER, "a blue owl wizard", strength=0.55)
    await rec.wait_for(sheet_delivered, timeout=10)
    sheet = rec.original
    assert sheet is not None
    job = sheet.custom_ids()[0].rsplit(":", 1)[1]
    assert sheet.custom_ids() == [
        f"sheet:reroll:{job}",
        f"sheet:edit:{job}",
        f"sheet:save:{job}",
        f"sheet:delete:{job}",
    ]
    await bot.kill()
    await harness.start_bot(**settings)

    reroll = await harness.discord.click(sheet, f"sheet:reroll:{job}", user_id=OWNER)
    await reroll.wait_for(sheet_delivered, timeout=10)
    assert reroll.ack_type == 5 and not reroll.ephemeral
    first, second = (r.json for r in harness.segmind.requests)
    assert second["prompt"] == first["prompt"] == "a blue owl wizard"
    assert second["strength"] == first["strength"] == 0.55
    assert second["seed"] != first["seed"]
    assert reroll.original is not None and reroll.original is not sheet
    fields = embed_fields(reroll.original)
    assert fields["Seed"] == f"`{second['seed']}`"
    assert fields["Strength"] == "0.55"

    for action in ("reroll", "delete"):
        stranger = await harness.discord.click(sheet, f"sheet:{action}:{job}", user_id=OTHER)
        await stranger.wait_for(acked, timeout=5)
        await assert_refused_privately(stranger, "only the member who asked")
    assert not sheet.deleted
    assert len(harness.segmind.requests) == 2

    delete = await harness.discord.click(sheet, f"sheet:delete:{job}", user_id=OWNER)
    await delete.wait_for(lambda _: sheet.deleted, timeout=5)
    assert delete.ack_type is not None and not delete.ephemeral
    assert not reroll.original.deleted


async def test_a_moderator_can_delete_someone_elses_sheet(harness: Harness) -> None:
    await harness.start_bot()
    rec = await ask(harness, OWNER, "a grumpy dwarf")
    await rec.wait_for(sheet_delivered, timeout=10)
    sheet = rec.original
    assert sheet is not None
    job = sheet.custom_ids()[1].rsplit(":", 1)[1]
    press = await harness.discord.click(
        sheet, f"sheet:delete:{job}", user_id=OTHER, permissions=Permissions.MANAGE_GUILD
    )
    await press.wait_for(lambda _: sheet.deleted, timeout=5)
    assert not press.ephemeral


async def test_open_reroll_lets_anyone_reroll(harness: Harness) -> None:
    await harness.start_bot(OPEN_REROLL="true")
    rec = await ask(harness, OWNER, "a cheerful robot")
    await rec.wait_for(sheet_delivered, timeout=10)
    sheet = rec.original
    assert sheet is not None
    job = sheet.custom_ids()[0].rsplit(":", 1)[1]
    reroll = await harness.discord.click(sheet, f"sheet:reroll:{job}", user_id=OTHER)
    await reroll.wait_for(sheet_delivered, timeout=10)
    assert reroll.ack_type == 5 and not reroll.ephemeral
    assert prompts(harness.segmind) == ["a cheerful robot", "a cheerful robot"]
    assert reroll.original is not None
    assert embed_fields(reroll.original)["Asked by"] == f"<@{OTHER}>"
    # Delete stays the requester's (and moderators').
    stranger = await harness.discord.click(sheet, f"sheet:delete:{job}", user_id=OTHER)
    await stranger.wait_for(acked, timeout=5)
    await assert_refused_privately(stranger, "only the member who asked")
    assert not sheet.deleted


# --- refusals -----------------------------------------------------------------------------------


async def test_a_full_queue_refuses_privately_without_charging_the_cooldown(
    harness: Harness,
) -> None:
    harness.segmind.delay = 1.0
    await harness.start_bot(MAX_QUEUE="1", MAX_CONCURRENT_JOBS="1", COOLDOWN_SECONDS="60")
    first = await ask_queued(harness, OWNER, "first")
    await at_segmind(harness, 1)
    second = await ask_queued(harness, OTHER, "second")
    await harness.until_job(2, "queued", "sending")

    refused = await ask(harness, THIRD, "third")
    await assert_refused_privately(refused, "queue")
    assert refused.ack_latency is not None and refused.ack_latency < 3

    # Once the queue has room again the same member is accepted: no cooldown was charged.
    await at_segmind(harness, 2)
    retry = await ask(harness, THIRD, "third")
    assert retry.ack_type == 5 and not retry.ephemeral, retry.events
    for rec in (first, second, retry):
        await rec.wait_for(sheet_delivered, timeout=15)
    assert prompts(harness.segmind) == ["first", "second", "third"]


async def test_a_member_over_their_own_limit_is_refused_privately(harness: Harness) -> None:
    harness.segmind.delay = 1.0
    await harness.start_bot(MAX_JOBS_PER_USER="1", COOLDOWN_SECONDS="0")
    first = await ask_queued(harness, OWNER, "mine")
    await at_segmind(harness, 1)
    refused = await ask(harness, OWNER, "mine again")
    await assert_refused_privately(refused, "already have")
    await first.wait_for(sheet_delivered, timeout=10)
    await harness.until_job(1, "done")
    # With the first one done, the member may ask again.
    harness.segmind.delay = 0
    again = await ask(harness, OWNER, "mine at last")
    await again.wait_for(sheet_delivered, timeout=10)
    assert prompts(harness.segmind) == ["mine", "mine at last"]


@pytest.mark.process
async def test_a_slow_placeholder_edit_neither_holds_the_queue_nor_frees_its_place(
    harness: Harness,
) -> None:
    # Discord is slow to answer the member's placeholder edit (a 429). The job is stored and
    # queued all the same, so the next member is told the queue is full; across a crash the
    # accepted job is still drawn, and the refused one never is.
    settings = {"MAX_QUEUE": "1", "MAX_CONCURRENT_JOBS": "1"}
    harness.segmind.plan(Planned.hang(30))
    bot = await harness.start_bot(**settings)
    await ask_queued(harness, OWNER, "running")
    await at_segmind(harness, 1)
    harness.discord.inject_429("PATCH", r"^/webhooks/\d+/[^/]+/messages/@original$", retry_after=1)
    slow = await ask(harness, OTHER, "slow one")
    assert slow.ack_type == 5, slow.events
    await harness.until_job(2, "queued", "sending")
    refused = await ask(harness, THIRD, "refused one")
    await assert_refused_privately(refused, "queue is full")
    await bot.kill()

    await harness.start_bot(**{**settings, "MAX_QUEUE": "5"})
    await harness.discord.wait_until(
        lambda: sheet_delivered(slow) or bool(harness.discord.channel_messages), timeout=10
    )
    assert prompts(harness.segmind) == ["running", "slow one"]


async def test_reroll_reuses_the_members_own_pose(harness: Harness) -> None:
    await harness.start_bot(COOLDOWN_SECONDS="0")
    buffer = io.BytesIO()
    Image.new("RGB", (600, 800), (30, 90, 200)).save(buffer, "PNG")
    pose = harness.discord.host_attachment(buffer.getvalue(), "pose.png", "image/png")
    rec = await harness.discord.invoke(
        "character", {"prompt": "a bard"}, user_id=OWNER, attachments={"pose": pose}
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    job = rec.original.custom_ids()[0].rsplit(":", 1)[1]
    reroll = await harness.discord.click(rec.original, f"sheet:reroll:{job}", user_id=OWNER)
    await reroll.wait_for(sheet_delivered, timeout=10)
    first, second = (r.json for r in harness.segmind.requests)
    assert second["image"] == first["image"]
    assert harness.discord.cdn_downloads == [pose["id"]]  # kept by the bot, not re-fetched


async def test_reroll_after_the_retention_limit_says_the_sheet_expired(harness: Harness) -> None:
    await harness.start_bot(POSE_RETENTION_DAYS="0")
    rec = await ask(harness, OWNER, "a sailor")
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    job = rec.original.custom_ids()[0].rsplit(":", 1)[1]
    reroll = await harness.discord.click(rec.original, f"sheet:reroll:{job}", user_id=OWNER)
    await reroll.wait_for(acked, timeout=5)
    await assert_refused_privately(reroll, "too old to re-roll")
    assert len(harness.segmind.requests) == 1


async def test_prompts_stay_out_of_the_log_unless_the_operator_asks(harness: Harness) -> None:
    quiet = await harness.start_bot(LOG_LEVEL="INFO")
    rec = await ask(harness, OWNER, "a very private prompt")
    await rec.wait_for(sheet_delivered, timeout=10)
    await harness.until_job(1, "done")
    assert "a very private prompt" not in quiet.logs
    await quiet.kill()
    loud = await harness.start_bot(LOG_LEVEL="INFO", LOG_PROMPTS="true", COOLDOWN_SECONDS="0")
    rec = await ask(harness, OTHER, "a shared prompt")
    await rec.wait_for(sheet_delivered, timeout=10)
    await harness.until_job(2, "done")
    assert "a shared prompt" in loud.logs


@pytest.mark.process
async def test_a_sheet_drawn_but_not_yet_delivered_survives_a_crash_without_a_second_request(
    harness: Harness,
) -> None:
    harness.segmind.delay = 1.0
    bot = await harness.start_bot()
    rec = await ask(harness, OWNER, "a paid-for sheet")
    await rec.wait_for(placeholder_says("Drawing"), timeout=10)
    # Discord stalls the upload (a long rate limit) and the bot dies while it waits.
    harness.discord.inject_429("PATCH", r"^/webhooks/\d+/[^/]+/messages/\d+$", retry_after=60)
    await harness.until_job(1, "drawn")
    await harness.discord.wait_until(lambda: bool(harness.discord.rate_limited), timeout=10)
    await bot.kill()

    await harness.start_bot()
    await rec.wait_for(sheet_delivered, timeout=10)
    assert prompts(harness.segmind) == ["a paid-for sheet"]  # delivered from storage, not redrawn
