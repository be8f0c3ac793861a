"""Several processes on one shared state (REDIS_URL): sharded gateway processes and workers.

Real processes (`python -m bot run|worker`), a real redis-server, the wire-level fakes. What
matters is counted at the fakes: requests Segmind received (at once, and in all), sheets posted.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest
import redis
import yarl

from bot.sheets.job import JobState, NewJob
from bot.sheets.request import SheetRequest
from bot.state.redis.store import RedisStore
from bot.state.sqlite.store import Store
from tests.fake_discord import FakeDiscord, InteractionRecord, Permissions
from tests.fake_segmind import FakeSegmind
from tests.harness import Harness, RunningBot, free_port, run_cli
from tests.helpers import (
    ROOMY,
    acked,
    ask,
    both_env,
    placeholder_says,
    png,
    prompts,
    refused_in_private,
    see_places_move,
    sheet_delivered,
    sheets_posted,
)

MANAGE = Permissions.MANAGE_GUILD
# Where a test kills a process: short leases, so its jobs are taken over within the test's
# patience. Elsewhere long ones, so a loaded machine's slow process never looks dead.
SHORT_LEASE = "3"


async def two_shards_and_a_worker(
    harness: Harness, *, worker: bool = True, **settings: str
) -> list[RunningBot]:
    """Gateway processes for shards 0 and 1 of 2, plus a worker-only process (unless a test
    needs none: each process costs the loaded test machine a second of CPU to start)."""
    both = {"SHARD_COUNT": "2", "JOB_LEASE_SECONDS": "60", **settings}
    bots = [
        await harness.start_bot(SHARD_IDS="0", **both),
        await harness.start_bot(SHARD_IDS="1", **both),
    ]
    if worker:
        bots.append(await harness.start_worker(**both))
    await harness.discord.wait_ready(shards=2)
    if worker:
        # The slowest to start: a burst sent before its workers read the line is all taken by
        # the gateways. The key is checked in the background started just after the workers.
        await bots[2].wait_for_log("Segmind key accepted", timeout=30)
    return bots


def guilds_on_both_shards(harness: Harness) -> list[int]:
    """Two servers on each shard of 2 (added before the bots connect, as Discord has them)."""
    return [harness.discord.add_guild(shard=n % 2, shard_count=2) for n in range(4)]


async def ask_in(harness: Harness, guild_id: int, user_id: int, prompt: str) -> InteractionRecord:
    return await harness.discord.invoke(
        "character", {"prompt": prompt}, user_id=user_id, guild_id=guild_id
    )


@pytest.mark.process
async def test_a_burst_over_two_shards_and_a_worker_is_drawn_once_each_within_the_limit(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 0.15
    # A password in the URL (this Redis asks for none) is a secret: never in a log line.
    assert harness.redis_url is not None
    harness.redis_url = harness.redis_url.replace("redis://", "redis://:pa55word@")
    guilds = guilds_on_both_shards(harness)
    bots = await two_shards_and_a_worker(
        harness, MAX_CONCURRENT_JOBS="3", COOLDOWN_SECONDS="0", MAX_QUEUE="100"
    )
    recs = await asyncio.gather(
        *(ask_in(harness, guilds[n % 4], 8000 + n, f"burst {n}") for n in range(40))
    )
    assert {rec.shard for rec in recs} == {0, 1}
    for rec in recs:
        await rec.wait_for(sheet_delivered, timeout=60)
    assert Counter(prompts(harness.segmind)) == {f"burst {n}": 1 for n in range(40)}
    # Three processes, four workers each would allow 12: the limit is one, for all of them.
    assert harness.segmind.max_in_flight == 3
    assert sheets_posted(harness) == 40
    drew = [bot for bot in bots if " sending: " in bot.logs]
    assert bots[2] in drew, "the worker-only process never drew a sheet"
    await bots[2].signal(signal.SIGTERM)  # a worker stops cleanly too
    assert await bots[2].wait() == 0


async def test_on_redis_queued_members_see_their_place_move_then_drawing_then_the_sheet(
    shared_harness: Harness,
) -> None:
    await see_places_move(shared_harness)


@pytest.mark.process
async def test_segmind_requests_a_minute_are_capped_for_all_processes_together(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 0.05
    guilds = guilds_on_both_shards(harness)
    await two_shards_and_a_worker(harness, worker=False, SEGMIND_RPM="6", COOLDOWN_SECONDS="0")
    recs = await asyncio.gather(
        *(ask_in(harness, guilds[n % 4], 8100 + n, f"paced {n}") for n in range(10))
    )
    await harness.discord.wait_until(lambda: sum(map(sheet_delivered, recs)) == 6, timeout=20)
    waiting = [rec for rec in recs if not sheet_delivered(rec)]
    # The next in line are told why they wait (the others still see their place).
    told = placeholder_says("Segmind's plan allows only so many sheets a minute")
    await harness.discord.wait_until(lambda: any(map(told, waiting)), timeout=10)
    await asyncio.sleep(2)  # three processes pacing alone would each have sent 6 by now
    assert len(harness.segmind.requests) == 6
    assert not any(map(sheet_delivered, waiting))


@pytest.mark.process
async def test_a_server_budget_holds_while_other_processes_draw_and_settle_its_sheets(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 0.2
    cost = harness.segmind.cost
    guild = harness.discord.add_guild(shard=1, shard_count=2)
    other = harness.discord.add_guild(shard=0, shard_count=2)
    await two_shards_and_a_worker(
        harness, COOLDOWN_SECONDS="0", MAX_CONCURRENT_JOBS="2", SHEET_COST_CREDITS=str(cost)
    )
    moderator = await harness.discord.invoke(
        "config budget",
        {"credits": round(cost * 10, 4)},
        user_id=1,
        guild_id=guild,
        permissions=MANAGE,
    )
    await moderator.wait_for(acked, timeout=10)
    first = await asyncio.gather(*(ask_in(harness, guild, 8200 + n, f"a {n}") for n in range(6)))
    for rec in first:  # drawn by any process, settled in the shared ledger
        await rec.wait_for(sheet_delivered, timeout=30)
    rest = await asyncio.gather(*(ask_in(harness, guild, 8300 + n, f"b {n}") for n in range(20)))
    for rec in rest:
        await rec.wait_for(lambda r: sheet_delivered(r) or refused_in_private(r), timeout=30)
    assert sum(map(sheet_delivered, first + rest)) == 10
    assert len(harness.segmind.requests) == 10
    # Another server (on the other shard) is not held back by this one's budget.
    elsewhere = await ask_in(harness, other, 8400, "elsewhere")
    await elsewhere.wait_for(sheet_delivered, timeout=20)


@pytest.mark.process
async def test_one_members_requests_on_two_shards_at_once_are_admitted_as_one_process_would(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 1.0  # the accepted ones are still running when the rest arrive
    guilds = [harness.discord.add_guild(shard=n, shard_count=2) for n in (0, 1)]
    bots = await two_shards_and_a_worker(
        harness, worker=False, COOLDOWN_SECONDS="0", MAX_JOBS_PER_USER="2"
    )
    recs = await asyncio.gather(
        *(ask_in(harness, guilds[n % 2], 8800, f"mine {n}") for n in range(12))
    )
    # As Discord does: the requests came the moment the sessions were READY, before on_ready.
    assert "ready as" not in bots[1].logs, "the test was meant to act before on_ready"
    for rec in recs:
        await rec.wait_for(lambda r: sheet_delivered(r) or refused_in_private(r), timeout=20)
    assert sum(map(sheet_delivered, recs)) == 2
    assert len(harness.segmind.requests) == 2


@pytest.mark.process
async def test_a_process_killed_while_drawing_leaves_its_sheet_to_another_without_resubmitting(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 4.0  # Segmind takes a while: the drawing process dies meanwhile
    guilds = guilds_on_both_shards(harness)
    bots = await two_shards_and_a_worker(
        harness,
        SEGMIND_API="v2",
        MAX_CONCURRENT_JOBS="1",
        COOLDOWN_SECONDS="0",
        JOB_LEASE_SECONDS=SHORT_LEASE,
    )
    rec = await ask_in(harness, guilds[1], 8500, "survivor")
    await harness.discord.wait_until(lambda: " submitted: " in harness.logs, timeout=10)
    drawing = next(bot for bot in bots if " submitted: " in bot.logs)
    await drawing.kill()  # SIGKILL: no goodbye, its lease just stops being renewed
    await rec.wait_for(sheet_delivered, timeout=30)
    assert len(harness.segmind.submits) == 1
    assert sheets_posted(harness) == 1


@pytest.mark.process
async def test_queued_jobs_of_a_killed_gateway_process_are_drawn_and_delivered_by_the_others(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 0.5
    guilds = guilds_on_both_shards(harness)
    bots = await two_shards_and_a_worker(
        harness, MAX_CONCURRENT_JOBS="1", COOLDOWN_SECONDS="0", JOB_LEASE_SECONDS=SHORT_LEASE
    )
    shard0 = [g for g in guilds if harness.discord.shard_of(g) == 0]
    recs = await asyncio.gather(
        *(ask_in(harness, shard0[n % 2], 8600 + n, f"orphan {n}") for n in range(5))
    )
    for rec in recs:
        await rec.wait_for(placeholder_says("Queued"), timeout=10)
    await bots[0].signal(signal.SIGKILL)
    await bots[0].kill()
    for rec in recs:  # over REST with each interaction's token, from the surviving processes
        await rec.wait_for(
            lambda r: sheet_delivered(r) or "interrupted" in _last_text(r), timeout=40
        )
    sent = Counter(prompts(harness.segmind))
    assert all(count == 1 for count in sent.values()), sent
    assert sum(map(sheet_delivered, recs)) >= 4  # at most the one it was drawing is interrupted


def _last_text(rec: InteractionRecord) -> str:
    return (rec.original.content if rec.original else "").lower()


# --- the operator's side ------------------------------------------------------------------------


async def test_check_says_where_the_state_is_and_fails_while_redis_would_lose_it(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord, redis_url: str
) -> None:
    with_password = redis_url.replace("redis://", "redis://:pa55word@")
    url = yarl.URL(redis_url)
    env = both_env(discord_fake, segmind, REDIS_URL=with_password)
    lossy = await run_cli("check", cwd=tmp_path, **env)
    assert lossy.code == 1
    assert f"State: Redis at 127.0.0.1:{url.port}/0 (shared by every process)" in lossy.out
    assert "appendonly is off" in lossy.err and "appendonly yes" in lossy.err
    assert "pa55word" not in lossy.out + lossy.err
    with redis.Redis.from_url(redis_url) as client:
        client.config_set("appendonly", "yes")
        try:
            durable = await run_cli("check", cwd=tmp_path, **env)
        finally:
            client.config_set("appendonly", "no")
    assert durable.code == 0, durable.err
    assert "appendonly 'yes'" in durable.out


async def test_check_without_redis_names_the_sqlite_file(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    async with Store.open(tmp_path / "data" / "bot.sqlite3"):
        pass  # the file a first run leaves
    result = await run_cli("check", cwd=tmp_path, **both_env(discord_fake, segmind))
    assert result.code == 0, result.err
    assert "State: the SQLite file data/bot.sqlite3 (one process)" in result.out
    assert "journal_mode 'wal'" in result.out


async def test_a_redis_that_cannot_be_reached_stops_the_bot_with_a_plain_message(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    env = both_env(discord_fake, segmind, REDIS_URL=nowhere)
    for command in ("run", "worker"):
        result = await run_cli(command, cwd=tmp_path, **env)
        assert result.code == 2, result.err
        assert f"REDIS_URL ({nowhere.removeprefix('redis://')}) cannot be reached" in result.err
        assert "unset it" in result.err
        assert "Traceback" not in result.out + result.err


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "from 0 to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "SHARD_IDS is not valid"),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "0,1"}, "set REDIS_URL too"),
        ({"JOB_LEASE_SECONDS": "0"}, "JOB_LEASE_SECONDS is not valid"),
    ],
)
async def test_shard_and_lease_settings_that_cannot_work_are_named_before_connecting(
    tmp_path: Path,
    segmind: FakeSegmind,
    discord_fake: FakeDiscord,
    settings: dict[str, str],
    words: str,
) -> None:
    result = await run_cli("run", cwd=tmp_path, **both_env(discord_fake, segmind, **settings))
    assert result.code == 2
    assert words in result.err
    assert "Traceback" not in result.err
    assert discord_fake.requests == []  # nothing was tried


async def test_a_worker_needs_redis_and_says_so(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    result = await run_cli("worker", cwd=tmp_path, **both_env(discord_fake, segmind))
    assert result.code == 2
    assert "set REDIS_URL" in result.err and "python -m bot run" in result.err
    assert discord_fake.requests == []


@pytest.mark.process
async def test_a_request_whose_gateway_died_fetching_its_pose_is_reported_by_another_process(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    guild = harness.discord.add_guild(shard=0, shard_count=2)
    bots = await two_shards_and_a_worker(
        harness, POSE_DOWNLOAD_SECONDS="60", JOB_LEASE_SECONDS=SHORT_LEASE, MAX_JOBS_PER_USER="1"
    )
    slow = harness.discord.host_attachment(png(), "slow.png", "image/png", bytes_per_second=1)
    rec = await harness.discord.invoke(
        "character", {"prompt": "cut off"}, user_id=8700, guild_id=guild, attachments={"pose": slow}
    )
    await rec.wait_for(acked, timeout=10)  # "thinking…": its pose is being fetched
    await harness.until_job(1, "accepted")
    await bots[0].kill()  # the gateway of shard 0, mid-download
    await rec.wait_for(lambda r: "interrupted" in _last_text(r), timeout=20)
    assert harness.job_state(1) == "interrupted"
    assert harness.segmind.requests == []
    # It no longer counts as the member's running job (one allowed): they may ask again.
    again = await ask_in(harness, harness.discord.add_guild(shard=1, shard_count=2), 8700, "again")
    await again.wait_for(sheet_delivered, timeout=20)


@pytest.mark.process
async def test_an_upgrade_without_a_stop_serves_everyone_once(shared_harness: Harness) -> None:
    harness = shared_harness
    harness.segmind.delay = 1.0
    settings = {"MAX_CONCURRENT_JOBS": "1", "COOLDOWN_SECONDS": "0"}
    old = await harness.start_bot(**settings)
    before = await asyncio.gather(*(ask(harness, 8900 + n, f"before {n}") for n in range(3)))
    new = await harness.start_bot(**settings)  # Discord now sends the shard's events here
    await old.signal(signal.SIGTERM)  # finishes its running sheet, takes nothing more
    after = await asyncio.gather(*(ask(harness, 8950 + n, f"after {n}") for n in range(2)))
    assert await old.wait(timeout=30) == 0
    for rec in before + after:
        await rec.wait_for(sheet_delivered, timeout=30)
    assert Counter(prompts(harness.segmind)) == Counter(
        [f"before {n}" for n in range(3)] + [f"after {n}" for n in range(2)]
    )
    assert "interrupted" not in harness.logs
    new.check_alive()


@pytest.mark.process
async def test_connections_to_redis_dropped_mid_burst_lose_no_sheet_and_send_none_twice(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 0.3
    guilds = guilds_on_both_shards(harness)
    await two_shards_and_a_worker(
        harness, MAX_CONCURRENT_JOBS="2", COOLDOWN_SECONDS="0", JOB_LEASE_SECONDS=SHORT_LEASE
    )
    recs = await asyncio.gather(
        *(ask_in(harness, guilds[n % 4], 9000 + n, f"dropped {n}") for n in range(12))
    )
    assert harness.redis_url is not None
    with redis.Redis.from_url(harness.redis_url) as client:
        for _ in range(3):  # Redis drops every bot's connection (a failover, a restart)
            await asyncio.sleep(0.4)
            client.client_kill_filter(_type="normal", skipme=True)
    for rec in recs:
        await rec.wait_for(sheet_delivered, timeout=40)
    assert Counter(prompts(harness.segmind)) == {f"dropped {n}": 1 for n in range(12)}
    assert sheets_posted(harness) == 12


async def test_a_bot_moved_from_sqlite_to_redis_keeps_its_settings_ledger_and_buttons(
    harness: Harness, redis_url: str
) -> None:
    bot = await harness.start_bot(COOLDOWN_SECONDS="0")
    limit = await harness.discord.invoke(
        "config daily-limit", {"sheets": 3}, user_id=1, permissions=MANAGE
    )
    await limit.wait_for(acked, timeout=5)
    first = await ask(harness, 9100, "a fox ranger", strength=0.6)
    await first.wait_for(sheet_delivered, timeout=10)
    assert first.original is not None
    save = await harness.discord.click(first.original, first.original.custom_ids()[2], user_id=9100)
    await save.wait_for(acked, timeout=5)
    kept = await harness.discord.submit_modal(save, {"name": "Fox"})
    await kept.wait_for(lambda r: r.original is not None, timeout=5)  # "Saved “Fox”"
    await bot.signal(signal.SIGTERM)
    assert await bot.wait() == 0

    env = {**harness.settings(REDIS_URL=redis_url), "DISCORD_TOKEN": ""}
    copied = await run_cli("copy-to-redis", cwd=harness.cwd, **env)
    assert copied.code == 0, copied.err
    assert "the settings of 1 server(s), 1 ledger entries, 1 finished job(s)" in copied.out
    assert "1 saved character(s)" in copied.out
    again = await run_cli("copy-to-redis", cwd=harness.cwd, **env)
    assert again.code == 2 and "already holds a bot's state" in again.err

    await harness.start_bot(COOLDOWN_SECONDS="0", REDIS_URL=redis_url)
    sheet = first.original
    assert sheet is not None
    reroll = await harness.discord.click(sheet, sheet.custom_ids()[0], user_id=9100)
    await reroll.wait_for(sheet_delivered, timeout=10)  # the old sheet's button, its pose kept
    assert harness.segmind.requests[1].json["strength"] == 0.6
    fox = await harness.discord.invoke("characters draw", {"name": "fox"}, user_id=9100)
    await fox.wait_for(sheet_delivered, timeout=10)  # the saved character, copied
    assert harness.segmind.requests[2].json["prompt"] == "a fox ranger"
    third = await ask(harness, 9100, "one too many")
    assert "you have 3/3" in _last_text(third)  # the copied ledger and limit count
    assert len(harness.segmind.requests) == 3


async def test_copying_to_redis_waits_until_no_job_is_left_in_the_sqlite_file(
    harness: Harness, redis_url: str
) -> None:
    harness.segmind.delay = 30  # the sheet is still being drawn when the bot is killed
    bot = await harness.start_bot()
    await ask(harness, 9200, "unfinished")
    await harness.discord.wait_until(lambda: len(harness.segmind.requests) == 1)
    await bot.kill()
    env = {**harness.settings(REDIS_URL=redis_url), "DISCORD_TOKEN": ""}
    result = await run_cli("copy-to-redis", cwd=harness.cwd, **env)
    assert result.code == 2
    assert "1 job(s) in DATABASE_PATH are still waiting, running or undelivered" in result.err
    assert "Traceback" not in result.err
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0  # nothing half-copied


async def test_copying_a_database_path_that_does_not_exist_leaves_redis_empty_for_the_right_one(
    tmp_path: Path, redis_url: str
) -> None:
    env = {"SEGMIND_API_KEY": "sk-unused", "REDIS_URL": redis_url}
    typo = await run_cli("copy-to-redis", cwd=tmp_path, DATABASE_PATH="dta/bot.sqlite3", **env)
    assert typo.code == 2
    assert typo.err.strip().splitlines() == [
        "DATABASE_PATH (dta/bot.sqlite3) does not exist: there is nothing to copy into Redis. "
        "Point DATABASE_PATH at the bot's database (the bot creates it when it first runs)."
    ]
    assert not (tmp_path / "dta").exists()
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0  # no empty copy to refuse the right one
    async with Store.open(tmp_path / "data" / "bot.sqlite3"):
        pass
    right = await run_cli("copy-to-redis", cwd=tmp_path, DATABASE_PATH="data/bot.sqlite3", **env)
    assert right.code == 0, right.err


async def test_a_bot_discord_wants_sharded_stops_saying_how_to_shard_it(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    discord_fake.required_shards = 2  # the bot is in too many servers for one shard
    result = await run_cli("run", cwd=tmp_path, **both_env(discord_fake, segmind))
    assert result.code == 2
    assert "Discord requires sharding" in result.err and "Set SHARD_COUNT" in result.err
    assert "Traceback" not in result.err
    assert discord_fake.sharding_refusals == [{"shard": [0, 1], "required": 2}]


async def test_one_process_may_run_every_shard_on_its_sqlite_file(harness: Harness) -> None:
    guilds = [harness.discord.add_guild(shard=n, shard_count=2) for n in (0, 1)]
    await harness.start_bot(SHARD_COUNT="2", COOLDOWN_SECONDS="0")  # no SHARD_IDS: all of them
    await harness.discord.wait_ready(shards=2, timeout=20)  # discord.py spaces IDENTIFYs by 5 s
    recs = [await ask_in(harness, guild, 9300, f"shard {n}") for n, guild in enumerate(guilds)]
    for rec in recs:
        await rec.wait_for(sheet_delivered, timeout=10)
    assert {rec.shard for rec in recs} == {0, 1}


async def test_jobs_no_process_holds_any_more_are_reported_interrupted_never_sent(
    shared_harness: Harness,
) -> None:
    # Left by processes that are gone: one accepted (its pose never came), one claimed for
    # sending whose worker lost track of it. Neither has a lease or a place in the line.
    harness = shared_harness
    assert harness.redis_url is not None
    channel = harness.discord.channels_of()[0]
    left: list[int] = []
    async with RedisStore.open(harness.redis_url, lease_seconds=60) as gone:
        for user, state in ((9400, JobState.ACCEPTED), (9401, JobState.SENDING)):
            orphan = NewJob(
                user_id=user,
                guild_id=harness.discord.guild_id,
                channel_id=channel,
                request=SheetRequest(prompt="left behind", seed=1),
                custom_pose=False,
                upload_limit=10 * 2**20,
                interaction_token=None,
                token_expires_at=None,
            )
            job = await gone.admit(orphan, ROOMY)
            if state is JobState.SENDING:
                assert await gone.move(job.id, JobState.ACCEPTED, state=JobState.QUEUED)
                assert await gone.move(job.id, JobState.QUEUED, state=JobState.SENDING)
            await gone.release(job.id)
            left.append(job.id)
    await harness.start_bot(JOB_LEASE_SECONDS="1")
    for job_id in left:
        await harness.until_job(job_id, "interrupted", timeout=10)
    told = {m.content for m in harness.discord.channel_messages}
    assert any("<@9400>" in text and "interrupted" in text for text in told), told
    assert any("<@9401>" in text and "interrupted" in text for text in told), told
    assert harness.segmind.requests == []
