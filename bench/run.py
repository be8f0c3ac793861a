"""The burst benchmark: the real bot process, N simultaneous /character requests, one report.

Processes, all on 127.0.0.1:

    this one: fake Discord (REST, gateway, CDN) + fake Segmind + the measuring
    bench.tap: relays every byte between the bot and the fakes and notes when each passed
    python -m bot: the bot, unmodified; its log goes through bench.stamp (millisecond stamps)

See docs/performance.md for what each number means and how it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.fakes import QuickSegmind, callbacks_arrived, message_edits
from bench.photo import SIZE, cached_phone_photo
from bench.probes import (
    LoopWatch,
    ProcessWatch,
    bucket_delta,
    histogram,
    scrape,
    sum_and_count,
    value,
)
from bench.processes import REPO, BotProcess, Exchange, RunBroke, TapProcess
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.harness import free_port

FIRST_USER = 300_000_000_000_000_000
LAG_METRIC = "sheetbot_event_loop_lag_seconds"
CLASSIFY_METRIC = "sheetbot_classify_seconds"
FLAGGED_METRIC = "sheetbot_flagged_images_total"
HEARTBEAT = 1  # gateway opcode

_JOB_LINE = re.compile(r"job (\d+) (\w+): user=(\d+)")
_DONE_LINE = re.compile(r"job \d+ done: user=")
_STALL_LINE = re.compile(r"event loop stalled for (\d+) ms")
_CALLBACK = re.compile(r"^POST /api/v10/interactions/(\d+)/[^/ ]+/callback")
_EDIT = re.compile(r"^PATCH /api/v10/webhooks/\d+/([^/ ]+)/messages/(?:@original|\d+)")
_CDN = re.compile(r"^GET /cdn/attachments/\d+/(\d+)/")
_GENERATE = re.compile(r"^POST /v1/consistent-character")


# Command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Burst benchmark: N simultaneous /character requests with phone-photo poses, "
        "against the real bot process and the wire-level fakes. Prints a Markdown report.",
    )
    parser.add_argument("--n", type=int, default=200, help="requests, one per member (200)")
    parser.add_argument(
        "--delay", type=float, default=2.0, help="seconds the fake Segmind takes per sheet (2)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="the bot's MAX_CONCURRENT_JOBS (8)"
    )
    parser.add_argument(
        "--heartbeat-ms",
        type=int,
        default=100,
        help="gateway heartbeat interval the fake asks for; its jitter is the outside lag (100)",
    )
    parser.add_argument(
        "--idle", type=float, default=3.0, help="seconds the bot idles before the burst (3)"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="give up on the burst after this many seconds"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the bot process (repeatable), e.g. MALLOC_ARENA_MAX=2",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="steady mode: interactions per second, Poisson arrivals (half without a pose, "
        "half with a 512-px PNG) instead of a burst of phone photos",
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="steady mode: how long to send (60)"
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=120.0,
        help="steady mode: seconds after the last request to wait for the sheets (120)",
    )
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument(
        "--naive", action="store_true", help="run bench/naive.py, the newcomer's bot, instead"
    )
    variant.add_argument(
        "--bot-dir",
        type=Path,
        help="run the bot of this checkout (e.g. a git worktree of an older commit) instead",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample the bot with py-spy (pip install py-spy) from the start of the load to "
        "the end, into this file (collapsed stacks: one line per stack, with its sample count)",
    )
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--keep-log", type=Path, help="copy the bot's time-stamped log here")
    args = parser.parse_args(argv)
    if args.n < 1 or args.delay < 0 or not 1 <= args.concurrency <= 64:
        parser.error("need --n >= 1, --delay >= 0 and 1 <= --concurrency <= 64")
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    if args.heartbeat_ms < 20:
        parser.error("--heartbeat-ms must be at least 20")
    if args.rate is not None and (args.rate <= 0 or args.seconds <= 0):
        parser.error("need --rate > 0 and --seconds > 0")
    if args.timeout is None:
        rounds = math.ceil(args.n / args.concurrency)
        args.timeout = 120 + 3 * rounds * (args.delay + 0.5)
    return args


# The machine -----------------------------------------------------------------------------


def machine(args: argparse.Namespace | None = None) -> list[tuple[str, str]]:
    """What the numbers were measured on (and, with `args`, which bot)."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0))
    quota = "none"
    with contextlib.suppress(OSError, ValueError):
        limit, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        quota = "none" if limit == "max" else f"{int(limit) / int(period):g} CPUs"
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 2**20:.1f} GiB"
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("discord.py", "aiohttp", "pillow")
    )
    bot = _bot_version()
    if args is not None and args.naive:
        bot = "bench/naive.py (the newcomer's bot) of " + bot
    elif args is not None and args.bot_dir is not None:
        bot = _bot_version(args.bot_dir) + f" (from {args.bot_dir})"
    load = "unknown"
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return [
        ("Bot", bot),
        ("Load average (1, 5, 15 min) at the start", load),
        ("CPU", f"{model}, {cores} cores ({usable} usable, cgroup quota {quota})"),
        ("Memory", memory),
        ("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Libraries", versions),
    ]


