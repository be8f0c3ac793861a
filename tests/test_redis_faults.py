"""What goes wrong between the processes and their shared Redis (issue 22, items 1-6): a process
frozen past its lease, a Redis wiped or restarted or frozen, a process killed with queued jobs,
Segmind's own count of requests a minute.

Real processes (`python -m bot run|worker`), a real redis-server, the wire-level fakes; what
matters is counted at the fakes: requests Segmind received, sheets each member was given.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest
import redis

from bot.sheets import texts
from bot.sheets.engine import ANNOUNCE_EVERY
from bot.state.redis.store import PREFIX
from tests.fake_discord import InteractionRecord
from tests.harness import Harness, RunningBot
from tests.helpers import (
    acked,
    answered,
    ask,
    history,
    placeholder_says,
    prompts,
    refusal,
    refused_in_private,
    sheet_delivered,
    sheets_posted,
)
from tests.redis_server import RedisServer

SHORT_LEASE = "3"


async def shards_and_a_worker(harness: Harness, **settings: str) -> list[RunningBot]:
    """Gateway processes for shards 0 and 1 of 2, and a worker-only process."""
    both = {"SHARD_COUNT": "2", "COOLDOWN_SECONDS": "0", **settings}
    bots = [
        await harness.start_bot(SHARD_IDS="0", **both),
        await harness.start_bot(SHARD_IDS="1", **both),
        await harness.start_worker(**both),
    ]
    await harness.discord.wait_ready(shards=2)
    for bot in bots:  # its workers are up (the check runs beside them), its store open
        await bot.wait_for_log("Segmind key accepted")
    return bots


async def ask_on_shard(
    harness: Harness, shard: int, user_id: int, prompt: str
) -> InteractionRecord:
    guild = harness.discord.add_guild(shard=shard, shard_count=2)
    return await harness.discord.invoke(
        "character", {"prompt": prompt}, user_id=user_id, guild_id=guild
    )


def sheets_given(rec: InteractionRecord) -> int:
    """How many times a sheet reached this member (each upload to their messages counts)."""
    return sum(1 for m in rec.all_messages for p in m.payloads if p.get("attachments"))


def _user(harness: Harness, job_id: int) -> int:
    assert harness.redis_url is not None
    with redis.Redis.from_url(harness.redis_url) as client:
        return int(client.hget(f"{PREFIX}job:{job_id}", "user_id") or 0)


def ledger(harness: Harness) -> dict[bytes, bytes]:
    assert harness.redis_url is not None
    with redis.Redis.from_url(harness.redis_url) as client:
        return dict(client.hgetall(f"{PREFIX}ledger:entries"))


# --- 1. fencing ----------------------------------------------------------------------------------


@pytest.mark.process
async def test_a_worker_frozen_past_its_lease_is_taken_over_and_once_woken_sends_nothing(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 8.0  # Segmind draws while the drawing process is frozen
    bots = await shards_and_a_worker(
        harness, SEGMIND_API="v2", MAX_CONCURRENT_JOBS="1", JOB_LEASE_SECONDS=SHORT_LEASE
    )
    rec = await ask_on_shard(harness, 1, 8500, "frozen")
    await harness.discord.wait_until(lambda: " submitted: " in harness.logs, timeout=10)
    frozen = next(bot for bot in bots if " submitted: " in bot.logs)
    await frozen.signal(signal.SIGSTOP)
    try:
        await rec.wait_for(sheet_delivered, timeout=40)  # another process took it over
        await harness.until_job(1, "done")
        settled = ledger(harness)
        told = history(rec.original) if rec.original else []
    finally:
        await frozen.signal(signal.SIGCONT)
    stopped = "job 1: another process took it over; this one stops"
    # Woken, it goes on from where it froze: it stops there, or (unfenced) delivers again.
    # Either line ends its work on the job: "done" is logged only after a delivery, and a
    # process that stops sends nothing more, so what was sent can be counted now.
    await harness.discord.wait_until(
        lambda: stopped in frozen.logs or "job 1 done:" in frozen.logs, timeout=30
    )
    assert len(harness.segmind.submits) == 1
    assert sheets_given(rec) == 1
    assert sheets_posted(harness) == 1
    assert harness.job_state(1) == "done"
    assert ledger(harness) == settled and len(settled) == 1  # not rewritten
    assert rec.original is not None and history(rec.original) == told  # no message after
    assert harness.discord.channel_messages == []
    assert stopped in frozen.logs


# --- 2. a Redis wiped under the bot ---------------------------------------------------------------


@pytest.mark.process
async def test_a_wiped_redis_tells_members_their_requests_were_lost_and_draws_new_ones_once(
    shared_harness: Harness, redis_server: RedisServer
) -> None:
    harness = shared_harness
    await shards_and_a_worker(harness, MAX_CONCURRENT_JOBS="1")
    first = await ask_on_shard(harness, 0, 8700, "before the wipe")
    await first.wait_for(sheet_delivered, timeout=20)  # job 1
    harness.segmind.delay = 5.0  # one is drawn while the others wait
    waiting = [await ask_on_shard(harness, n % 2, 8710 + n, f"waiting {n}") for n in range(4)]
    for rec in waiting:
        await rec.wait_for(
            lambda r: placeholder_says("Queued")(r) or placeholder_says("Drawing")(r), timeout=10
        )
    await harness.discord.wait_until(lambda: len(harness.segmind.requests) == 2, timeout=10)
    # Each process looks at the jobs it queued every 2 s: it learns which ones a worker took
    # (that worker tells or delivers). One taken in the 2 s before a wipe may be told twice.
    await asyncio.sleep(ANNOUNCE_EVERY + 0.5)
    redis_server.flushall()  # Redis restarted without its data

    # The one being drawn is delivered (Segmind has it); the others are told, never drawn.
    lost = str(texts.LOST).split(" — ")[0]
    for rec in waiting:
        await rec.wait_for(lambda r: sheet_delivered(r) or placeholder_says(lost)(r), timeout=20)
    assert sum(map(sheet_delivered, waiting)) == 1
    assert sum(placeholder_says(lost)(rec) for rec in waiting) == 3

    harness.segmind.delay = 0.0
    after = [await ask_on_shard(harness, n % 2, 8720 + n, f"after {n}") for n in range(8)]
    for rec in after:
        await rec.wait_for(sheet_delivered, timeout=60)
    assert len(harness.segmind.requests) == 2 + 8
    assert all(n == 1 for n in Counter(prompts(harness.segmind)).values())
    assert all(sheets_given(rec) == 1 for rec in [first, *after])
    # Each process notices within a renewal (3 s), and says so once.
    wiped = "REDIS LOST THE BOT'S DATA"
    await harness.discord.wait_until(lambda: harness.logs.count(wiped) >= 3, timeout=10)
    assert all(bot.logs.count(wiped) == 1 for bot in harness.bots)

    # The first sheet's job is gone; its id was not given again, to somebody else's job.
    assert harness.job_state(1) is None
    assert first.original is not None
    reroll = await harness.discord.click(
        first.original, first.original.custom_ids()[0], user_id=8700
    )
    await reroll.wait_for(refused_in_private, timeout=10)
    assert refusal(reroll) == str(texts.GONE)
    assert len(harness.segmind.requests) == 2 + 8


# --- 3. a Redis restarted (data kept) -----------------------------------------------------------


@pytest.mark.process
async def test_after_a_redis_restart_every_member_asking_at_once_is_served_once(
    shared_harness: Harness, redis_server: RedisServer
) -> None:
    harness = shared_harness
    await harness.start_bot(COOLDOWN_SECONDS="0")
    burst = [await ask(harness, 8800 + n, f"burst {n}") for n in range(8)]
    for rec in burst:  # the pool now holds connections, all cut by the restart
        await rec.wait_for(sheet_delivered, timeout=20)
    redis_server.restart()
    recs = [
        await harness.discord.invoke("character", {"prompt": f"after {n}"}, user_id=8810 + n)
        for n in range(6)
    ]
    for rec in recs:
        await rec.wait_for(answered, timeout=20)
    apologies = [rec for rec in recs if refused_in_private(rec)]
    assert [refusal(rec) for rec in apologies] == []
    assert all(sheets_given(rec) == 1 for rec in recs)
    assert len(harness.segmind.requests) == 8 + 6
    assert all(n == 1 for n in Counter(prompts(harness.segmind)).values())


# --- 4. a frozen Redis ---------------------------------------------------------------------------


# A process: in the test's own loop, the bot leaves an asyncio connection to the frozen Redis
# unclosed (found with a gc.collect() right after this test; not yet traced to its cause), and
# its ResourceWarning then fails whichever test of this worker runs when it is collected.
@pytest.mark.process
async def test_while_redis_is_frozen_every_request_is_answered_in_time_and_nothing_is_charged(
    shared_harness: Harness, redis_server: RedisServer
) -> None:
    harness = shared_harness
    await harness.start_bot(COOLDOWN_SECONDS="600", ALLOW_DMS="true")
    with redis_server.frozen():  # for 10 s
        # A server's settings are read before the acknowledgement: told at once. In direct
        # messages admission comes first: acknowledged ("thinking…"), then told.
        recs = [await ask(harness, 9600, "in a server"), await ask_privately(harness, 9601)]
        await recs[0].wait_for(refused_in_private, timeout=3)
        await recs[1].wait_for(acked, timeout=3)
        await recs[1].wait_for(refused_in_private, timeout=6)
        assert {refusal(rec) for rec in recs} == {str(texts.STORAGE_NOT_ANSWERING)}
        await asyncio.sleep(10 - 5)
    assert all(rec.ack_latency is not None and rec.ack_latency < 3 for rec in recs)
    # Redis answers again: the late admission (the DM's, sent before Redis froze) is carried
    # out now, then withdrawn, its cooldown given back. Until Redis has run it, nothing is left
    # either: asking again in between would meet the cooldown it is about to take.
    await harness.discord.wait_until(
        lambda: withdrawn_job_of(harness, 9601) and nothing_left(harness), timeout=10
    )
    again = [await ask(harness, 9600, "again"), await ask_privately(harness, 9601)]
    for rec in again:
        await rec.wait_for(sheet_delivered, timeout=20)
    assert len(harness.segmind.requests) == 2


async def ask_privately(harness: Harness, user_id: int) -> InteractionRecord:
    return await harness.discord.invoke(
        "character", {"prompt": "in private"}, user_id=user_id, in_guild=False
    )


def withdrawn_job_of(harness: Harness, user_id: int) -> bool:
    """A job of this member's is stored as refused: admitted, then withdrawn."""
    assert harness.redis_url is not None
    with redis.Redis.from_url(harness.redis_url) as client:
        for key in client.scan_iter(match=f"{PREFIX}job:*", _type="hash"):
            user, state = client.hmget(key, ["user_id", "state"])
            if user == str(user_id).encode() and state == b"refused":
                return True
    return False


