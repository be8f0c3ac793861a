"""Content safety end to end: the real classifier (Yahoo's open_nsfw) and the real bot against the
wire-level fakes. `SAFETY_THRESHOLD=0` flags every image (every score is at least 0), so the
policy's paths run on the fake Segmind's ordinary sheets; at the default threshold the same
sheets, the default pose and ordinary pictures are not flagged.
"""

from __future__ import annotations

import asyncio
import functools
import io
import random
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import discord
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bot.discord.channels import is_age_restricted
from bot.ops.cli import point_discord_at
from bot.ops.metrics import Metrics
from bot.sheets.imaging import default_pose
from bot.sheets.members import Members
from bot.sheets.open_nsfw import ClassifierUnavailable, load_open_nsfw
from bot.sheets.safety import (
    Classifier,
    ClassifierMissing,
    ClassifierWhenNeeded,
    Safety,
    SafetyMode,
    SafetyRules,
    Verdict,
    needs_classifier,
    pose_allowed,
    sheet_verdict,
)
from tests.fake_discord import InteractionRecord, Message
from tests.fake_segmind import _render_sheet
from tests.harness import (
    Harness,
    discord_globals_restored,
    free_port,
    given_settings,
    run_cli,
)
from tests.helpers import (
    MODERATOR,
    OTHER,
    OWNER,
    acked,
    config,
    png,
    refusal,
    refused_in_private,
    scrape_when,
    sheet_delivered,
    sheets_posted,
)

FLAG_ALL = {"SAFETY_THRESHOLD": "0", "SAFETY_MODE": "age-restricted"}
DEFAULT_THRESHOLD = 0.3


# --- the policy, as a table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "flagged", "age_restricted", "verdict"),
    [
        (SafetyMode.AGE_RESTRICTED, False, False, Verdict.POST),
        (SafetyMode.AGE_RESTRICTED, True, False, Verdict.WITHHOLD),
        (SafetyMode.AGE_RESTRICTED, True, True, Verdict.SPOILER),
        (SafetyMode.BLOCK, False, False, Verdict.POST),
        (SafetyMode.BLOCK, True, True, Verdict.WITHHOLD),
        (SafetyMode.BLOCK, True, False, Verdict.WITHHOLD),
        (SafetyMode.OFF, True, False, Verdict.POST),
    ],
)
def test_the_policy_decides_what_a_sheet_may_do(
    mode: SafetyMode, flagged: bool, age_restricted: bool, verdict: Verdict
) -> None:
    assert sheet_verdict(mode, flagged=flagged, age_restricted=age_restricted) is verdict
    allowed = pose_allowed(mode, flagged=flagged, age_restricted=age_restricted)
    assert allowed is (verdict is not Verdict.WITHHOLD)


@pytest.mark.parametrize(
    ("default", "chosen", "needed"),
    [
        (SafetyMode.OFF, set(), False),
        (SafetyMode.OFF, {"off"}, False),
        (SafetyMode.OFF, {"off", "block"}, True),
        (SafetyMode.AGE_RESTRICTED, {"off"}, True),  # a server that chose none uses it
    ],
)
def test_the_classifier_is_needed_when_any_policy_in_force_classifies(
    default: SafetyMode, chosen: set[str], needed: bool
) -> None:
    assert needs_classifier(default, chosen) is needed


class CountedLoads:
    """A loader of a classifier that scores every image 0.5, counting its loads; it fails
    while `failing`."""

    def __init__(self, *, failing: bool = False) -> None:
        self.loads = 0
        self.failing = failing
        self.threads: set[int] = set()

    def __call__(self) -> Classifier:
        self.loads += 1
        self.threads.add(threading.get_ident())
        if self.failing:
            raise ClassifierUnavailable("no model here")
        return self

    def score(self, image: bytes) -> float:
        return 0.5


def _safety(loads: CountedLoads) -> Safety:
    rules = SafetyRules(threshold=0.3, default_mode=SafetyMode.OFF)
    members: Members = None  # type: ignore[assignment]  # judging tells nobody
    return Safety(ClassifierWhenNeeded(loads), rules, Metrics(), members)


