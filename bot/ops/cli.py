"""The operator's commands: run the bot, draw one sheet, check the set-up, sync commands,
print the invite link."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import functools
import gc
import logging
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import yarl
from pydantic import ValidationError

from bot.discord.app import SheetBot
from bot.ops.metrics import Metrics
from bot.ops.redaction import install_secret_filter
from bot.ops.settings import (
    HELP,
    Settings,
    SettingsError,
    describe_problems,
    discord_token,
    load_settings,
    redis_password,
)
from bot.ops.state_commands import check_state, copy_state, usage, where
from bot.segmind import MAX_SEED, SegmindClient, SegmindError
from bot.sheets.imaging import PoseRejected, default_pose, normalize_pose
from bot.sheets.open_nsfw import ClassifierUnavailable, load_open_nsfw
from bot.sheets.request import SheetRequest, describe
from bot.sheets.safety import ClassifierWhenNeeded, SafetyMode, needs_classifier
from bot.sheets.words import parse_words
from bot.state.backend import Backend, open_backend
from bot.state.sqlite.store import StorageError

log = logging.getLogger(__name__)

BAD_TOKEN = (
    "Discord refused DISCORD_TOKEN. Copy a fresh token from "
    "https://discord.com/developers/applications (your application > Bot > Reset Token)."
)

COPY = "copy-to-redis"
NO_SHARED_STATE = (
    "A worker-only process shares the jobs of the gateway processes through Redis: set "
    "REDIS_URL (see docs/scaling.md), or use `python -m bot run` for a single process."
)

NO_CLASSIFIER = (
    "The bot cannot start: the content classifier could not be loaded: {}. A policy in force "
    "(SAFETY_MODE, or a server's /config safety mode) checks every sheet before anyone sees "
    "it, so the bot does not run without it (docs/safety.md; SAFETY_MODEL_PATH, if set, must "
    "name the open_nsfw ONNX file)."
)

# What each SEGMIND_API mode does, as `check` tells the operator.
API_MODES = {
    "auto": "async API (submit, then poll), blocking v1 if the model has no async endpoint",
    "v2": "async API only (submit, then poll)",
    "v1": "blocking v1 API only (one long request per sheet)",
}

# Close codes after which Discord will not take the session back, and what to do about each.
FATAL_CLOSES = {
    4004: "Discord rejected the token: reset it in the Developer Portal and update DISCORD_TOKEN.",
    4010: "Discord refused the bot's shard settings: check SHARD_COUNT and SHARD_IDS "
    "(the same SHARD_COUNT in every process).",
    4011: "Discord requires sharding: the bot is in too many servers for one connection. "
    "Set SHARD_COUNT (one shard per 1,000 servers or so), with REDIS_URL to spread the "
    "shards over several processes (docs/scaling.md).",
    4012: "Discord refused the gateway version: update the bot.",
    4013: "Discord refused the bot's gateway intents as invalid: update the bot.",
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, read the settings, run the command; return the exit code."""
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "invite":  # needs the Discord token only, and no network
        return invite()
    try:
        settings = load_settings(need_discord=command not in ("generate", "usage", COPY))
        parse_words(settings.blocked_words)  # the operator's words, checked as a server's are
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:
        print(describe_problems([("BLOCKED_WORDS", f"is not valid: {exc}")]), file=sys.stderr)
        return 2
    discord.utils.setup_logging(level=logging.getLevelNamesMapping()[settings.log_level])
    quiet_libraries()
    install_secret_filter(
        settings.segmind_api_key, settings.discord_token, redis_password(settings)
    )
    try:
        if command == "generate":
            return asyncio.run(generate(settings, args))
        if command == "check":
            return asyncio.run(check(settings))
        if command == "usage":
            return asyncio.run(usage(settings, args))
        if command == COPY:
            return asyncio.run(copy_state(settings))
        if command == "worker" and settings.redis_url is None:
            print(NO_SHARED_STATE, file=sys.stderr)
            return 2
        return asyncio.run(run(settings, sync_only=command == "sync", role=command))
    except KeyboardInterrupt:
        return 130