def nothing_left(harness: Harness) -> bool:
    """No job waits, and no cooldown holds: a withdrawn job's cooldown is given back after its
    end is stored, so a member asking between the two would still meet it."""
    assert harness.redis_url is not None
    with redis.Redis.from_url(harness.redis_url) as client:
        waiting = any(client.zcard(f"{PREFIX}state:{s}") for s in ("accepted", "queued"))
        return not waiting and not list(client.scan_iter(match=f"{PREFIX}cooldown:*"))


# --- 5. takeover of a dead process's queued jobs -------------------------------------------------


@pytest.mark.process
async def test_queued_jobs_of_a_killed_gateway_are_delivered_within_30s_with_the_default_lease(
    shared_harness: Harness,
) -> None:
    harness = shared_harness
    harness.segmind.delay = 3.0  # the slots stay busy: workers hold jobs waiting for one
    bots = await shards_and_a_worker(harness, MAX_CONCURRENT_JOBS="2", JOB_LEASE_SECONDS="120")
    recs = [await ask_on_shard(harness, 0, 8600 + n, f"orphan {n}") for n in range(6)]
    for rec in recs:
        await rec.wait_for(
            lambda r: sheet_delivered(r) or placeholder_says("Queued")(r), timeout=10
        )
    await harness.discord.wait_until(lambda: " sending: " in harness.logs, timeout=10)
    await bots[0].kill()  # SIGKILL, while its workers hold queued jobs waiting for a slot
    died = time.monotonic()
    # Jobs being sent when it died wait for their lease (Segmind has them). Read from the store,
    # not the log: a job moves to sending a moment before its log line is written. (A live
    # process's job that started just now counts too: it is delivered anyway.)
    sending = [(harness.job_state(n), _user(harness, n)) for n in range(1, len(recs) + 1)]
    drawing = {user for state, user in sending if state in ("sending", "submitted")}
    await harness.discord.wait_until(
        lambda: all(sheet_delivered(rec) or rec.user_id in drawing for rec in recs), timeout=40
    )
    took = time.monotonic() - died
    print(f"queued jobs of the killed gateway delivered {took:.1f}s after its death")
    assert took < 30
    assert all(n == 1 for n in Counter(prompts(harness.segmind)).values())
    assert all(sheets_given(rec) <= 1 for rec in recs)