def _bot_version(where: Path = REPO) -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return "commit " + done.stdout.strip().replace("-dirty", " with uncommitted changes")


# One member's request, from the outside --------------------------------------------------


@dataclass
class Job:
    """Everything observed about one member's request. Times are time.monotonic().

    "tap" times are when bytes crossed the wire tap, "log" times when the bot wrote a log
    line, "fake" times when the fake's (busy) event loop got round to a request.
    """

    index: int
    user_id: int
    seed: int
    attachment_id: int
    sent: float = math.nan  # fake: INTERACTION_CREATE written to the gateway
    acked: float = math.nan  # tap: the callback's first byte
    acked_fake: float = math.nan  # fake: the callback's handler started
    ack_type: int | None = None
    download: float = math.nan  # tap: the pose's CDN GET
    downloaded: float = math.nan  # tap: the pose's last byte went to the bot
    queued_log: float = math.nan  # log: "job N queued" (stored and in the queue)
    sending_log: float = math.nan  # log: "job N sending" (a worker took it, state stored)
    done_log: float = math.nan  # log: "job N done" (delivered, state stored)
    queued_edit: float = math.nan  # tap: the "Queued ..." placeholder edit's first byte
    drawing_edit: float = math.nan  # tap: the "Drawing ..." edit's first byte
    segmind_sent: float = math.nan  # tap: the generate request's last byte
    segmind_answer: float = math.nan  # tap: the answer's first byte
    segmind_bytes: int | None = None  # tap: request line + headers + body
    upload: float = math.nan  # tap: the last byte of the edit that carries the sheet
    upload_bytes: int | None = None  # fake: size of the sheet file in that edit
    job_id: int | None = None
    delivered: bool = False
    outcome: str = "pending"

    @property
    def ack_latency(self) -> float:
        return self.acked - self.sent

    @property
    def ack_latency_fake(self) -> float:
        return self.acked_fake - self.sent

    @property
    def intake(self) -> float:
        """Download start -> stored and queued: fetch, normalise, DB insert."""
        return self.queued_log - self.download

    @property
    def dispatch(self) -> float:
        """Worker took the job -> Segmind has the request: placeholder edit, encode, send."""
        return self.segmind_sent - self.sending_log

    @property
    def delivery(self) -> float:
        """Segmind starts answering -> Discord has the sheet: read, fit, embed, upload."""
        return self.upload - self.segmind_answer

    @property
    def own_time(self) -> float:
        return self.intake + self.dispatch + self.delivery

    @property
    def own_time_tap_only(self) -> float:
        """Nearly the same spans, from wire times alone (a cross-check of the log stamps)."""
        return (
            (self.queued_edit - self.download)
            + (self.segmind_sent - self.drawing_edit)
            + (self.upload - self.segmind_answer)
        )

    @property
    def queue_wait(self) -> float:
        return self.sending_log - self.queued_log

    @property
    def segmind_time(self) -> float:
        return self.segmind_answer - self.segmind_sent