def quiet_libraries() -> None:
    """Keep libraries' DEBUG noise out of the bot's log: aiosqlite's repeats every SQL
    parameter (pose and sheet bytes, interaction tokens)."""
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (the default): its gateway shards and workers")
    sub.add_parser("worker", help="run workers only (no gateway); needs REDIS_URL")
    sub.add_parser(COPY, help="copy DATABASE_PATH's settings, ledger and history into REDIS_URL")
    sub.add_parser("check", help="check the settings, the Discord token and the Segmind key")
    sub.add_parser("sync", help="register the slash commands now, then exit")
    sub.add_parser("invite", help="print the link that adds the bot to a server")
    use = sub.add_parser("usage", help="print the ledger per day, server and member")
    use.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    use.add_argument("--guild", type=int, help="one server's id (default: every server)")
    use.add_argument("--csv", action="store_true", help="comma-separated, for a spreadsheet")
    gen = sub.add_parser("generate", help="draw one sheet without Discord")
    gen.add_argument("--pose", type=Path, help="a pose reference image (default: built-in sheet)")
    for name, field in SheetRequest.model_fields.items():
        # One flag per option of a sheet, as the slash command has.
        kind: type = str if name.endswith("prompt") else float
        kind = int if field.annotation in (int, int | None) else kind
        gen.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            required=field.is_required(),
            help=describe(name),
        )
    gen.add_argument("--out", type=Path, required=True, help="where to write the sheet")
    return parser


def point_discord_at(settings: Settings) -> None:
    """Send discord.py's REST and gateway traffic where the settings say (proxies, fakes)."""
    discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    # The bot never joins voice: spare the operator two alarming start-up warnings about it.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False


def _segmind(settings: Settings, http: aiohttp.ClientSession) -> SegmindClient:
    return SegmindClient(
        http,
        api_key=settings.segmind_api_key.get_secret_value(),
        base_url=settings.segmind_base_url,
        timeout=settings.segmind_timeout_seconds,
        api=settings.segmind_api,
    )


async def run(settings: Settings, *, sync_only: bool = False, role: str = "run") -> int:
    """Run the bot until SIGTERM/SIGINT, then finish running jobs and exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # What the imports made lives as long as the process: out of the collector's sight, a full
    # collection no longer walks its ~65,000 objects (a pause of tens of ms on the event loop,
    # every few seconds under load). Here, not in serve(): tests run serve() in their own loop.
    gc.collect()
    gc.freeze()
    return await serve(settings, stop, sync_only=sync_only, gateway=role != "worker")


async def serve(
    settings: Settings, stop: asyncio.Event, *, sync_only: bool = False, gateway: bool = True
) -> int:
    """Run the bot in this event loop until `stop` is set, then finish running jobs; the exit
    code. No signal handling here, so tests can run the bot in their own loop. Without the
    gateway (a worker), the bot only logs in: its workers deliver over REST."""
    point_discord_at(settings)
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    metrics = Metrics()
    if settings.metrics_port and not sync_only:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    try:
        async with aiohttp.ClientSession() as http, open_backend(settings) as backend:
            log.info("state kept in %s", where(settings))
            classifier = ClassifierWhenNeeded(
                functools.partial(load_open_nsfw, settings.safety_model_path)
            )
            if not await _classifier_ready(settings, backend, classifier):
                return 2
            bot = SheetBot(
                settings,
                backend=backend,
                segmind=_segmind(settings, http),
                http=http,
                metrics=metrics,
                classifier=classifier,
                sync_only=sync_only,
            )
            async with bot:
                if sync_only:
                    await bot.login(token)
                    return 0
                await _until_stopped(bot, token, stop, gateway=gateway)
    except StorageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print(BAD_TOKEN, file=sys.stderr)
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused an intent the bot asked for; the bot stopped.")
        return 2
    except discord.ConnectionClosed as exc:
        if exc.code not in FATAL_CLOSES:
            raise
        log.error("%s The bot stopped (gateway close code %d).", FATAL_CLOSES[exc.code], exc.code)
        return 2
    finally:
        metrics.close()
    return 0


async def _classifier_ready(
    settings: Settings, backend: Backend, classifier: ClassifierWhenNeeded
) -> bool:
    """Load the classifier now if a policy in force needs it: a model that cannot be loaded
    stops the bot here, before it answers anyone, and the first member waits for nothing. If
    none does, it is loaded when a server's mode first needs it (docs/safety.md)."""
    default = SafetyMode(settings.safety_mode)
    if not needs_classifier(default, await backend.store.safety_modes()):
        log.info(
            "content classifier not loaded: SAFETY_MODE=off and no server chose a mode that "
            "classifies; it is loaded when one does (/config safety mode)"
        )
        return True
    try:
        await classifier.get()
    except ClassifierUnavailable as exc:
        print(NO_CLASSIFIER.format(exc), file=sys.stderr)
        return False
    log.info(
        "content classifier ready: open_nsfw, flagging from %.2f; servers that chose no policy: %s",
        settings.safety_threshold,
        settings.safety_mode,
    )
    return True


