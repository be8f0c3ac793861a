"""What a careful operator expects of a bot left running unattended: secrets never logged,
fatal gateway closes end the process cleanly, one slow upload holds back nobody, upstream
headers and numbers made fit for people, proxies' 429s waited out, a deleted database noticed.

(Storage errors at start-up: tests/test_migrations.py. Invisible prompts: tests/test_request.py.)
"""

from __future__ import annotations

import asyncio

import pytest

from bot.discord import app
from bot.sheets import texts
from bot.sheets.locales import Number, language
from bot.state.sqlite.store import Store
from tests.fake_discord import InteractionRecord
from tests.fake_segmind import Planned
from tests.harness import Harness
from tests.helpers import (
    OTHER,
    OWNER,
    ask,
    at_segmind,
    placeholder_says,
    png,
    prompts,
    sheet_delivered,
)


@pytest.mark.process
async def test_an_upstream_page_echoing_the_key_never_puts_it_in_the_log(
    harness: Harness,
) -> None:
    # A proxy's error page that echoes the request headers, served with 200.
    page = f"<html><pre>x-api-key: {harness.segmind.api_key}\nuser-agent: x</pre></html>"
    harness.segmind.plan(Planned.status(200, page.encode(), {"Content-Type": "text/html"}))
    bot = await harness.start_bot(LOG_LEVEL="DEBUG")
    rec = await ask(harness, OWNER, "an echoed key")
    await rec.wait_for(placeholder_says("Segmind had a problem"), timeout=10)
    await harness.until_job(1, "failed")
    assert harness.segmind.api_key not in bot.logs
    assert "[redacted]" in bot.logs  # the page was logged, without the key


@pytest.mark.process
async def test_discord_rejecting_the_token_mid_run_ends_the_process_cleanly(
    harness: Harness,
) -> None:
    harness.segmind.delay = 1.5
    bot = await harness.start_bot(SHUTDOWN_GRACE_SECONDS="20")
    rec = await ask(harness, OWNER, "finished before the end")
    await at_segmind(harness, 1)
    await harness.discord.disconnect_gateway(4004)  # Authentication failed: never resumable
    assert await bot.wait(timeout=20) == 2
    await rec.wait_for(sheet_delivered, timeout=1)  # the running sheet was delivered first
    assert "Discord rejected the token" in bot.logs
    assert "Traceback" not in bot.logs
    assert prompts(harness.segmind) == ["finished before the end"]


async def test_a_pose_trickling_in_at_one_byte_a_second_holds_back_nobody_else(
    harness: Harness,
) -> None:
    await harness.start_bot(POSE_DOWNLOAD_SECONDS="3")
    slow = harness.discord.host_attachment(png(), "slow.png", "image/png", bytes_per_second=1)
    fast = harness.discord.host_attachment(png(), "fast.png", "image/png")
    stuck = await harness.discord.invoke(
        "character", {"prompt": "slow"}, user_id=OWNER, attachments={"pose": slow}
    )
    await asyncio.sleep(0.2)
    quick = await harness.discord.invoke(
        "character", {"prompt": "fast"}, user_id=OTHER, attachments={"pose": fast}
    )
    await quick.wait_for(sheet_delivered, timeout=2.5)  # before the slow one gives up
    await stuck.wait_for(told_download_failed, timeout=5)
    assert prompts(harness.segmind) == ["fast"]


ENGLISH = language("en-US")


def told_download_failed(rec: InteractionRecord) -> bool:
    private = [m for m in rec.all_messages if m.ephemeral and not m.deleted]
    return any("couldn't download the pose" in m.content for m in private)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(-0.0, "0"), (1e-320, "0"), (0.55, "0.55"), (1.0, "1"), (0.8000000001, "0.8")],
)
def test_numbers_are_shown_as_people_write_them(value: float, shown: str) -> None:
    assert ENGLISH.say(Number(value)) == shown


def test_credits_keep_two_decimals_without_a_minus_zero() -> None:
    assert ENGLISH.say(texts.credits(-0.0001)) == "0.00"
    assert ENGLISH.say(texts.credits(1234.5)) == "1,234.50"
    assert language("de").say(texts.credits(1234.5)) == "1.234,50"


async def test_a_proxys_429_on_the_final_edit_is_waited_out_not_sent_elsewhere(
    harness: Harness,
) -> None:
    harness.segmind.delay = 0.5
    await harness.start_bot()
    rec = await ask(harness, OWNER, "through a proxy")
    await at_segmind(harness, 1)
    # The next edit of the placeholder meets a proxy's own limit (no Via header).
    harness.discord.inject_429(
        "PATCH", r"^/webhooks/\d+/[^/]+/messages/\d+$", retry_after=1, via=False
    )
    await rec.wait_for(sheet_delivered, timeout=10)
    assert harness.discord.rate_limited
    assert harness.discord.channel_messages == []


async def test_a_database_deleted_while_running_is_reported_loudly(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bot in this loop, checking often, and counted: the test waits for checks, not time.
    monkeypatch.setattr(app, "DATABASE_CHECK_EVERY", 0.05)
    checks = 0
    file_problem = Store.file_problem

    def counted(store: Store) -> str | None:
        nonlocal checks
        checks += 1
        return file_problem(store)

    monkeypatch.setattr(Store, "file_problem", counted)
    bot = await harness.start_bot()
    (harness.cwd / "bot.sqlite3").unlink()
    await bot.wait_for_log("was deleted or replaced while the bot runs", timeout=10)
    seen = checks
    await harness.discord.wait_until(lambda: checks >= seen + 3, timeout=10)  # checked again
    assert bot.logs.count("was deleted or replaced") == 1  # once per change, not every check