def settled(rec: InteractionRecord) -> bool:
    """The member has a final answer: the sheet, or words saying why not."""
    original = rec.original
    if rec.ack_type == 4:
        return True  # refused at once
    if "delete_original" in rec.events and any(m.ephemeral for m in rec.followups):
        return True  # refused after the "thinking" message
    if original is None:
        return False
    return bool(original.attachments) or "cooldown was reset" in original.content


# The run ---------------------------------------------------------------------------------


@dataclass
class Observed:
    """Raw results of one run."""

    args: dict[str, Any]
    machine: list[tuple[str, str]]
    photo_bytes: int
    jobs: list[Job]
    burst_spread: float  # first to last interaction sent
    burst_seconds: float  # first sent to last settled
    timed_out: bool
    idle_rss: int
    peak_rss_polled: int
    peak_rss_hwm: int
    rss_after: int
    rss_timeline: list[tuple[float, int]]  # (seconds into the burst, bytes), every ~0.25 s
    cpu_seconds: float
    heartbeat_lags: list[float]  # tap
    heartbeat_lags_fake: list[float]  # as the fake's loop saw the heartbeats
    lag_buckets: list[tuple[float, float]]
    stalls_ms: list[float]
    warnings: list[str]
    harness_lags: list[float]
    harness_cpu: float
    tap_cpu: float
    violations: list[str]
    exit_code: int | None
    # The content classifier's own time per image, by kind (sheet, pose): the bot's histogram
    # (cumulative buckets), its sum and count; and how many images it flagged.
    classify: dict[str, tuple[list[tuple[float, float]], float, float]]
    flagged: dict[str, float]
    segmind_requests: int = 0  # generate requests that crossed the tap
    message_edits: int = 0  # PATCHes of the members' messages that crossed the tap


async def run(args: argparse.Namespace) -> Any:
    """One run: an `Observed` burst, or a `bench.steady.SteadyObserved`."""
    print(f"Drawing a {SIZE[0]}x{SIZE[1]} phone photo (or reading the last one) ...", flush=True)
    photo = await asyncio.to_thread(cached_phone_photo)
    with tempfile.TemporaryDirectory(prefix="sheetbot-bench-") as scratch:
        try:
            return await _run_in(Path(scratch), args, photo)
        finally:
            log = Path(scratch) / "bot.log"
            if args.keep_log is not None and log.exists():
                args.keep_log.write_bytes(log.read_bytes())


