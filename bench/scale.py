"""Scale-out benchmark: the same burst against 1, 2, 4 ... gateway processes sharing one Redis.

`python -m bench.scale [--processes 1,2,4] [--n 200] [--concurrency 4] [--delay 0.2]`

For each process count P: a fresh real redis-server, the wire-level fakes, and P processes
`python -m bot run` (SHARD_COUNT=P, SHARD_IDS=i), the servers spread evenly over the shards.
Then N members in those servers each send one /character at once. Measured at the fakes: when
each interaction was dispatched and acknowledged, when every sheet was posted, how many requests
Segmind had at once, and that every member got exactly one sheet. See docs/scaling.md.

Exit code 1 if a run broke a rule (over the concurrency limit, a member served twice or not at
all, a fake Discord violation) or could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.fakes import QuickSegmind
from bench.run import machine
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.harness import BotProcess
from tests.redis_server import RedisServer

FIRST_USER = 400_000_000_000_000_000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TROUBLE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback|^[\w.]+(Error|Exception): ")
_CAUSE = re.compile(r"^[\w.]+(Error|Exception): ")


@dataclass
class Row:
    processes: str  # "1", "2" ... or "1 (SQLite)"
    accepted_per_s: float = math.nan
    ack_p50: float = math.nan
    ack_p99: float = math.nan
    all_delivered: float = math.nan
    max_in_flight: int = 0
    drawn_by: list[int] = field(default_factory=list)  # "sending" lines per process
    problems: list[str] = field(default_factory=list)  # rules broken: the run FAILs
    trouble: list[str] = field(default_factory=list)  # warnings/errors in the bots' logs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--processes", default="1,2,4", help="process counts to run (1,2,4)")
    parser.add_argument(
        "--sqlite", action="store_true", help="first a baseline: one process on SQLite, no Redis"
    )
    parser.add_argument("--n", type=int, default=200, help="requests, one per member (200)")
    parser.add_argument("--concurrency", type=int, default=4, help="MAX_CONCURRENT_JOBS (4)")
    parser.add_argument("--delay", type=float, default=0.2, help="Segmind seconds/sheet (0.2)")
    parser.add_argument("--timeout", type=float, help="per run, seconds (30 + 3x the ideal)")
    parser.add_argument("--keep-logs", type=Path, help="copy the bots' logs into this folder")
    args = parser.parse_args(argv)
    try:
        args.processes = [int(p) for p in args.processes.split(",") if p.strip()]
    except ValueError:
        parser.error("--processes takes numbers separated by commas, e.g. 1,2,4")
    if args.timeout is None:  # the ideal: N / concurrency sheets one after another
        args.timeout = 30 + 3 * math.ceil(args.n / args.concurrency) * args.delay
    if not args.processes or min(args.processes) < 1 or args.n < 1 or args.concurrency < 1:
        parser.error("need --processes >= 1, --n >= 1, --concurrency >= 1")
    return args


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def delivered(rec: InteractionRecord) -> bool:
    return rec.original is not None and bool(rec.original.attachments)


async def measure(p: int, args: argparse.Namespace, *, shared: bool = True) -> Row:
    row = Row(str(p) if shared else "1 (SQLite)")
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        async with (
            FakeDiscord() as discord,
            QuickSegmind(delay=args.delay, credits=args.n + 100.0) as segmind,
        ):
            per_shard = max(1, 8 // p)
            guilds = [discord.add_guild(shard=g % p, shard_count=p) for g in range(per_shard * p)]
            common = {
                "DISCORD_TOKEN": discord.token,
                "DISCORD_API_BASE": discord.api_base,
                "DISCORD_GATEWAY_URL": discord.gateway_url,
                "SEGMIND_API_KEY": segmind.api_key,
                "SEGMIND_BASE_URL": segmind.url,
                "DATABASE_PATH": str(Path(scratch) / "bot.sqlite3"),
                **({"REDIS_URL": server.url, "SHARD_COUNT": str(p)} if shared else {}),
                "COOLDOWN_SECONDS": "0",
                "MAX_QUEUE": str(args.n * 2 + 10),
                "MAX_CONCURRENT_JOBS": str(args.concurrency),
                "SEGMIND_RPM": "10000",
                "SEGMIND_API": "v1",
                "LOG_LEVEL": "INFO",
                "SHUTDOWN_GRACE_SECONDS": "10",
            }
            shard = [{"SHARD_IDS": str(i)} if shared else {} for i in range(p)]
            bots = [BotProcess(Path(scratch), {**common, **shard[i]}, "run") for i in range(p)]
            started: list[BotProcess] = []
            try:
                for bot in bots:
                    await bot.start()
                    started.append(bot)
                await discord.wait_ready(timeout=60, shards=p)
                await discord.wait_until(lambda: discord.find_command("character") is not None)
                await _burst(args, discord, segmind, guilds, bots, row)
            finally:
                for bot in started:
                    await _stop(bot, row)
                if args.keep_logs is not None:
                    args.keep_logs.mkdir(parents=True, exist_ok=True)
                    for i, bot in enumerate(started):
                        name = f"p{p}-shard{i}.log" if shared else "sqlite.log"
                        (args.keep_logs / name).write_text(bot.logs)
            row.drawn_by = [bot.logs.count(" sending: ") for bot in bots]
            row.trouble = [line for line in _all_lines(bots) if _TROUBLE.search(line)]
            row.problems += [f"fake Discord: {v}" for v in discord.violations]
            if cut := [line for line in _all_lines(bots) if " interrupted: " in line]:
                row.problems.append(f"{len(cut)} job(s) reported interrupted, e.g. {cut[0]}")
    return row


def _all_lines(bots: list[BotProcess]) -> list[str]:
    return [_ANSI.sub("", line) for bot in bots for line in bot.logs.splitlines()]


async def _burst(
    args: argparse.Namespace,
    discord: FakeDiscord,
    segmind: QuickSegmind,
    guilds: list[int],
    bots: list[BotProcess],
    row: Row,
) -> None:
    n = args.n
    recs = await asyncio.gather(
        *(
            discord.invoke(
                "character",
                {"prompt": f"member {i}", "seed": i + 1},
                user_id=FIRST_USER + i,
                guild_id=guilds[i % len(guilds)],
            )
            for i in range(n)
        )
    )
    first = min(rec.sent_at for rec in recs)

    deadline = first + args.timeout
    # A plain loop, not the fake's wait_until: on Python 3.11 its wait_for can swallow Ctrl-C.
    while not all(map(delivered, recs)):
        for bot in bots:
            bot.check_alive()  # raises, with the log, if a bot exited
        if time.monotonic() > deadline:
            row.problems.append(f"timed out: {sum(map(delivered, recs))}/{n} delivered")
            break
        await asyncio.sleep(0.05)
    row.all_delivered = time.monotonic() - first
    acks = [rec.acked_at for rec in recs if rec.acked_at is not None]
    if len(acks) < n:
        row.problems.append(f"only {len(acks)}/{n} interactions acknowledged")
    if acks:
        row.accepted_per_s = len(acks) / max(max(acks) - first, 1e-6)
    latencies = [rec.ack_latency for rec in recs if rec.ack_latency is not None]
    row.ack_p50, row.ack_p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    await asyncio.sleep(0.5)  # anything sent twice would arrive now
    row.max_in_flight = segmind.max_in_flight
    if segmind.max_in_flight > args.concurrency:
        row.problems.append(f"Segmind had {segmind.max_in_flight} at once (> {args.concurrency})")
    sent = Counter(str(r.json.get("prompt")) for r in segmind.requests if isinstance(r.json, dict))
    twice = sorted(prompt for prompt, count in sent.items() if count > 1)
    missing = n - sum(1 for i in range(n) if sent[f"member {i}"] >= 1)
    if twice or missing or len(segmind.requests) != n:
        row.problems.append(
            f"Segmind got {len(segmind.requests)} requests for {n} members "
            f"(sent twice: {twice[:5]}, never: {missing})"
        )
    posted = [m for rec in discord.interactions for m in rec.all_messages if m.attachments]
    posted += [m for m in discord.channel_messages + discord.dm_messages if m.attachments]
    if len(posted) != n or not all(len([m for m in rec.all_messages if m.attachments]) == 1
                                   for rec in recs):  # fmt: skip
        row.problems.append(f"{len(posted)} sheets posted for {n} members")


async def _stop(bot: BotProcess, row: Row) -> None:
    """SIGTERM and wait for a clean exit; SIGKILL if it does not come."""
    try:
        if bot.process is not None and bot.returncode is None:
            await bot.signal(signal.SIGTERM)
        code = await bot.wait(timeout=30)
        if code != 0:
            row.problems.append(f"a bot exited with {code} after SIGTERM")
    except TimeoutError:
        row.problems.append("a bot did not stop within 30 s of SIGTERM")
    finally:
        await bot.kill()


def table(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        "| processes | accepted/s | ack p50 | ack p99 | all sheets delivered | "
        "Segmind max in flight | sheets drawn per process | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.processes} | {r.accepted_per_s:.0f} | {r.ack_p50 * 1000:.0f} ms | "
            f"{r.ack_p99 * 1000:.0f} ms | {r.all_delivered:.1f} s | "
            f"{r.max_in_flight} (limit {args.concurrency}) | "
            f"{' / '.join(map(str, r.drawn_by))} | {'FAIL' if r.problems else 'PASS'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name, value in machine():
        print(f"{name}: {value}")
    with RedisServer() as probe, redis.Redis.from_url(probe.url) as client:
        version = client.info("server")["redis_version"]
    print(f"Redis: redis-server {version}")
    print(f"Burst: N={args.n}, MAX_CONCURRENT_JOBS={args.concurrency}, Segmind {args.delay:g} s")
    rows: list[Row] = []
    runs = [(1, False)] * args.sqlite + [(p, True) for p in args.processes]
    for p, shared in runs:
        print(f"\n{p} process(es) on {'Redis' if shared else 'SQLite'} ...", flush=True)
        try:
            row = asyncio.run(measure(p, args, shared=shared))
        except Exception as exc:  # could not run at all: say why, go on with the next
            row = Row(str(p), problems=[f"{type(exc).__name__}: {exc}"[:2000]])
        rows.append(row)
        for line in row.problems:
            print(f"  FAIL: {line}")
        print(f"  warnings/errors in the bots' logs: {len(row.trouble)}")
        causes = Counter(line for line in row.trouble if _CAUSE.match(line))
        for line in [t for t in row.trouble if not _CAUSE.match(t) and "Traceback" not in t][:5]:
            print(f"    {line}")
        for cause, count in causes.most_common(5):
            print(f"    {count} x {cause}")
    print()
    print(table(rows, args))
    return 1 if any(r.problems for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