async def test_moderators_turning_modes_on_at_once_load_the_classifier_once_off_the_loop() -> None:
    loads = CountedLoads()
    safety = _safety(loads)
    assert safety.must_load_for(SafetyMode.BLOCK) and not safety.must_load_for(SafetyMode.OFF)
    await safety.ready_for(SafetyMode.OFF)
    assert loads.loads == 0
    await asyncio.gather(*(safety.ready_for(SafetyMode.BLOCK) for _ in range(5)))
    assert loads.loads == 1 and threading.get_ident() not in loads.threads
    assert not safety.must_load_for(SafetyMode.AGE_RESTRICTED)
    try:
        assert (await safety.judge(b"any image", "sheet")).flagged
    finally:
        safety.close()


async def test_a_process_that_must_judge_an_image_loads_the_classifier_then() -> None:
    # A worker, say, whose server had its mode turned on by another process.
    loads = CountedLoads()
    safety = _safety(loads)
    try:
        judgement = await safety.judge(b"any image", "pose")
    finally:
        safety.close()
    assert loads.loads == 1 and judgement.score == 0.5 and judgement.flagged


async def test_a_classifier_that_cannot_be_loaded_refuses_the_mode_and_judges_flagged() -> None:
    loads = CountedLoads(failing=True)
    safety = _safety(loads)
    try:
        with pytest.raises(ClassifierMissing):
            await safety.ready_for(SafetyMode.AGE_RESTRICTED)
        judgement = await safety.judge(b"any image", "sheet")  # never shown unchecked
        assert judgement.flagged and judgement.score is None
        loads.failing = False  # tried again at the next need
        await safety.ready_for(SafetyMode.BLOCK)
    finally:
        safety.close()
    assert loads.loads == 3


# --- the real model on ordinary pictures --------------------------------------------------------


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def _clothed_figure(skin: tuple[int, int, int], shirt: tuple[int, int, int]) -> bytes:
    """A person in a shirt and trousers, front view, as a pose drawing."""
    return _jpeg(_figure(skin, shirt))


def _photo_of_a_clothed_person(seed: int) -> bytes:
    """The figure as a photo would show it: on a street-like backdrop, blurred, with noise."""
    rng = random.Random(seed)
    backdrop = Image.new("RGB", (768, 1024), (150, 150, 160))
    draw = ImageDraw.Draw(backdrop)
    for _ in range(8):  # walls, windows, a pavement
        x, y = rng.randrange(768), rng.randrange(1024)
        colour = tuple(rng.randrange(60, 200) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(80, 300), y + rng.randrange(80, 300)), fill=colour)
    person = _figure((224, 172, 140), (90, 60, 40))
    mask = Image.eval(person.convert("L"), lambda v: 0 if v > 225 else 255)
    backdrop.paste(person, (0, 0), mask)
    noise = Image.effect_noise((768, 1024), 30).convert("RGB")
    return _jpeg(Image.blend(backdrop.filter(ImageFilter.GaussianBlur(2)), noise, 0.1))


def _figure(skin: tuple[int, int, int], shirt: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (768, 1024), (236, 234, 228))
    draw = ImageDraw.Draw(image)
    x = 384
    draw.ellipse((x - 70, 80, x + 70, 240), fill=skin)  # head
    draw.rectangle((x - 40, 230, x + 40, 270), fill=skin)  # neck
    draw.rounded_rectangle((x - 150, 260, x + 150, 600), 30, fill=shirt)
    for side in (-1, 1):
        arm = (x + side * 150, x + side * 220)
        draw.rounded_rectangle((min(arm), 270, max(arm), 560), 30, fill=shirt)
        draw.ellipse((min(arm) - 5, 550, max(arm) + 5, 620), fill=skin)  # hands
        leg = (x + side * 10, x + side * 140)
        draw.rectangle((min(leg), 600, max(leg), 960), fill=(45, 48, 60))
    return image