async def _run_in(scratch: Path, args: argparse.Namespace, photo: bytes) -> Any:
    n = args.n if args.rate is None else math.ceil(args.rate * args.seconds * 1.5) + 50
    cost = 0.129
    discord = FakeDiscord(heartbeat_interval_ms=args.heartbeat_ms)
    segmind = QuickSegmind(delay=args.delay, cost=cost, credits=cost * n + 100)
    async with discord, segmind:
        assert discord.port is not None
        tap = TapProcess(scratch / "tap.jsonl")
        await tap.start(discord.port, int(segmind.url.rsplit(":", 1)[1]))
        metrics_port = free_port()
        bot = BotProcess(
            scratch,
            {
                "DISCORD_TOKEN": discord.token,
                "DISCORD_API_BASE": tap.url("rest") + "/api/v10",
                "DISCORD_GATEWAY_URL": tap.url("gateway", "ws") + "/gateway",
                "SEGMIND_API_KEY": segmind.api_key,
                "SEGMIND_BASE_URL": tap.url("segmind"),
                "DATABASE_PATH": str(scratch / "bot.sqlite3"),
                "COOLDOWN_SECONDS": "0",
                "MAX_QUEUE": str(n + 10),
                "MAX_JOBS_PER_USER": "1",
                "MAX_CONCURRENT_JOBS": str(args.concurrency),
                "METRICS_PORT": str(metrics_port),
                "LOG_LEVEL": "INFO",
                # The burst measures the bot, not Segmind's plan: blocking API, no pacing.
                "SEGMIND_API": "v1",
                "SEGMIND_RPM": "10000",
                **dict(item.split("=", 1) for item in args.env),
            },
            module="bench.naive" if args.naive else "bot",
            code=REPO if args.bot_dir is None or args.naive else args.bot_dir,
        )
        try:
            await bot.start()
            print(f"Starting the bot (pid {bot.pid}) ...", flush=True)
            # Discord sends interactions once the session is READY, before discord.py's on_ready
            # (which waits 2 s for more servers): so does the benchmark, after --idle.
            await bot.wait_for(lambda: discord.ready_count > 0, "the bot's gateway session", 60)
            await discord.wait_ready(timeout=30)
            if discord.find_command("character") is None:
                raise RunBroke("the bot did not register /character")
            async with profiled(bot.pid, args.profile):
                if args.rate is not None:
                    from bench.steady import steady  # steady imports this module

                    return await steady(args, discord, tap, bot, metrics_port)
                return await _burst(args, discord, tap, bot, photo, metrics_port)
        except AssertionError as exc:  # the fakes' way of saying something is off
            raise RunBroke(f"{exc}\n{bot.tail()}") from exc
        finally:
            await bot.stop()
            await tap.stop()


