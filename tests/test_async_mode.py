"""Segmind's async (v2) mode through the real bot: a paid sheet survives a crash mid-drawing,
members see Segmind's own state, and requests are paced to the plan. Counted at the fake."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.fake_segmind import AsyncScript, Planned
from tests.harness import Harness, run_cli
from tests.helpers import (
    OWNER,
    ask,
    embed_fields,
    history,
    placeholder_says,
    refused_in_private,
    sheet_delivered,
)

V2 = {"SEGMIND_API": "v2"}


def stored_state(harness: Harness, job_id: int = 1) -> str | None:
    with sqlite3.connect(harness.cwd / "bot.sqlite3") as db:
        row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row[0] if row else None


async def until_stored(harness: Harness, state: str) -> None:
    await harness.discord.wait_until(lambda: stored_state(harness) == state, timeout=10)


@pytest.mark.process
async def test_a_crash_after_segmind_took_the_request_resumes_it_without_a_second_submit(
    harness: Harness,
) -> None:
    harness.segmind.async_script = AsyncScript(queued=0.5, processing=3.0)
    bot = await harness.start_bot(**V2)
    rec = await ask(harness, OWNER, "drawn across a crash")
    await until_stored(harness, "submitted")
    (request_id,) = harness.segmind.async_requests
    await bot.kill()  # SIGKILL while Segmind draws

    polls_before = len(harness.segmind.status_polls)
    await harness.start_bot(**V2)
    await rec.wait_for(sheet_delivered, timeout=15)
    assert len(harness.segmind.submits) == 1
    after = harness.segmind.status_polls[polls_before:]
    assert after and {poll.request_id for poll in after} == {request_id}
    assert harness.segmind.requests == []  # and no blocking request either


@pytest.mark.process
async def test_a_followed_up_request_is_followed_once_even_when_settling_is_retried(
    harness: Harness,
) -> None:
    # After the restart, settling leftovers puts the submitted job in line, then fails on a
    # damaged row and is retried (5 s later) while a worker still follows the request.
    harness.segmind.async_script = AsyncScript(queued=0.5, processing=7.0)
    bot = await harness.start_bot(**V2)
    rec = await ask(harness, OWNER, "followed once")
    await until_stored(harness, "submitted")
    await bot.kill()
    with sqlite3.connect(harness.cwd / "bot.sqlite3") as db:
        db.execute(
            "INSERT INTO jobs (user_id, channel_id, params, state, created_at)"
            " VALUES (1, 1, 'not json', 'queued', 0)"
        )

    bot = await harness.start_bot(MAX_CONCURRENT_JOBS="2", **V2)
    await rec.wait_for(sheet_delivered, timeout=20)
    await bot.wait_for_log("background task 'settle leftovers' failed")
    await asyncio.sleep(1.5)
    assert len(harness.segmind.result_fetches) == 1  # one follower fetched the result
    assert stored_state(harness) == "done"
    assert len(harness.segmind.submits) == 1
    assert sum(bool(m.attachments) for m in rec.all_messages) == 1
    assert harness.discord.channel_messages == []


@pytest.mark.process
async def test_a_crash_before_segmind_answered_the_submit_is_interrupted_not_resent(
    harness: Harness,
) -> None:
    harness.segmind.plan_submit(Planned.hang(30))
    bot = await harness.start_bot(COOLDOWN_SECONDS="600", **V2)
    rec = await ask(harness, OWNER, "cut off while sending")
    await harness.discord.wait_until(lambda: bool(harness.segmind.submits), timeout=10)
    await bot.kill()

    await harness.start_bot(COOLDOWN_SECONDS="600", **V2)
    await rec.wait_for(placeholder_says("interrupted by a restart"), timeout=10)
    again = await ask(harness, OWNER, "a second try")  # the cooldown was given back
    assert again.ack_type == 5, again.events
    await again.wait_for(sheet_delivered, timeout=15)
    prompts = [r.json["prompt"] for r in harness.segmind.submits]
    assert prompts == ["cut off while sending", "a second try"]


@pytest.mark.process
async def test_a_request_older_than_segmind_keeps_results_is_reported_lost(
    harness: Harness,
) -> None:
    harness.segmind.async_script = AsyncScript(queued=0.5, processing=30)
    bot = await harness.start_bot(COOLDOWN_SECONDS="600", **V2)
    rec = await ask(harness, OWNER, "forgotten")
    await until_stored(harness, "submitted")
    await bot.kill()
    with sqlite3.connect(harness.cwd / "bot.sqlite3") as db:  # the bot was away two hours
        db.execute("UPDATE jobs SET submitted_at = ?", (time.time() - 7200,))

    polls_before = len(harness.segmind.status_polls)
    await harness.start_bot(COOLDOWN_SECONDS="600", **V2)
    await rec.wait_for(placeholder_says("was lost"), timeout=10)
    assert "cooldown was reset" in rec.original.content  # type: ignore[union-attr]
    assert len(harness.segmind.status_polls) == polls_before  # not asked about a gone result
    again = await ask(harness, OWNER, "again")
    assert again.ack_type == 5


async def test_segmind_failing_a_request_tells_the_member_why_and_gives_the_cooldown_back(
    harness: Harness,
) -> None:
    harness.segmind.plan_async(AsyncScript(processing=0.3, error="NSFW content detected"))
    await harness.start_bot(COOLDOWN_SECONDS="600", **V2)
    rec = await ask(harness, OWNER, "something not allowed")
    await rec.wait_for(placeholder_says("Segmind's safety filter refused"), timeout=10)
    assert rec.original is not None and not rec.original.attachments
    assert "NSFW content detected" not in rec.original.content  # Segmind's words: the log's
    again = await ask(harness, OWNER, "something fine")
    assert again.ack_type == 5, again.events
    await again.wait_for(sheet_delivered, timeout=10)


async def test_segmind_s_own_error_text_stays_in_the_log_and_the_member_reads_plain_words(
    harness: Harness,
) -> None:
    internal = "RuntimeError: CUDA out of memory at /srv/worker-7/model.py:412 " + "x" * 200
    harness.segmind.plan_async(AsyncScript(processing=0.2, error=internal))
    bot = await harness.start_bot(**V2)
    rec = await ask(harness, OWNER, "an ordinary knight")
    await rec.wait_for(placeholder_says("Segmind could not draw this sheet"), timeout=10)
    assert rec.original is not None
    shown = " ".join(history(rec.original))
    assert "CUDA" not in shown and "/srv/" not in shown
    await bot.wait_for_log("CUDA out of memory")


async def test_members_see_segmind_queueing_then_drawing(harness: Harness) -> None:
    harness.segmind.async_script = AsyncScript(queued=1.2, processing=1.5)
    await harness.start_bot(**V2)
    rec = await ask(harness, OWNER, "watched closely")
    await rec.wait_for(sheet_delivered, timeout=15)
    assert rec.original is not None
    seen = history(rec.original)
    waiting = [i for i, text in enumerate(seen) if text.startswith("Waiting at Segmind")]
    drawing = [i for i, text in enumerate(seen) if text.startswith("Drawing")]
    assert waiting and drawing and waiting[0] < drawing[0], seen
    # An async result has no balance header: the bot asked for the balance, as members expect.
    assert embed_fields(rec.original)["Credits left"] == f"{harness.segmind.credits:,.2f}"


async def test_the_cli_draws_and_checks_with_the_same_async_path(
    harness: Harness, tmp_path: Path
) -> None:
    harness.segmind.async_script = AsyncScript(queued=0.2, processing=0.3)
    settings = {k: v for k, v in harness.settings(**V2).items() if k != "DATABASE_PATH"}
    drawn = await run_cli(
        "generate", "--prompt", "a cli knight", "--out", "k.jpg", cwd=tmp_path, **settings
    )
    assert drawn.code == 0, drawn.err
    assert f"credits left {harness.segmind.credits:,.2f}" in drawn.out
    assert len(harness.segmind.submits) == 1 and harness.segmind.requests == []
    checked = await run_cli("check", cwd=tmp_path, **settings)
    assert checked.code == 0, checked.err
    assert "SEGMIND_API=v2" in checked.out and "async" in checked.out


async def test_without_an_async_endpoint_the_bot_falls_back_to_the_blocking_api(
    harness: Harness,
) -> None:
    harness.segmind.v2_available = False
    bot = await harness.start_bot(SEGMIND_API="auto", COOLDOWN_SECONDS="0")
    for prompt in ("first", "second"):
        rec = await ask(harness, OWNER, prompt)
        await rec.wait_for(sheet_delivered, timeout=10)
    assert len(harness.segmind.submits) == 1  # asked once, then remembered
    assert [r.json["prompt"] for r in harness.segmind.requests] == ["first", "second"]
    assert bot.logs.count("refused the async API") == 1  # said once, to the operator


async def test_a_burst_is_paced_to_the_plans_requests_per_minute(harness: Harness) -> None:
    harness.segmind.async_script = AsyncScript(processing=0.2)
    await harness.start_bot(SEGMIND_RPM="10", MAX_CONCURRENT_JOBS="4", **V2)
    recs = await asyncio.gather(
        *(
            harness.discord.invoke("character", {"prompt": f"paced {n}"}, user_id=9000 + n)
            for n in range(12)
        )
    )
    delivered = [rec for rec in recs if not refused_in_private(rec)]
    await harness.discord.wait_until(
        lambda: sum(sheet_delivered(rec) for rec in delivered) >= 10, timeout=15
    )
    await asyncio.sleep(1.5)
    assert len(harness.segmind.submits) == 10  # the 11th waits for the minute to roll over
    waiting = [rec for rec in recs if not sheet_delivered(rec)]
    assert len(waiting) == 2
    for rec in waiting:
        await rec.wait_for(placeholder_says("allows only so many sheets a minute"), timeout=5)
