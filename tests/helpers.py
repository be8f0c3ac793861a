"""What the tests share: how to ask the bot, how to tell what a member saw, settings for the CLI.

Predicates over an `InteractionRecord` are for `rec.wait_for(...)`: each names an outcome a
member would notice. Nothing here sleeps: every wait is on a state, with a timeout.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable

import aiohttp
from PIL import Image

from bot.sheets.job import NewJob
from bot.sheets.request import SheetRequest
from bot.sheets.rules import Limits
from tests.fake_discord import FakeDiscord, InteractionRecord, Message, Permissions
from tests.fake_segmind import FakeSegmind
from tests.harness import Harness

# Members of the fake guild (any ids work; these read well in failures).
OWNER = 5001
OTHER = 5002
THIRD = 5003
FOURTH = 5004
MODERATOR = 7103
TIMESTAMP = re.compile(r"<t:\d+:R>")

# Admission limits that admit everything: for storage tests about something else.
ROOMY = Limits(cooldown_seconds=0, max_waiting=1000, max_per_user=1000)
GUILD = 2


# --- what a member sees -------------------------------------------------------------------------


def acked(rec: InteractionRecord) -> bool:
    return rec.ack_type is not None


def sheet_delivered(rec: InteractionRecord) -> bool:
    return rec.original is not None and bool(rec.original.attachments)


def refused_in_private(rec: InteractionRecord) -> bool:
    """Refused with a reply only the member sees: at once (ack 4), or after a deferral whose
    public "thinking" message was removed."""
    private = [m for m in rec.all_messages if m.ephemeral and not m.deleted]
    public = [m for m in rec.all_messages if not m.ephemeral and not m.deleted]
    return bool(private) and not public


def answered(rec: InteractionRecord) -> bool:
    """A /character request has its outcome: the sheet, a private refusal, or word that it
    failed (and the cooldown was reset)."""
    failed = rec.original is not None and "cooldown was reset" in rec.original.content
    return sheet_delivered(rec) or refused_in_private(rec) or failed


def replied(rec: InteractionRecord) -> bool:
    """Any command's original response shows something: an embed or text."""
    return rec.original is not None and bool(rec.original.embeds or rec.original.content)


def refusal(rec: InteractionRecord) -> str:
    """The text of a private refusal."""
    assert refused_in_private(rec), rec.events
    return next(m.content for m in rec.all_messages if m.ephemeral and not m.deleted)


def history(message: Message) -> list[str]:
    """Every text the message showed, in order (payloads that did not touch content skipped)."""
    return [p["content"] or "" for p in message.payloads if "content" in p]


def placeholder_says(text: str) -> Callable[[InteractionRecord], bool]:
    """The placeholder shows, or has shown, `text` (two quick edits may land between wakes)."""

    def check(rec: InteractionRecord) -> bool:
        return rec.original is not None and any(text in said for said in history(rec.original))

    return check