async def _burst(
    args: argparse.Namespace,
    discord: FakeDiscord,
    tap: TapProcess,
    bot: BotProcess,
    photo: bytes,
    metrics_port: int,
) -> Observed:
    n = args.n
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    watch = ProcessWatch(bot.pid)
    await asyncio.sleep(args.idle)
    idle_rss = watch.rss()
    lag_before = await lag_histogram(args, metrics_url)

    jobs: list[Job] = []
    attachments: list[dict[str, Any]] = []
    for index in range(n):
        # The same bytes for everyone, each under its own attachment id, fetched through the tap.
        attachment = discord.host_attachment(
            photo, f"IMG_{index + 1:04d}.JPG", "image/jpeg", width=SIZE[0], height=SIZE[1]
        )
        for key in ("url", "proxy_url"):
            attachment[key] = attachment[key].replace(discord.base_url, tap.url("rest"), 1)
        attachments.append(attachment)
        jobs.append(Job(index, FIRST_USER + index, index + 1, int(attachment["id"])))

    print(f"Firing {n} /character requests (Segmind answers after {args.delay:g}s) ...", flush=True)
    harness = LoopWatch()
    pollers = [asyncio.create_task(watch.poll()), asyncio.create_task(harness.run())]
    harness_cpu = _own_cpu()
    tap_watch = ProcessWatch(tap.pid)
    tap_cpu = tap_watch.cpu_seconds()
    cpu_start = watch.cpu_seconds()
    started = time.monotonic()
    records: list[InteractionRecord] = []
    timed_out = False
    try:
        for job, attachment in zip(jobs, attachments, strict=True):
            # Each invoke returns once its INTERACTION_CREATE is written: all go out at once.
            records.append(
                await discord.invoke(
                    "character",
                    {"prompt": f"a knight in silver armour, take {job.index}", "seed": job.seed},
                    user_id=job.user_id,
                    attachments={"pose": attachment},
                )
            )
        timed_out = await _until_settled(bot, records, started + args.timeout)
        finished = time.monotonic()
        cpu_seconds = watch.cpu_seconds() - cpu_start
        harness_cpu = _own_cpu() - harness_cpu
        tap_cpu = tap_watch.cpu_seconds() - tap_cpu
        page = "" if args.naive else await scrape(metrics_url)  # the naive bot has no metrics
        lag_after = histogram(page, LAG_METRIC)
        classify = {
            kind: (
                histogram(page, CLASSIFY_METRIC, f'kind="{kind}"'),
                *sum_and_count(page, CLASSIFY_METRIC, f'kind="{kind}"'),
            )
            for kind in ("sheet", "pose")
        }
        flagged = {
            kind: value(page, FLAGGED_METRIC, f'kind="{kind}"') for kind in ("sheet", "pose")
        }
        peak_hwm = watch.high_water()
        delivered = sum(bool(rec.original and rec.original.attachments) for rec in records)
        if not args.naive:
            await bot.wait_for(  # "done" is logged after the result is stored
                lambda: len(_DONE_LINE.findall(bot.text())) >= delivered,
                "the jobs' last line",
                30,
            )
        rss_after = watch.rss()
    finally:
        for poller in pollers:
            poller.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
    exit_code = await bot.stop()
    await tap.stop()

    exchanges, frames = tap.read()
    lines = bot.lines()
    _fill_from_fakes(jobs, records, discord)
    _fill_from_tap(jobs, records, discord, exchanges)
    _fill_from_log(jobs, lines)
    window = [(t, text) for t, text in lines if started <= t <= finished]
    interval = args.heartbeat_ms / 1000
    beats = [t for t, op in frames if op == HEARTBEAT and started <= t <= finished]
    beats_fake = [t for t in discord.heartbeat_log if started <= t <= finished]
    return Observed(
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        machine=machine(args),
        photo_bytes=len(photo),
        jobs=jobs,
        burst_spread=records[-1].sent_at - records[0].sent_at,
        burst_seconds=finished - started,
        timed_out=timed_out,
        idle_rss=idle_rss,
        peak_rss_polled=max((rss for _, rss in watch.samples), default=0),
        peak_rss_hwm=peak_hwm,
        rss_after=rss_after,
        rss_timeline=[(round(t - started, 2), rss) for t, rss in watch.samples[::12]],
        cpu_seconds=cpu_seconds,
        heartbeat_lags=_gaps(beats, interval),
        heartbeat_lags_fake=_gaps(beats_fake, interval),
        lag_buckets=bucket_delta(lag_after, lag_before),
        stalls_ms=[float(m[1]) for _, text in window if (m := _STALL_LINE.search(text))],
        warnings=[text for _, text in window if "WARNING" in text or "ERROR" in text],
        harness_lags=harness.lags,
        harness_cpu=harness_cpu,
        tap_cpu=tap_cpu,
        violations=list(discord.violations),
        exit_code=exit_code,
        classify=classify,
        flagged=flagged,
        segmind_requests=sum(1 for ex in exchanges if _GENERATE.match(ex.line)),
        message_edits=sum(1 for ex in exchanges if _EDIT.match(ex.line)),
    )


