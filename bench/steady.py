"""Steady load: interactions at a steady Poisson rate R for S seconds, then the queue's drain.

`python -m bench --rate R [--seconds S] [--drain D]`. Half the members send no pose, half a
512-px PNG; the bot runs with MAX_CONCURRENT_JOBS=--concurrency and no cooldown, Segmind takes
--delay per sheet. The mix makes the bot, not Segmind, the bottleneck: with 64 workers and
0.5 s a sheet, Segmind draws 128 a second. Reported: ack p50/p99 and loop lag at R, every
sheet delivered and how long after the last request, and what the bot asked of Discord.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from bench.probes import ProcessWatch, bucket_delta, bucket_quantile, percentile
from bench.processes import BotProcess, RunBroke, TapProcess
from bench.run import (
    _CALLBACK,
    _GENERATE,
    FIRST_USER,
    HEARTBEAT,
    _gaps,
    lag_histogram,
    machine,
    settled,
)
from tests.fake_discord import FakeDiscord, InteractionRecord

POSE_SIDE = 512
_EDIT = re.compile(r"^/webhooks/\d+/[^/]+/messages/")
_TROUBLE = ("stored at last", "database is locked", "could not be stored")


def small_pose() -> bytes:
    """A 512-px PNG pose: a figure on a textured ground (cheap to make, as a phone crop)."""
    rng = random.Random(512)
    image = Image.effect_noise((POSE_SIDE, POSE_SIDE), 40).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x, y = rng.randrange(POSE_SIDE), rng.randrange(POSE_SIDE)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 120)), fill=colour)
    draw.rectangle((220, 120, 290, 400), fill=(40, 40, 60))  # the figure
    draw.ellipse((225, 60, 285, 120), fill=(200, 170, 150))
    out = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(1)).save(out, "PNG")
    return out.getvalue()


@dataclass
class SteadyObserved:
    """Raw results of one steady run; times in seconds."""

    args: dict[str, Any]
    machine: list[tuple[str, str]]
    sent: int
    acked: int
    delivered: int
    ack_latencies: list[float]
    heartbeat_lags: list[float]
    lag_buckets: list[tuple[float, float]]
    send_seconds: float  # first to last request sent
    last_delivery_after: float | None  # last request sent -> last sheet delivered
    timed_out: bool
    idle_rss: int
    peak_rss: int
    cpu_seconds: float
    segmind_requests: int
    discord_requests: dict[str, int]
    trouble: dict[str, int]  # log lines of storage falling behind
    warnings: list[str]
    violations: list[str]
    harness_cpu: float = math.nan
    not_delivered: list[str] = field(default_factory=list)


async def steady(
    args: argparse.Namespace,
    discord: FakeDiscord,
    tap: TapProcess,
    bot: BotProcess,
    metrics_port: int,
) -> SteadyObserved:
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    watch = ProcessWatch(bot.pid)
    await asyncio.sleep(args.idle)
    idle_rss = watch.rss()
    lag_before = await lag_histogram(args, metrics_url)
    rng = random.Random(21)
    arrivals, at = [], rng.expovariate(args.rate)
    while at < args.seconds:
        arrivals.append(at)
        at += rng.expovariate(args.rate)
    pose = small_pose()
    print(
        f"Sending {len(arrivals)} /character requests over {args.seconds:g} s "
        f"({args.rate:g}/s, Poisson; Segmind answers after {args.delay:g} s) ...",
        flush=True,
    )
    poller = asyncio.create_task(watch.poll(0.1))
    cpu_start = watch.cpu_seconds()
    records: list[InteractionRecord] = []
    done_at: dict[int, float] = {}
    tracker = asyncio.create_task(_track(records, done_at))
    started = time.monotonic()
    try:
        for index, due in enumerate(arrivals):
            await asyncio.sleep(max(0.0, started + due - time.monotonic()))
            options: dict[str, Any] = {"prompt": f"a ranger, take {index}", "seed": index + 1}
            attachments = None
            if index % 2:
                attachment = discord.host_attachment(
                    pose, f"pose_{index}.png", "image/png", width=POSE_SIDE, height=POSE_SIDE
                )
                for key in ("url", "proxy_url"):
                    attachment[key] = attachment[key].replace(discord.base_url, tap.url("rest"), 1)
                attachments = {"pose": attachment}
            records.append(
                await discord.invoke(
                    "character", options, user_id=FIRST_USER + index, attachments=attachments
                )
            )
        last_sent = time.monotonic()
        heartbeat_window = (started, last_sent)
        lag_after = await lag_histogram(args, metrics_url)
        timed_out = await _drain(bot, records, done_at, last_sent + args.drain)
        cpu_seconds = watch.cpu_seconds() - cpu_start
        peak = max([watch.high_water(), *(rss for _, rss in watch.samples)])
    finally:
        for task in (poller, tracker):
            task.cancel()
        await asyncio.gather(poller, tracker, return_exceptions=True)
    await bot.stop()
    await tap.stop()
    return _observed(
        args,
        discord,
        tap,
        bot,
        records,
        done_at,
        started=started,
        last_sent=last_sent,
        heartbeat_window=heartbeat_window,
        lags=bucket_delta(lag_after, lag_before),
        timed_out=timed_out,
        idle_rss=idle_rss,
        peak=peak,
        cpu_seconds=cpu_seconds,
    )


async def _track(records: list[InteractionRecord], done_at: dict[int, float]) -> None:
    """Note when each member got their final answer (every 50 ms)."""
    checked = 0
    pending: list[InteractionRecord] = []
    while True:
        pending += records[checked:]
        checked = len(records)
        now = time.monotonic()
        still = []
        for rec in pending:
            if settled(rec):
                done_at[rec.id] = now
            else:
                still.append(rec)
        pending = still
        await asyncio.sleep(0.05)


async def _drain(
    bot: BotProcess,
    records: list[InteractionRecord],
    done_at: dict[int, float],
    deadline: float,
) -> bool:
    """Wait until every member has an answer; True if the deadline came first."""
    last_report = time.monotonic()
    while len(done_at) < len(records):
        if bot.exited:
            raise RunBroke(f"the bot exited under load:\n{bot.tail()}")
        now = time.monotonic()
        if now > deadline:
            return True
        if now - last_report >= 10:
            print(f"  {len(done_at)}/{len(records)} answered", flush=True)
            last_report = now
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.1)  # the tracker's last round
    return False


def _observed(
    args: argparse.Namespace,
    discord: FakeDiscord,
    tap: TapProcess,
    bot: BotProcess,
    records: list[InteractionRecord],
    done_at: dict[int, float],
    *,
    started: float,
    last_sent: float,
    heartbeat_window: tuple[float, float],
    lags: list[tuple[float, float]],
    timed_out: bool,
    idle_rss: int,
    peak: int,
    cpu_seconds: float,
) -> SteadyObserved:
    exchanges, frames = tap.read()
    callbacks: dict[int, float] = {}
    segmind = 0
    for ex in exchanges:
        if ex.request is None:
            continue
        if match := _CALLBACK.match(ex.line):
            callbacks.setdefault(int(match[1]), ex.request[0])
        elif _GENERATE.match(ex.line):
            segmind += 1
    acks = [callbacks[rec.id] - rec.sent_at for rec in records if rec.id in callbacks]
    delivered = [rec for rec in records if rec.original is not None and rec.original.attachments]
    finished = [done_at[rec.id] for rec in delivered if rec.id in done_at]
    low, high = heartbeat_window
    beats = [t for t, op in frames if op == HEARTBEAT and low <= t <= high]
    asked: Counter[str] = Counter()
    for entry in discord.request_log:
        if entry["at"] < started:
            continue
        if entry.get("status") == 429:
            asked["rate-limited (429)"] += 1
        elif entry["path"].startswith("/interactions/"):
            asked["interaction callbacks"] += 1
        elif entry["method"] == "PATCH" and _EDIT.match(entry["path"]):
            asked["message edits"] += 1
        elif entry["method"] == "GET" and "/attachments/" in entry["path"]:
            asked["pose downloads"] += 1
        else:
            asked["other"] += 1
    lines = bot.lines()
    trouble = {word: sum(word in text for _, text in lines) for word in _TROUBLE}
    window = [text for t, text in lines if t >= started]
    return SteadyObserved(
        args={k: _plain(v) for k, v in vars(args).items()},
        machine=machine(args),
        sent=len(records),
        acked=len(acks),
        delivered=len(delivered),
        ack_latencies=acks,
        heartbeat_lags=_gaps(beats, args.heartbeat_ms / 1000),
        lag_buckets=lags,
        send_seconds=last_sent - started,
        last_delivery_after=(max(finished) - last_sent) if finished else None,
        timed_out=timed_out,
        idle_rss=idle_rss,
        peak_rss=peak,
        cpu_seconds=cpu_seconds,
        segmind_requests=segmind,
        discord_requests=dict(asked),
        trouble=trouble,
        warnings=[text for text in window if "WARNING" in text or "ERROR" in text],
        violations=list(discord.violations),
        not_delivered=[
            (rec.all_messages[-1].content or "")[:100] if rec.all_messages else "(nothing)"
            for rec in records
            if rec not in delivered
        ][:10],
    )


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | bool | list) else str(value)


def steady_figures(o: SteadyObserved) -> dict[str, float | None]:
    """The figures `bench.compare` sets side by side."""
    return {
        "ack_p50": percentile(o.ack_latencies, 0.5),
        "ack_p99": percentile(o.ack_latencies, 0.99),
        "lag_p99": percentile(o.heartbeat_lags, 0.99),
        "lag_max": max(o.heartbeat_lags, default=None),
        "lag_inside_p99": bucket_quantile(o.lag_buckets, 0.99),
        "idle_rss": float(o.idle_rss),
        "peak_rss": float(o.peak_rss),
        "cpu_per_job": o.cpu_seconds / o.sent if o.sent else None,
        "segmind_per_job": o.segmind_requests / o.delivered if o.delivered else None,
        "discord_per_job": sum(o.discord_requests.values()) / o.sent if o.sent else None,
        "edits_per_job": o.discord_requests.get("message edits", 0) / o.sent if o.sent else None,
        "delivered_share": o.delivered / o.sent if o.sent else None,
        "last_delivery_after": o.last_delivery_after if not o.timed_out else None,
        "stored_at_last": float(o.trouble.get("stored at last", 0)),
    }


def render_steady(o: SteadyObserved) -> str:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1000:.1f} ms"

    f = steady_figures(o)
    rate = o.args["rate"]
    within = f["last_delivery_after"]
    out = ["## Machine", ""]
    out += [f"- {name}: {value}" for name, value in o.machine]
    out += [
        "",
        f"## Steady load: {rate:g}/s for {o.args['seconds']:g} s, Segmind {o.args['delay']:g} s, "
        f"MAX_CONCURRENT_JOBS={o.args['concurrency']}",
        "",
        "| figure | measured |",
        "|---|---|",
        f"| requests sent | {o.sent} in {o.send_seconds:.1f} s ({o.sent / o.send_seconds:.1f}/s) |",
        f"| acknowledged | {o.acked}/{o.sent} |",
        f"| ack latency p50 / p99 | {ms(f['ack_p50'])} / {ms(f['ack_p99'])} |",
        f"| loop lag p99 / max, outside (heartbeat jitter) | {ms(f['lag_p99'])} / "
        f"{ms(f['lag_max'])} |",
        f"| loop lag p99, inside (lag monitor) | {ms(f['lag_inside_p99'])} |",
        f"| sheets delivered | {o.delivered}/{o.sent}{' (timed out)' * o.timed_out} |",
        "| last sheet delivered after the last request | "
        + ("n/a" if within is None else f"{within:.1f} s") + " |",
        f"| idle / peak RSS | {o.idle_rss / 1e6:.1f} / {o.peak_rss / 1e6:.1f} MB |",
        f"| bot CPU per job | {o.cpu_seconds / max(o.sent, 1):.4f} s |",
        f"| Segmind requests per delivered sheet | {f['segmind_per_job'] or 0:.2f} |",
        f"| Discord requests per job | {f['discord_per_job'] or 0:.2f} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(o.discord_requests.items()))}) |",
        f"| storage falling behind (log lines) | "
        f"{', '.join(f'{k!r}: {v}' for k, v in o.trouble.items())} |",
        f"| bot warnings/errors | {len(o.warnings)} |",
        f"| fake Discord rule violations | {len(o.violations)} |",
    ]  # fmt: skip
    if o.not_delivered:
        out += ["", "Not delivered (first 10), last message:", ""]
        out += [f"- {text}" for text in o.not_delivered]
    if o.warnings:
        out += ["", "Bot warnings (first 5):", ""] + [f"    {w[:200]}" for w in o.warnings[:5]]
    return "\n".join(out)