def embed_fields(message: Message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


def sheets_posted(harness: Harness) -> int:
    """Sheets Discord was given, by every route."""
    fake = harness.discord
    messages = [m for rec in fake.interactions for m in rec.all_messages]
    messages += fake.channel_messages + fake.dm_messages
    return sum(1 for m in messages if m.attachments)


def prompts(segmind: FakeSegmind) -> list[str]:
    """The prompt of every generate request Segmind received, in arrival order."""
    return [r.json["prompt"] for r in segmind.requests if isinstance(r.json, dict)]


# --- asking the bot -----------------------------------------------------------------------------


async def ask(harness: Harness, user_id: int, prompt: str, **options: object) -> InteractionRecord:
    """/character as `user_id`; returns once the bot has acknowledged it."""
    rec = await harness.discord.invoke("character", {"prompt": prompt, **options}, user_id=user_id)
    await rec.wait_for(acked, timeout=5)
    return rec


async def ask_queued(harness: Harness, user_id: int, prompt: str) -> InteractionRecord:
    """/character as `user_id`, accepted; returns once its placeholder shows its place."""
    rec = await ask(harness, user_id, prompt)
    assert rec.ack_type == 5 and not rec.ephemeral, rec.events
    await rec.wait_for(placeholder_says("Queued"), timeout=5)
    return rec


async def draw(
    harness: Harness,
    user_id: int,
    prompt: str,
    *,
    guild_id: int | None = None,
    channel_id: int | None = None,
) -> InteractionRecord:
    """/character as `user_id`; returns once it is `answered`."""
    rec = await harness.discord.invoke(
        "character", {"prompt": prompt}, user_id=user_id, guild_id=guild_id, channel_id=channel_id
    )
    await rec.wait_for(answered, timeout=10)
    return rec


async def config(
    harness: Harness,
    command: str,
    *,
    guild_id: int | None = None,
    user_id: int = MODERATOR,
    **options: object,
) -> str:
    """Run /config in a server as a moderator; the private answer's text (or embed fields)."""
    rec = await harness.discord.invoke(
        f"config {command}",
        options,
        user_id=user_id,
        permissions=Permissions.MANAGE_GUILD,
        guild_id=guild_id,
    )
    await rec.wait_for(acked, timeout=5)
    assert rec.ephemeral and rec.original is not None, rec.events
    if rec.original.embeds:
        return "\n".join(f"{f['name']}: {f['value']}" for f in rec.original.embeds[0]["fields"])
    return rec.original.content


async def at_segmind(harness: Harness, count: int) -> None:
    """Wait until Segmind has received `count` generate requests."""
    await harness.discord.wait_until(lambda: len(harness.segmind.requests) >= count, timeout=10)


async def scrape_when(url: str, line: str, timeout: float = 10) -> str:
    """The metrics page, once it shows `line` (the bot counts a job after delivering it)."""
    async with asyncio.timeout(timeout), aiohttp.ClientSession() as http:
        while True:
            async with http.get(url) as response:
                assert response.status == 200
                text = await response.text()
            if line in text:
                return text
            await asyncio.sleep(0.05)


async def see_places_move(harness: Harness) -> None:
    """Four members, one at a time: each sees their place, then it moving, then the sheet."""
    harness.segmind.delay = 1.2
    await harness.start_bot(MAX_CONCURRENT_JOBS="1")
    first = await ask_queued(harness, OWNER, "first")
    await at_segmind(harness, 1)
    second = await ask_queued(harness, OTHER, "second")
    await harness.until_job(2, "queued", "sending")
    third = await ask_queued(harness, THIRD, "third")
    await harness.until_job(3, "queued", "sending")
    last = await ask_queued(harness, FOURTH, "fourth")
    assert second.original is not None and third.original is not None
    assert second.original.content == "Queued — you're next."
    assert third.original.content == "Queued — 1 ahead of you."
    assert last.original is not None and last.original.content == "Queued — 2 ahead of you."

    await last.wait_for(sheet_delivered, timeout=20)
    seen = history(last.original)
    queued = [text for text in seen if text.startswith("Queued")]
    drawing = [i for i, text in enumerate(seen) if text.startswith("Drawing")]
    assert queued[0] == "Queued — 2 ahead of you.", seen
    assert len(set(queued)) >= 2, f"the place never changed: {seen}"
    assert set(queued) <= {
        "Queued — 2 ahead of you.",
        "Queued — 1 ahead of you.",
        "Queued — you're next.",
    }, seen
    assert drawing, f"never said it was drawing: {seen}"
    assert TIMESTAMP.search(seen[drawing[0]]), seen[drawing[0]]
    assert all(not text.startswith("Queued") for text in seen[drawing[0] :]), seen
    assert last.original.content == "" and last.original.attachments
    assert first.original is not None and first.original.attachments
    assert prompts(harness.segmind) == ["first", "second", "third", "fourth"]


# --- inputs -------------------------------------------------------------------------------------


def png(size: tuple[int, int] = (200, 300)) -> bytes:
    """A small valid PNG, for a pose."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def new(
    user_id: int = 1,
    guild_id: int | None = GUILD,
    *,
    prompt: str = "a knight",
    custom_pose: bool = False,
) -> NewJob:
    """A request as the bot would store it, for storage tests."""
    return NewJob(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=3,
        request=SheetRequest(prompt=prompt, seed=5),
        custom_pose=custom_pose,
        upload_limit=10 * 2**20,
        interaction_token="token",
        token_expires_at=time.time() + 900,
    )


def segmind_env(fake: FakeSegmind, **more: str) -> dict[str, str]:
    """Settings for `python -m bot generate|check` against the fake Segmind."""
    # The blocking API unless a test names another (these tests script its failures).
    return {
        "SEGMIND_BASE_URL": fake.url,
        "SEGMIND_API_KEY": fake.api_key,
        "SEGMIND_API": "v1",
        **more,
    }


def both_env(discord: FakeDiscord, segmind: FakeSegmind, **more: str) -> dict[str, str]:
    """Settings for a CLI command that talks to both fakes."""
    return {
        "DISCORD_TOKEN": discord.token,
        "DISCORD_API_BASE": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        **segmind_env(segmind),
        **more,
    }