async def _until_stopped(bot: SheetBot, token: str, stop: asyncio.Event, *, gateway: bool) -> None:
    if stop.is_set():  # stopped while starting up: nothing is running yet
        return
    if not gateway:
        await bot.login(token)  # starts the workers (setup_hook)
        await stop.wait()
        await bot.close()
        return
    running = asyncio.create_task(bot.start(token))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if stopping.done():
        await bot.close()
    else:
        stopping.cancel()
    await running


async def check(settings: Settings) -> int:
    """Check that both services accept the bot's credentials and the state can be opened;
    print the balance and where the state is kept."""
    point_discord_at(settings)
    assert settings.discord_token is not None
    ok = await check_state(settings)
    async with aiohttp.ClientSession() as http:
        try:
            balance = await _segmind(settings, http).credits()
            print(f"Segmind: key accepted, {balance.credits:,.2f} credits left", end="")
            print(f" (+ {balance.free_credits:,.4f} free)")
        except SegmindError as exc:
            print(f"Segmind: {exc}", file=sys.stderr)
            ok = False
    print(f"Segmind: {API_MODES[settings.segmind_api]} (SEGMIND_API={settings.segmind_api})")
    try:
        await asyncio.to_thread(load_open_nsfw, settings.safety_model_path)
        print(
            f"Content safety: the classifier loads; images flagged from SAFETY_THRESHOLD "
            f"{settings.safety_threshold}; servers that chose no policy: {settings.safety_mode}"
        )
    except ClassifierUnavailable as exc:
        print(f"Content safety: the classifier could not be loaded: {exc}", file=sys.stderr)
        ok = False
    client = discord.Client(intents=discord.Intents.none())
    try:
        async with client:
            await client.login(settings.discord_token.get_secret_value())
            print(f"Discord: token accepted, logged in as {client.user}")
    except discord.LoginFailure:
        print(BAD_TOKEN, file=sys.stderr)
        ok = False
    except (discord.HTTPException, aiohttp.ClientError) as exc:
        print(f"Discord: could not log in ({type(exc).__name__})", file=sys.stderr)
        ok = False
    return 0 if ok else 1


# Exactly the permissions the bot uses, and what for, as `invite` asks for and explains them.
INVITE_PERMISSIONS = {
    "view_channel": "see the channel /character is used in, to answer there",
    "send_messages": "send the sheet (to the channel when an interaction has expired)",
    "embed_links": "show the card under the sheet (seed, credits left)",
    "attach_files": "attach the sheet image",
    "read_message_history": "reply to and edit its own messages",
}


