"""Exactly one Segmind request per accepted job, and no paid sheet dropped, whatever the timing.

Counted at the fakes: requests Segmind received, sheets Discord was given. No test waits for
discord.py's on_ready before acting (Discord does not), except to know it has passed.
"""

from __future__ import annotations

import asyncio
import io
import signal
import sqlite3
from collections import Counter

import pytest
from PIL import Image

from tests.fake_discord import InteractionRecord
from tests.fake_segmind import Planned
from tests.harness import Harness, free_port
from tests.helpers import (
    OTHER,
    OWNER,
    acked,
    answered,
    ask,
    at_segmind,
    placeholder_says,
    prompts,
    refused_in_private,
    scrape_when,
    sheet_delivered,
    sheets_posted,
)

# A short retry schedule for sheets no route reaches, so the tests stay quick.
QUICK_RETRY = {"DELIVERY_RETRY_SECONDS": "0.3"}


# --- start-up and restarts ----------------------------------------------------------------------


@pytest.mark.process
async def test_requests_sent_the_moment_the_session_is_ready_are_drawn_once(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.2
    bot = await harness.start_bot(MAX_CONCURRENT_JOBS="2", COOLDOWN_SECONDS="0")
    # READY has just arrived; discord.py's on_ready is still ~2 s away.
    recs = await asyncio.gather(
        *(
            harness.discord.invoke("character", {"prompt": f"early {n}"}, user_id=7000 + n)
            for n in range(7)
        )
    )
    assert "ready as" not in bot.logs, "the test was meant to act before on_ready"
    for rec in recs:
        await rec.wait_for(sheet_delivered, timeout=20)
    await bot.wait_for_log("ready as")  # on_ready has run; any second copy would now be drawn
    await asyncio.sleep(1.0)
    assert Counter(prompts(harness.segmind)) == {f"early {n}": 1 for n in range(7)}
    assert sheets_posted(harness) == 7
    assert harness.discord.channel_messages == []


@pytest.mark.process
async def test_reroll_pressed_right_after_a_restart_draws_once(harness: Harness) -> None:
    settings = {"COOLDOWN_SECONDS": "0"}
    bot = await harness.start_bot(**settings)
    rec = await ask(harness, OWNER, "a restless bard")
    await rec.wait_for(sheet_delivered, timeout=10)
    assert rec.original is not None
    sheet = rec.original
    await bot.kill()

    bot = await harness.start_bot(**settings)
    reroll = await harness.discord.click(sheet, sheet.custom_ids()[0], user_id=OWNER)
    await reroll.wait_for(sheet_delivered, timeout=15)
    await bot.wait_for_log("ready as")
    await asyncio.sleep(1.0)
    assert prompts(harness.segmind) == ["a restless bard", "a restless bard"]
    assert sheets_posted(harness) == 2


async def test_a_leftover_that_cannot_be_settled_does_not_keep_the_queue_from_running(
    harness: Harness,
) -> None:
    bot = await harness.start_bot()
    await bot.kill()
    with sqlite3.connect(harness.cwd / "bot.sqlite3") as db:  # a damaged row from the last run
        db.execute(
            "INSERT INTO jobs (user_id, channel_id, params, state, created_at)"
            " VALUES (1, 1, 'not json', 'queued', 0)"
        )
    port = free_port()
    bot = await harness.start_bot(METRICS_PORT=str(port))
    rec = await ask(harness, OWNER, "drawn all the same")
    await rec.wait_for(sheet_delivered, timeout=10)
    await bot.wait_for_log("background task 'settle leftovers' failed")
    # Counted for the operator's dashboards, not only logged.
    await scrape_when(
        f"http://127.0.0.1:{port}/metrics",
        'sheetbot_background_failures_total{task="settle leftovers"} 1.0',
    )


# --- limits under a burst -----------------------------------------------------------------------


async def test_sixty_members_at_the_same_instant_never_overfill_the_queue(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.3
    await harness.start_bot(MAX_QUEUE="5", MAX_CONCURRENT_JOBS="2")
    recs = await asyncio.gather(
        *(
            harness.discord.invoke("character", {"prompt": f"crowd {n}"}, user_id=8000 + n)
            for n in range(60)
        )
    )
    for rec in recs:
        await rec.wait_for(answered, timeout=30)
    drawn = [rec for rec in recs if sheet_delivered(rec)]
    assert 1 <= len(drawn) <= 5 + 2, len(drawn)
    assert len(harness.segmind.requests) == len(drawn)
    assert all(rec.ack_latency is not None and rec.ack_latency < 3 for rec in recs)


async def test_one_members_twenty_simultaneous_requests_stay_within_their_limit(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.3
    await harness.start_bot(COOLDOWN_SECONDS="0", MAX_JOBS_PER_USER="2")
    recs = await asyncio.gather(
        *(
            harness.discord.invoke("character", {"prompt": f"mine {n}"}, user_id=OWNER)
            for n in range(20)
        )
    )
    for rec in recs:
        await rec.wait_for(answered, timeout=20)
    assert len([rec for rec in recs if sheet_delivered(rec)]) == 2
    assert len(harness.segmind.requests) == 2


# --- a drawn sheet is delivered or kept ---------------------------------------------------------


async def close_every_route(harness: Harness, rec: InteractionRecord) -> None:
    """The interaction token expires, the channel refuses (50013), DMs are closed (50007)."""
    harness.discord.expire_token(rec)
    harness.discord.deny_channel_send = True
    harness.discord.closed_dms.add(rec.user_id)


async def test_a_sheet_no_route_reaches_is_kept_and_delivered_once_a_route_opens(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.5
    await harness.start_bot(**QUICK_RETRY)
    rec = await ask(harness, OWNER, "a patient paladin")
    await at_segmind(harness, 1)
    await close_every_route(harness, rec)
    # Several attempts fail (channel and DM each refused more than once)...
    await harness.discord.wait_until(lambda: len(harness.discord.denied_sends) >= 4, timeout=10)
    assert sheets_posted(harness) == 0
    # ...then the channel opens again.
    harness.discord.deny_channel_send = False
    await harness.discord.wait_until(lambda: bool(harness.discord.channel_messages), timeout=10)
    (message,) = harness.discord.channel_messages
    assert message.attachments and message.embeds[0]["description"] == "a patient paladin"
    assert message.pinged_user_ids == [OWNER]
    await asyncio.sleep(1.0)  # no second copy follows
    assert sheets_posted(harness) == 1
    assert prompts(harness.segmind) == ["a patient paladin"]


async def test_a_kept_sheet_survives_a_restart_and_arrives_after_it(harness: Harness) -> None:
    harness.segmind.delay = 0.5
    bot = await harness.start_bot(**QUICK_RETRY)
    rec = await ask(harness, OWNER, "a stubborn ranger")
    await at_segmind(harness, 1)
    await close_every_route(harness, rec)
    await harness.discord.wait_until(lambda: len(harness.discord.denied_sends) >= 2, timeout=10)
    await bot.signal(signal.SIGTERM)
    assert await bot.wait(timeout=15) == 0
    assert sheets_posted(harness) == 0

    harness.discord.deny_channel_send = False
    await harness.start_bot(**QUICK_RETRY)
    await harness.discord.wait_until(lambda: bool(harness.discord.channel_messages), timeout=10)
    assert sheets_posted(harness) == 1
    assert prompts(harness.segmind) == ["a stubborn ranger"]


async def test_a_sheet_no_route_reaches_for_the_whole_window_is_given_up_loudly(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.5
    bot = await harness.start_bot(DELIVERY_RETRY_SECONDS="0.2", DELIVERY_RETRY_HOURS="0.0005")
    rec = await ask(harness, OWNER, "a lost letter")
    await at_segmind(harness, 1)
    await close_every_route(harness, rec)
    await bot.wait_for_log("gave up delivering its sheet", timeout=15)

    def ended() -> tuple[str, str | None]:
        with sqlite3.connect(harness.cwd / "bot.sqlite3") as db:
            ((state, error),) = db.execute("SELECT state, error FROM jobs").fetchall()
        return state, error

    await harness.discord.wait_until(lambda: ended() == ("failed", "undelivered"), timeout=5)
    assert sheets_posted(harness) == 0
    # The member's cooldown was given back; once Discord lets the bot in, they can ask again.
    harness.discord.deny_channel_send = False
    again = await ask(harness, OWNER, "a second letter")
    await again.wait_for(sheet_delivered, timeout=10)


async def test_a_placeholder_someone_deleted_is_replaced_by_a_new_message(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.5
    await harness.start_bot()
    rec = await ask(harness, OWNER, "still wanted")
    await at_segmind(harness, 1)
    assert rec.original is not None
    harness.discord.delete_by_a_person(rec.original)
    await rec.wait_for(lambda r: any(m.attachments for m in r.all_messages), timeout=10)
    (sheet,) = [m for m in rec.all_messages if m.attachments]
    assert not sheet.ephemeral and sheet.embeds[0]["description"] == "still wanted"
    assert sheet.custom_ids() == [
        "sheet:reroll:1",
        "sheet:edit:1",
        "sheet:save:1",
        "sheet:delete:1",
    ]
    assert harness.discord.channel_messages == []


async def test_paid_sheet_is_delivered_even_when_storage_is_locked(harness: Harness) -> None:
    # Another program holds the database (a backup, a full disk): storing the sheet fails, and
    # the member gets it anyway, straight from memory.
    harness.segmind.delay = 1.0
    bot = await harness.start_bot(**QUICK_RETRY)  # the kept-sheets loop runs often, too
    rec = await ask(harness, OWNER, "a sheet paid for")
    await at_segmind(harness, 1)
    with harness.database_locked():
        await rec.wait_for(sheet_delivered, timeout=20)
    await bot.wait_for_log("could not be stored")
    await bot.wait_for_log("stored at last", timeout=15)
    await harness.until_job(1, "done")
    await asyncio.sleep(1.0)  # several rounds of the kept-sheets loop: none delivers it again
    assert sheets_posted(harness) == 1
    assert prompts(harness.segmind) == ["a sheet paid for"]


async def test_a_kept_sheet_delivered_while_storage_is_locked_is_not_delivered_again(
    harness: Harness,
) -> None:
    # A kept sheet (its first attempt found no route) is delivered on a retry, but writing
    # "delivered" fails: the kept-sheets loop must not take the stored "drawn" for a debt.
    harness.segmind.delay = 0.5
    bot = await harness.start_bot(**QUICK_RETRY)
    rec = await ask(harness, OWNER, "delivered once")
    await at_segmind(harness, 1)
    await close_every_route(harness, rec)
    await bot.wait_for_log("the sheet is kept")
    with harness.database_locked():
        harness.discord.deny_channel_send = False  # the next retry reaches the channel
        await harness.discord.wait_until(lambda: sheets_posted(harness) >= 1, timeout=5)
        await bot.wait_for_log("could not be stored", timeout=10)
        await asyncio.sleep(1.0)  # the kept-sheets loop runs every 0.3 s meanwhile
    await harness.until_job(1, "done", timeout=15)
    await asyncio.sleep(0.6)
    assert sheets_posted(harness) == 1


# --- what Segmind sends must be a picture -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xd8\xff\xe0" + b"<html><body>502 Bad Gateway</body></html>" * 20,
        "empty png",
    ],
    ids=["jpeg-magic-then-html", "zero-size-png"],
)
async def test_a_result_that_is_not_a_picture_is_never_posted(
    harness: Harness, body: bytes | str
) -> None:
    if body == "empty png":
        body = _png(0, 0)
    assert isinstance(body, bytes)
    harness.segmind.plan(Planned.image_bytes(body))
    await harness.start_bot()
    rec = await ask(harness, OWNER, "a broken sheet")
    await rec.wait_for(placeholder_says("Segmind had a problem"), timeout=10)
    assert sheets_posted(harness) == 0
    assert rec.original is not None and rec.original.components == []
    # The cooldown was given back: the member may ask again at once.
    again = await ask(harness, OWNER, "a good sheet")
    await again.wait_for(sheet_delivered, timeout=10)


def _png(width: int, height: int) -> bytes:
    # Pillow refuses to write a 0x0 image, so patch the size into a 1x1 PNG's header.
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    return bytes(data)


# --- placeholders never hold a job back ---------------------------------------------------------


async def test_a_failed_first_placeholder_edit_still_ends_with_the_sheet(
    harness: Harness,
) -> None:
    await harness.start_bot()
    harness.discord.inject_error("PATCH", r"^/webhooks/\d+/[^/]+/messages/", status=400, code=0)
    rec = await ask(harness, OWNER, "an unlucky start")
    await rec.wait_for(sheet_delivered, timeout=10)
    assert harness.discord.failed_on_purpose, "the edit was never tried"
    assert rec.original is not None and rec.original.content == ""
    assert harness.discord.channel_messages == []


async def test_placeholder_edits_failing_with_5xx_do_not_delay_the_drawing(
    harness: Harness,
) -> None:
    await harness.start_bot(MAX_CONCURRENT_JOBS="1")
    # Discord answers every placeholder edit with 503 (discord.py retries for ~25 s).
    harness.discord.inject_error("PATCH", r"^/webhooks/\d+/[^/]+/messages/", status=503, count=1000)
    rec = await ask(harness, OWNER, "no waiting on edits")
    assert rec.ack_type == 5
    await at_segmind(harness, 1)  # within at_segmind's 10 s, not after 25 s of retries
    harness.discord.clear_errors()
    await rec.wait_for(lambda r: sheet_delivered(r) or bool(harness.discord.channel_messages))
    assert prompts(harness.segmind) == ["no waiting on edits"]


# --- shutdown -----------------------------------------------------------------------------------


async def test_a_button_pressed_while_stopping_is_told_to_try_again(harness: Harness) -> None:
    harness.segmind.delay = 1.5
    bot = await harness.start_bot(COOLDOWN_SECONDS="0", SHUTDOWN_GRACE_SECONDS="10")
    done = await ask(harness, OWNER, "first sheet")
    await done.wait_for(sheet_delivered, timeout=10)
    running = await ask(harness, OTHER, "keeps the bot busy")
    await at_segmind(harness, 2)
    await bot.signal(signal.SIGTERM)
    await bot.wait_for_log("shutting down")
    assert done.original is not None
    press = await harness.discord.click(done.original, done.original.custom_ids()[0], user_id=OWNER)
    await press.wait_for(acked, timeout=5)
    assert refused_in_private(press)
    assert press.original is not None and "restarting" in press.original.content
    await running.wait_for(sheet_delivered, timeout=10)
    assert await bot.wait(timeout=15) == 0