@contextlib.asynccontextmanager
async def profiled(pid: int, path: Path | None) -> AsyncIterator[None]:
    """py-spy samples the process while the block runs (nothing if `path` is None)."""
    if path is None:
        yield
        return
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        *("record", "--pid", str(pid), "--format", "raw", "--rate", "200"),
        *("--nonblocking", "--threads", "--output", str(path)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        await asyncio.wait_for(spy.wait(), 30)


async def lag_histogram(args: argparse.Namespace, url: str) -> list[tuple[float, float]]:
    """The bot's own lag histogram (the naive bot has none)."""
    if args.naive:
        return []
    return histogram(await scrape(url), LAG_METRIC)


async def _until_settled(
    bot: BotProcess, records: list[InteractionRecord], deadline: float
) -> bool:
    """Wait until every member has an answer; True if the deadline came first."""
    started = time.monotonic()
    last_report = started
    while not all(settled(rec) for rec in records):
        if bot.exited:
            raise RunBroke(f"the bot exited during the burst:\n{bot.tail()}")
        now = time.monotonic()
        if now > deadline:
            return True
        if now - last_report >= 10:
            done = sum(settled(rec) for rec in records)
            print(f"  {now - started:5.0f} s: {done}/{len(records)} answered", flush=True)
            last_report = now
        await asyncio.sleep(0.05)
    return False


def _gaps(beats: list[float], interval: float) -> list[float]:
    """Each heartbeat is sent `interval` after the previous one went out, when the loop lets it."""
    return [max(0.0, later - earlier - interval) for earlier, later in itertools.pairwise(beats)]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fill_from_fakes(
    jobs: list[Job], records: list[InteractionRecord], discord: FakeDiscord
) -> None:
    arrived = callbacks_arrived(discord)
    for job, rec in zip(jobs, records, strict=True):
        job.sent = rec.sent_at
        job.acked_fake = arrived.get(rec.id, math.nan)
        job.ack_type = rec.ack_type
        job.delivered = rec.original is not None and bool(rec.original.attachments)
        if job.delivered:
            job.outcome = "delivered"
        elif settled(rec):
            said = [m.content for m in rec.all_messages if m.content]
            job.outcome = "not drawn: " + (said[-1][:120] if said else "(no message)")
        else:
            job.outcome = f"unfinished ({', '.join(rec.events[-3:])})"


def _fill_from_tap(
    jobs: list[Job],
    records: list[InteractionRecord],
    discord: FakeDiscord,
    exchanges: list[Exchange],
) -> None:
    callbacks: dict[int, float] = {}
    downloads: dict[int, tuple[float, float]] = {}
    edits: dict[str, list[Exchange]] = {}
    generates: dict[int, Exchange] = {}
    seen_edits = message_edits(discord)
    for ex in exchanges:
        if ex.request is None:
            continue
        if match := _CALLBACK.match(ex.line):
            callbacks.setdefault(int(match[1]), ex.request[0])
        elif match := _CDN.match(ex.line):
            downloads.setdefault(int(match[1]), (ex.request[0], ex.response[1]))
        elif match := _EDIT.match(ex.line):
            edits.setdefault(match[1], []).append(ex)
        elif _GENERATE.match(ex.line) and ex.seed is not None:
            generates[int(ex.seed)] = ex
    for job, rec in zip(jobs, records, strict=True):
        job.acked = callbacks.get(rec.id, math.nan)
        job.download, job.downloaded = downloads.get(job.attachment_id, (math.nan, math.nan))
        # One member's edits go out one after another (one webhook token, one rate-limit
        # bucket), so the n-th edit on the wire is the n-th edit the fake handled.
        wire = sorted(edits.get(rec.token, []), key=lambda ex: ex.request[0] if ex.request else 0)
        for seen, ex in zip(seen_edits.get(rec.token, []), wire, strict=False):
            assert ex.request is not None
            text = seen.content or ""
            if text.startswith("Queued") and math.isnan(job.queued_edit):
                job.queued_edit = ex.request[0]
            elif text.startswith("Drawing") and math.isnan(job.drawing_edit):
                job.drawing_edit = ex.request[0]
            if seen.files and math.isnan(job.upload):
                job.upload, job.upload_bytes = ex.request[1], seen.upload_bytes
        generate = generates.get(job.seed)
        if generate is not None and generate.request is not None:
            job.segmind_sent = generate.request[1]
            job.segmind_answer = generate.response[0]
            job.segmind_bytes = generate.request_bytes


def _fill_from_log(jobs: list[Job], lines: list[tuple[float, str]]) -> None:
    by_user = {job.user_id: job for job in jobs}
    for stamp, text in lines:
        match = _JOB_LINE.search(text)
        job = by_user.get(int(match[3])) if match else None
        if match is None or job is None:
            continue
        job.job_id = int(match[1])
        if match[2] == "queued":
            job.queued_log = stamp
        elif match[2] == "sending":
            job.sending_log = stamp
        elif match[2] == "done":
            job.done_log = stamp