def invite() -> int:
    """Print the link that adds the bot to a server, then what each permission is for."""
    token = discord_token()
    if not token:
        print(f"DISCORD_TOKEN is missing — set it to {HELP['DISCORD_TOKEN']}.", file=sys.stderr)
        return 2
    client_id = application_id(token)
    if client_id is None:  # never echo the token: it may be a real one, mangled
        print(
            "DISCORD_TOKEN is not a bot token (its first part is not the bot's id): copy it "
            "again from https://discord.com/developers/applications (your application > Bot).",
            file=sys.stderr,
        )
        return 2
    permissions = discord.Permissions(**dict.fromkeys(INVITE_PERMISSIONS, True))
    print(
        f"https://discord.com/oauth2/authorize?client_id={client_id}"
        f"&scope=bot%20applications.commands&permissions={permissions.value}"
    )
    for name, purpose in INVITE_PERMISSIONS.items():
        label = name.replace("_", " ").title()  # "View Channel", as Discord names it
        print(f"  {label} ({discord.Permissions(**{name: True}).value}): {purpose}")
    return 0


def application_id(token: str) -> int | None:
    """The application id in a bot token, or None: a token's first part is the bot user's id
    in base64, and a bot user's id is its application's id."""
    first = token.split(".")[0]
    try:
        padded = first + "=" * (-len(first) % 4)
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not decoded.isdigit() or decoded.startswith("0"):
        return None
    snowflake = int(decoded)
    return snowflake if snowflake < 2**64 else None


async def generate(settings: Settings, args: argparse.Namespace) -> int:
    """Draw one sheet from the command line and write it to `--out`."""
    try:
        if args.pose:
            pose = await asyncio.to_thread(normalize_pose, args.pose.read_bytes())
        else:
            pose = await asyncio.to_thread(default_pose)
        given = {name: getattr(args, name) for name in SheetRequest.model_fields}
        request = SheetRequest(**{name: v for name, v in given.items() if v is not None})
        seed = secrets.randbelow(MAX_SEED + 1) if request.seed is None else request.seed
        body = request.with_seed(seed).for_segmind(pose.jpeg)
    except OSError as exc:
        print(f"error: cannot read the pose file: {exc.strerror}", file=sys.stderr)
        return 2
    except PoseRejected as exc:
        print(f"error: {exc.reason}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        fields = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors() if e["loc"])
        print(f"error: {fields}", file=sys.stderr)
        return 2
    try:  # before anything is paid for
        classifier = await asyncio.to_thread(load_open_nsfw, settings.safety_model_path)
    except ClassifierUnavailable as exc:
        print(f"error: the content classifier could not be loaded: {exc}", file=sys.stderr)
        return 2
    if args.pose:
        print(_judged("the pose", await asyncio.to_thread(classifier.score, pose.jpeg), settings))
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        try:
            async with _progress("Drawing with Segmind"):
                sheet = await _segmind(settings, http).draw(body)
        except SegmindError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(sheet.image)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    credits = "unknown" if sheet.credits_left is None else f"{sheet.credits_left:,.2f}"
    took = time.monotonic() - started
    print(f"wrote {args.out} (seed {sheet.seed}, credits left {credits}, took {took:.1f} s)")
    print(_judged("the sheet", await asyncio.to_thread(classifier.score, sheet.image), settings))
    return 0


def _judged(what: str, score: float, settings: Settings) -> str:
    """The content filter's call, as `generate` reports it: the file is the operator's own, so
    it is written either way; the bot would keep a flagged one out of ordinary channels."""
    line = f"content filter: {what} scores {score:.2f}"
    if score >= settings.safety_threshold:
        return (
            f"{line}, flagged as possibly explicit (SAFETY_THRESHOLD {settings.safety_threshold}):"
            " the bot would never post it in a channel that is not age-restricted"
        )
    return f"{line}, not flagged (SAFETY_THRESHOLD {settings.safety_threshold})"


@contextlib.asynccontextmanager
async def _progress(label: str) -> AsyncIterator[None]:
    """A ticking line while waiting, only when a person is watching a terminal."""
    if not sys.stdout.isatty():
        yield
        return
    started = time.monotonic()

    async def tick() -> None:
        frames = "|/-\\"
        for n in range(sys.maxsize):
            elapsed = time.monotonic() - started
            print(f"\r{label} {frames[n % 4]} {elapsed:4.0f} s", end="", flush=True)
            await asyncio.sleep(0.25)

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        print("\r" + " " * (len(label) + 10) + "\r", end="", flush=True)