def _stick_figure() -> bytes:
    image = Image.new("RGB", (800, 800), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((350, 100, 450, 200), outline="black", width=6)
    for line in ((400, 200, 400, 500), (400, 280, 280, 380), (400, 280, 520, 380)):
        draw.line(line, fill="black", width=6)
    for line in ((400, 500, 300, 700), (400, 500, 500, 700)):
        draw.line(line, fill="black", width=6)
    return _jpeg(image)


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> bytes:
    column = Image.linear_gradient("L").resize((1024, 768))
    return _jpeg(
        Image.composite(
            Image.new("RGB", (1024, 768), bottom), Image.new("RGB", (1024, 768), top), column
        )
    )


def _photo_like(seed: int) -> bytes:
    """A landscape-ish photo: sky, ground, blurred shapes and sensor noise."""
    rng = random.Random(seed)
    image = Image.new("RGB", (1024, 768), (120, 160, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 430, 1024, 768), fill=(70, 110, 60))
    for _ in range(12):
        x, y, r = rng.randrange(1024), rng.randrange(300, 700), rng.randrange(20, 120)
        colour = tuple(rng.randrange(40, 220) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    noise = Image.effect_noise((1024, 768), 24).convert("RGB")
    return _jpeg(Image.blend(image.filter(ImageFilter.GaussianBlur(3)), noise, 0.12))


ORDINARY: dict[str, Callable[[], bytes]] = {
    "the default pose sheet": lambda: default_pose().jpeg,
    **{
        f"the fake Segmind's sheet {s}": functools.partial(_render_sheet, s, (1536, 1024))
        for s in (1, 2, 3)
    },
    "a clothed figure, light skin": lambda: _clothed_figure((255, 219, 172), (40, 80, 160)),
    "a clothed figure, dark skin": lambda: _clothed_figure((141, 85, 36), (180, 30, 30)),
    "a stick figure": _stick_figure,
    "a sky gradient": lambda: _gradient((30, 60, 160), (250, 200, 150)),
    "a skin-toned gradient": lambda: _gradient((230, 180, 150), (180, 120, 90)),
    "a photo-like landscape": lambda: _photo_like(7),
    "a clothed figure as a blurred, noisy snapshot": lambda: _photo_of_a_clothed_person(3),
    "another such snapshot": lambda: _photo_of_a_clothed_person(11),
}


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_pictures_are_not_flagged_at_the_default_threshold(name: str) -> None:
    score = load_open_nsfw().score(ORDINARY[name]())
    assert 0 <= score < DEFAULT_THRESHOLD, f"{name} scored {score:.3f}"


async def test_ordinary_sheets_and_poses_are_posted_as_usual_under_the_default_policy(
    harness: Harness,
) -> None:
    await harness.start_bot(SAFETY_MODE="age-restricted", COOLDOWN_SECONDS="0")
    plain = await harness.discord.invoke("character", {"prompt": "a knight"}, user_id=OWNER)
    await plain.wait_for(sheet_delivered, timeout=20)
    pose = harness.discord.host_attachment(
        _clothed_figure((198, 134, 66), (40, 120, 60)), "me.jpg", "image/jpeg"
    )
    posed = await harness.discord.invoke(
        "character", {"prompt": "a ranger"}, user_id=OTHER, attachments={"pose": pose}
    )
    await posed.wait_for(sheet_delivered, timeout=20)
    for rec in (plain, posed):
        assert rec.original is not None
        assert not rec.original.attachments[0].filename.startswith("SPOILER_")
        assert rec.original.embeds[0]["image"]["url"].startswith("attachment://character-sheet")
    await harness.until_job(1, "done")
    await harness.until_job(2, "done")


# --- the policy, end to end ---------------------------------------------------------------------


async def logged(harness: Harness, log_channel: int) -> Message:
    """The one line the safety log got: it is posted beside the member's notice, not before."""
    await harness.discord.wait_until(
        lambda: bool(harness.discord.messages_in(log_channel)), timeout=10
    )
    (line,) = harness.discord.messages_in(log_channel)
    return line


def _private_notice(rec: InteractionRecord) -> Message:
    notices = [m for m in rec.followups if m.ephemeral and not m.deleted]
    assert notices, rec.events
    return notices[-1]


def _ledger(harness: Harness) -> list[tuple[str, float]]:
    with sqlite3.connect(harness.cwd / "bot.sqlite3") as db:
        return [(o, c) for o, c in db.execute("SELECT outcome, cost FROM ledger ORDER BY job_id")]


async def test_a_flagged_sheet_in_an_ordinary_channel_is_withheld_and_told_privately(
    harness: Harness,
) -> None:
    log_channel = harness.discord.add_channel(name="mod-log")
    port = free_port()
    await harness.start_bot(**FLAG_ALL, METRICS_PORT=str(port), COOLDOWN_SECONDS="0")
    said = await config(harness, "safety log-channel", channel=log_channel)
    assert f"<#{log_channel}>" in said
    rec = await harness.discord.invoke(
        "character", {"prompt": "a knight @everyone <@5002>", "seed": 77}, user_id=OWNER
    )
    await harness.until_job(1, "withheld", timeout=20)
    await rec.wait_for(lambda r: any(m.ephemeral for m in r.followups), timeout=10)

    notice = _private_notice(rec)
    assert "not posted" in notice.content and "`77`" in notice.content
    assert notice.custom_ids() == ["sheet:reroll:1"]
    assert notice.attachments == [] and notice.embeds == []
    assert "delete_original" in rec.events  # the public placeholder is gone
    assert sheets_posted(harness) == 0
    assert harness.discord.dm_messages == []
    line = await logged(harness, log_channel)
    assert line.attachments == [] and line.embeds == []
    assert f"<@{OWNER}>" in line.content and f"<#{harness.discord.channel_id}>" in line.content
    assert re.search(r"score [01]\.\d\d \(flagged from 0\.00\)", line.content), line.content
    assert "`a knight @everyone <@5002>`" in line.content and "\n" not in line.content
    assert line.pinged_user_ids == [] and not (line.allowed_mentions or {}).get("parse")
    ((outcome, cost),) = _ledger(harness)
    assert outcome == "withheld" and cost == pytest.approx(harness.segmind.cost)

    credits = await harness.discord.invoke("credits", user_id=MODERATOR, permissions=1 << 5)
    await credits.wait_for(lambda r: bool(r.original and r.original.embeds), timeout=10)
    assert credits.original is not None
    fields = {f["name"]: f["value"] for f in credits.original.embeds[0]["fields"]}
    assert fields["Today (UTC)"].startswith("0 sheets (+ 1 withheld)")
    text = await scrape_when(f"http://127.0.0.1:{port}/metrics", 'outcome="withheld"')
    assert 'sheetbot_jobs_total{outcome="withheld"} 1.0' in text
    assert 'sheetbot_flagged_images_total{kind="sheet"} 1.0' in text

    # Re-roll on the private notice draws again (and is withheld again: everything is flagged).
    again = await harness.discord.click(notice, "sheet:reroll:1", user_id=OWNER)
    await again.wait_for(acked, timeout=5)
    await harness.until_job(2, "withheld", timeout=20)
    assert len(harness.segmind.requests) == 2 and sheets_posted(harness) == 0


async def test_a_flagged_sheet_is_posted_as_a_spoiler_in_an_age_restricted_channel_and_thread(
    harness: Harness,
) -> None:
    adults = harness.discord.add_channel(name="adults", nsfw=True)
    thread = harness.discord.add_thread(adults, name="sketches")
    await harness.start_bot(**FLAG_ALL, COOLDOWN_SECONDS="0")
    for where in (adults, thread):
        rec = await harness.discord.invoke(
            "character", {"prompt": "a bard"}, user_id=OWNER, channel_id=where
        )
        await rec.wait_for(sheet_delivered, timeout=20)
        assert rec.original is not None and rec.original.channel_id == where
        (attachment,) = rec.original.attachments
        assert attachment.filename.startswith("SPOILER_character-sheet")
        assert "image" not in rec.original.embeds[0]  # an embed's image is never blurred
        assert "flagged" in str(rec.original.embeds[0]["fields"])
    await harness.until_job(2, "done")
    assert [state for state, _ in _ledger(harness)] == ["done", "done"]


async def test_block_withholds_a_flagged_sheet_even_in_an_age_restricted_channel(
    harness: Harness,
) -> None:
    adults = harness.discord.add_channel(name="adults", nsfw=True)
    await harness.start_bot(**FLAG_ALL)
    assert "block" in await config(harness, "safety mode", mode="block")
    rec = await harness.discord.invoke(
        "character", {"prompt": "a bard"}, user_id=OWNER, channel_id=adults
    )
    await harness.until_job(1, "withheld", timeout=20)
    await rec.wait_for(lambda r: any(m.ephemeral for m in r.followups), timeout=10)
    assert "anywhere" in _private_notice(rec).content
    assert sheets_posted(harness) == 0


async def test_a_flagged_pose_is_refused_before_anything_is_paid(harness: Harness) -> None:
    log_channel = harness.discord.add_channel(name="mod-log")
    await harness.start_bot(**FLAG_ALL, COOLDOWN_SECONDS="600")
    await config(harness, "safety log-channel", channel=log_channel)
    pose = harness.discord.host_attachment(png((300, 400)), "pose.png", "image/png")
    rec = await harness.discord.invoke(
        "character", {"prompt": "a monk"}, user_id=OWNER, attachments={"pose": pose}
    )
    await rec.wait_for(refused_in_private, timeout=10)
    assert "pose" in refusal(rec) and "nothing was drawn or charged" in refusal(rec)
    assert harness.segmind.requests == []
    assert harness.job_state(1) == "refused"
    line = await logged(harness, log_channel)
    assert line.content.startswith("🛡️ Refused a pose") and not line.attachments
    # Nothing was paid, so the cooldown is not spent: the member may ask again at once.
    rec = await harness.discord.invoke("character", {"prompt": "a monk"}, user_id=OWNER)
    await rec.wait_for(acked, timeout=5)
    assert rec.ack_type == 5 and not rec.ephemeral, rec.events


async def test_a_flagged_pose_is_drawn_from_in_an_age_restricted_channel(harness: Harness) -> None:
    adults = harness.discord.add_channel(name="adults", nsfw=True)
    await harness.start_bot(**FLAG_ALL)
    pose = harness.discord.host_attachment(png((300, 400)), "pose.png", "image/png")
    rec = await harness.discord.invoke(
        "character",
        {"prompt": "a monk"},
        user_id=OWNER,
        attachments={"pose": pose},
        channel_id=adults,
    )
    await rec.wait_for(sheet_delivered, timeout=20)
    assert rec.original is not None
    assert rec.original.attachments[0].filename.startswith("SPOILER_")


async def test_a_flagged_sheet_after_the_token_expired_goes_to_no_ordinary_channel_nor_dm(
    harness: Harness,
) -> None:
    adults = harness.discord.add_channel(name="adults", nsfw=True)
    harness.segmind.delay = 1.0
    await harness.start_bot(**FLAG_ALL, COOLDOWN_SECONDS="0")
    ordinary = await harness.discord.invoke("character", {"prompt": "late"}, user_id=OWNER)
    spoiled = await harness.discord.invoke(
        "character", {"prompt": "late too"}, user_id=OTHER, channel_id=adults
    )
    for rec in (ordinary, spoiled):
        await rec.wait_for(acked, timeout=5)
        harness.discord.expire_token(rec)
    await harness.until_job(1, "withheld", timeout=20)
    await harness.until_job(2, "done", timeout=20)
    # The age-restricted channel gets its sheet by the channel route, as a spoiler ...
    (posted,) = [m for m in harness.discord.channel_messages if m.attachments]
    assert posted.channel_id == adults and posted.attachments[0].filename.startswith("SPOILER_")
    # ... the ordinary one gets nothing, and the member a direct message without the image.
    assert harness.discord.messages_in(harness.discord.channel_id) == []
    (dm,) = harness.discord.dm_messages
    assert dm.attachments == [] and dm.embeds == [] and dm.components == []
    assert "not posted" in dm.content
    assert dm.channel_id == harness.discord.dm_channels[OWNER]


async def test_a_spoiler_no_channel_route_takes_is_kept_and_never_sent_by_dm(
    harness: Harness,
) -> None:
    adults = harness.discord.add_channel(name="adults", nsfw=True)
    harness.discord.denied_channels.add(adults)
    harness.segmind.delay = 0.5
    await harness.start_bot(**FLAG_ALL)
    rec = await harness.discord.invoke(
        "character", {"prompt": "kept"}, user_id=OWNER, channel_id=adults
    )
    await rec.wait_for(acked, timeout=5)
    harness.discord.expire_token(rec)
    await harness.bots[0].wait_for_log("no route reached user", timeout=20)
    assert harness.job_state(1) == "drawn"  # paid: kept for the next attempt
    assert harness.discord.dm_messages == [] and sheets_posted(harness) == 0


async def test_the_policy_is_per_server_and_survives_a_restart(harness: Harness) -> None:
    other_guild = harness.discord.add_guild("Other")
    bot = await harness.start_bot(SAFETY_MODE="age-restricted")
    await config(harness, "safety mode", mode="off")
    await config(harness, "safety log-channel", channel=harness.discord.channel_id)
    await bot.kill()
    await harness.start_bot(SAFETY_MODE="age-restricted")
    here = await config(harness, "show")
    assert "Content safety: off: sheets and poses are not checked" in here
    there = await config(harness, "show", guild_id=other_guild)
    assert "Content safety: age-restricted: " in there and "(the default)" in there
    assert "Safety log: off" in there
    said = await config(harness, "safety log-channel")  # no channel: the log is off
    assert "Safety log" in said and said.endswith("→ off.")


async def test_a_model_that_cannot_be_loaded_stops_the_bot_at_start_up_if_a_policy_needs_it(
    harness: Harness, tmp_path: Path
) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a model")
    for path in (str(broken), str(tmp_path / "missing.onnx")):
        env = harness.settings(SAFETY_MODE="block", SAFETY_MODEL_PATH=path)
        done = await run_cli("run", cwd=tmp_path, **env)
        assert done.code == 2, done.err
        assert "content classifier could not be loaded" in done.err
        assert "Traceback" not in done.err


async def test_with_safety_off_everywhere_the_classifier_loads_only_once_a_server_needs_it(
    harness: Harness,
) -> None:
    bot = await harness.start_bot(SAFETY_MODE="off", SAFETY_THRESHOLD="0")
    await bot.wait_for_log("content classifier not loaded")
    rec = await harness.discord.invoke(
        "config safety mode", {"mode": "block"}, user_id=MODERATOR, permissions=1 << 5
    )
    # Loading takes a moment: answered privately once the classifier is ready.
    await rec.wait_for(lambda r: bool(r.original and "block" in r.original.content), timeout=20)
    assert rec.ephemeral
    assert "content classifier loaded" in bot.logs
    # The next sheet is classified (everything is flagged at threshold 0), and withheld.
    await harness.discord.invoke("character", {"prompt": "a bard"}, user_id=OWNER)
    await harness.until_job(1, "withheld", timeout=20)
    assert sheets_posted(harness) == 0
    # Restarted, the bot loads it at start-up: a server's stored mode needs it.
    await bot.kill()
    again = await harness.start_bot(SAFETY_MODE="off")
    await again.wait_for_log("content classifier ready")


async def test_a_mode_that_classifies_is_refused_when_the_classifier_cannot_be_loaded(
    harness: Harness, tmp_path: Path
) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a model")
    await harness.start_bot(SAFETY_MODE="off", SAFETY_MODEL_PATH=str(broken))
    rec = await harness.discord.invoke(
        "config safety mode", {"mode": "age-restricted"}, user_id=MODERATOR, permissions=1 << 5
    )

    def told(r: InteractionRecord) -> bool:
        return refused_in_private(r) and "content filter could not be started" in refusal(r)

    await rec.wait_for(told, timeout=20)
    assert "not changed" in refusal(rec)
    assert "Content safety: off: " in await config(harness, "show")
    assert "content classifier could not be loaded" in harness.logs


async def test_withheld_sheets_and_the_policy_work_on_redis_too(shared_harness: Harness) -> None:
    harness = shared_harness
    adults = harness.discord.add_channel(name="adults", nsfw=True)
    await harness.start_bot(**FLAG_ALL, COOLDOWN_SECONDS="0")
    rec = await harness.discord.invoke("character", {"prompt": "a bard"}, user_id=OWNER)
    await harness.until_job(1, "withheld", timeout=20)
    await rec.wait_for(lambda r: any(m.ephemeral for m in r.followups), timeout=10)
    assert "not posted" in _private_notice(rec).content
    assert "block" in await config(harness, "safety mode", mode="block")
    rec = await harness.discord.invoke(
        "character", {"prompt": "a bard"}, user_id=OWNER, channel_id=adults
    )
    await harness.until_job(2, "withheld", timeout=20)
    assert sheets_posted(harness) == 0


async def test_a_process_without_the_gateway_asks_discord_whether_a_thread_is_age_restricted(
    harness: Harness,
) -> None:
    # A worker (`python -m bot worker`) has no channel cache: it reads the thread, then its
    # parent, over REST, as it does when it delivers a flagged sheet.
    adults = harness.discord.add_channel(name="adults", nsfw=True)
    thread = harness.discord.add_thread(adults, name="sketches")
    ordinary_thread = harness.discord.add_thread(harness.discord.channel_id, name="chat")
    async with discord_globals_restored():
        point_discord_at(given_settings(harness.settings()))
        async with discord.Client(intents=discord.Intents.none()) as client:
            await client.login(harness.discord.token)
            assert await is_age_restricted(client, thread)
            assert await is_age_restricted(client, adults)
            assert not await is_age_restricted(client, ordinary_thread)
            assert not await is_age_restricted(client, harness.discord.channel_id)
