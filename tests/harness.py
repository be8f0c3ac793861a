"""Ways to run the real bot against the wire-level fakes, for the tests and the benchmark.

Two tiers. `BotInLoop` runs the bot (`bot.ops.cli.serve`) in the test's own event loop: it starts in
a fraction of a second and most behaviour tests use it. `BotProcess` runs the bot as its own
process (what `python -m bot` runs, forked from a process that imported it: `forked_bot.py`), for
what only a process can show: SIGKILL, SIGSTOP, real signals, exit codes. Both have the
same surface (start, logs, wait_for_log, signal, wait, kill), so a test changes tier by fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import tempfile
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol, TypeVar

import discord
import redis
import yarl
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.ops.cli import main, quiet_libraries, serve
from bot.ops.redaction import SecretFilter
from bot.ops.settings import Settings, redis_password
from bot.state.redis.store import PREFIX
from tests import forked_bot
from tests.fake_discord import FakeDiscord
from tests.fake_segmind import FakeSegmind

T = TypeVar("T")

# Prefixes of the bot's settings: a bot under test sees only the ones a test gives it.
SETTING_PREFIXES = (
    "DISCORD_",
    "SEGMIND_",
    "DATABASE_",
    "COOLDOWN_",
    "MAX_",
    "LOG_",
    "METRICS_",
    "REDIS_",
    "SHARD_",
    "JOB_",
)


def clean_env(**settings: str) -> dict[str, str]:
    """The environment for a bot process: this one's, minus any bot settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(settings)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Finished:
    code: int
    out: str
    err: str


CLI_TIMEOUT = 60  # seconds a CLI command may take


async def run_cli(*args: str, cwd: Path, **settings: str) -> Finished:
    """`python -m bot ARGS` run to the end in `cwd` (where a `.env` would be read), as a process
    forked from one that imported the bot (`forked_bot.py`): its `main`, stdout, stderr and exit
    code, without the interpreter's start. `run_entry_point` starts the real thing."""
    with tempfile.TemporaryDirectory() as streams:
        out, err = Path(streams, "out"), Path(streams, "err")
        process = await asyncio.to_thread(
            forked_bot.start, list(args), cwd, clean_env(**settings), out, err
        )
        async with asyncio.timeout(CLI_TIMEOUT):
            while process.exitcode is None:
                await asyncio.sleep(0.02)
        printed, complained = [await asyncio.to_thread(path.read_text) for path in (out, err)]
        return Finished(process.exitcode, printed, complained)


async def run_entry_point(*args: str, cwd: Path, **settings: str) -> Finished:
    """Run `python -m bot ARGS` itself to the end in `cwd`: a new interpreter, as operators do."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=clean_env(**settings),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


def refused_settings(*args: str, cwd: Path, **settings: str) -> Finished:
    """`python -m bot ARGS` run in this process, for settings the entry point refuses before it
    opens anything: the same code as a process (`bot.ops.cli.main`), without paying for one.
    Settings it would accept fail the test (the command would start a second event loop)."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(clean_env(**settings))
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return Finished(code, out.getvalue(), err.getvalue())


class RunningBot(Protocol):
    """What a test can do with a bot it started, whichever tier runs it."""

    @property
    def logs(self) -> str: ...

    async def start(self) -> None: ...

    def check_alive(self) -> None: ...

    async def wait_for_log(self, text: str, timeout: float = 20) -> None: ...

    async def signal(self, sig: int) -> None: ...

    async def wait(self, timeout: float = 30) -> int: ...

    async def kill(self) -> None: ...


async def _wait_for_text(bot: RunningBot, text: str, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while text not in bot.logs:
        bot.check_alive()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {text!r} in the bot's log:\n{bot.logs}")
        await asyncio.sleep(0.02)


# --- the process tier ---------------------------------------------------------------------------


class BotProcess:
    """The unmodified bot as its own process, pointed at the fakes: `bot.ops.cli.main`, what
    `python -m bot` runs, in a process forked from one that imported it (`tests/forked_bot.py`)."""

    def __init__(self, cwd: Path, settings: dict[str, str], command: str = "run") -> None:
        self.cwd = cwd
        self.settings = settings
        self.command = command
        self.log_path = cwd / f"bot-{id(self)}.log"
        self.process: BaseProcess | None = None

    async def start(self) -> None:
        self.log_path.write_bytes(b"")
        self.process = await asyncio.to_thread(
            forked_bot.start, [self.command], self.cwd, clean_env(**self.settings), self.log_path
        )

    @property
    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (minus the signal's number if one ended it)."""
        return None if self.process is None else self.process.exitcode

    def check_alive(self) -> None:
        """Raise, with the log, if the bot has exited."""
        if self.returncode is not None:
            raise AssertionError(f"bot exited ({self.returncode}):\n{self.logs}")

    async def wait_for_log(self, text: str, timeout: float = 20) -> None:
        await _wait_for_text(self, text, timeout)

    async def signal(self, sig: int) -> None:
        assert self.process is not None and self.process.pid is not None
        os.kill(self.process.pid, sig)

    async def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout):
            while (code := self.returncode) is None:
                await asyncio.sleep(0.02)
        return code

    async def kill(self) -> None:
        """SIGKILL: the bot gets no chance to clean up."""
        if self.process is not None and self.returncode is None:
            self.process.kill()
            await self.wait()


# --- the in-loop tier ---------------------------------------------------------------------------

# Set while a BotInLoop starts its bot; every task the bot creates inherits it (tasks copy their
# creator's context), which is how the bot's tasks are told from the test's and the fakes'.
_owner: contextvars.ContextVar[BotInLoop | None] = contextvars.ContextVar("owner", default=None)


class _GivenSettings(Settings):
    """Only the settings a test gives: nothing from the environment or a `.env` file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def given_settings(settings: dict[str, str]) -> Settings:
    """`Settings` from environment-style names and values, as `python -m bot` would read them."""
    values: dict[str, Any] = {name.lower(): value for name, value in settings.items()}
    return _GivenSettings(**values)


class _Lines(logging.Handler):
    """Keeps each record as the line `python -m bot` would have written for it."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@asynccontextmanager
async def _discord_globals_restored() -> AsyncIterator[None]:
    # `point_discord_at` aims discord.py's class-level URLs at the fakes; put them back after.
    route, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    warn_nacl, warn_dave = discord.VoiceClient.warn_nacl, discord.VoiceClient.warn_dave
    try:
        yield
    finally:
        discord.http.Route.BASE = route
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
        discord.VoiceClient.warn_nacl, discord.VoiceClient.warn_dave = warn_nacl, warn_dave


class BotInLoop:
    """The real bot (`bot.ops.cli.serve`) in the test's own event loop, pointed at the fakes.

    SIGTERM/SIGINT set the stop event `python -m bot` sets on those signals. `kill` cancels
    every task the bot started: abrupt, but cancellation still runs the bot's `finally` blocks,
    so a crash (nothing more runs, not even cleanup) needs `BotProcess`.
    """

    def __init__(self, cwd: Path, settings: dict[str, str], command: str = "run") -> None:
        self.cwd = cwd
        self.settings = settings
        self.gateway = command != "worker"
        self.config = given_settings(settings)
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[int] | None = None
        self._lines = _Lines(logging.getLevelNamesMapping()[self.config.log_level])
        secrets = [self.config.segmind_api_key, self.config.discord_token]
        self._lines.addFilter(SecretFilter([*secrets, redis_password(self.config)]))

    async def start(self) -> None:
        _track_tasks(asyncio.get_running_loop())
        token = _owner.set(self)
        try:
            self._task = asyncio.create_task(self._serve(), name=f"bot in loop {id(self)}")
        finally:
            _owner.reset(token)

    async def _serve(self) -> int:
        # What `main` sets up for `python -m bot`: the log (at LOG_LEVEL, secrets redacted).
        root = logging.getLogger()
        level = root.level
        root.addHandler(self._lines)
        root.setLevel(self._lines.level)
        quiet_libraries()
        try:
            async with _discord_globals_restored():
                return await serve(self.config, self._stop, gateway=self.gateway)
        finally:
            root.removeHandler(self._lines)
            root.setLevel(level)

    @property
    def logs(self) -> str:
        return "\n".join(self._lines.lines)

    def check_alive(self) -> None:
        """Raise, with the log, if the bot has stopped."""
        assert self._task is not None
        if self._task.done():
            outcome: object = "cancelled" if self._task.cancelled() else self._task.exception()
            outcome = outcome or self._task.result()
            raise AssertionError(f"bot exited ({outcome!r}):\n{self.logs}")

    async def wait_for_log(self, text: str, timeout: float = 20) -> None:
        await _wait_for_text(self, text, timeout)

    async def signal(self, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT):
            self._stop.set()
        elif sig == signal.SIGKILL:
            await self.kill()
        else:
            raise ValueError(f"a bot in the test's loop cannot get signal {sig}")

    async def wait(self, timeout: float = 30) -> int:
        """The exit code `python -m bot` would have had, once the bot stops by itself."""
        assert self._task is not None
        code = await asyncio.wait_for(asyncio.shield(self._task), timeout)
        await self._cancel_leftovers()  # a process's exit would end them
        return code

    async def kill(self) -> None:
        """Cancel every task the bot started (its own and discord.py's)."""
        await self._cancel_leftovers()

    async def _cancel_leftovers(self) -> None:
        # The bot's other tasks first: the main task closes the client, after which discord.py
        # fails to start the tasks its cancelled ones still dispatch. They are cancelled again
        # until they end: a task being cancelled may start new ones, and on Python 3.11
        # `asyncio.wait_for` can swallow a cancellation (discord.py's ready timer does).
        # The main task is never cancelled: it is told to stop, and then ends by itself. It may
        # already be closing (its gateway task was cancelled), and a cancellation would cut
        # that short: an aiosqlite query or an aiohttp connector left for a closed loop.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        left_to_itself = False
        while pending := [task for task in self.tasks if not task.done()]:
            if loop.time() > deadline:
                raise AssertionError(f"bot tasks ignored cancellation: {pending}")
            main_running = self._task is not None and not self._task.done()
            if not left_to_itself or not main_running:
                others = [task for task in pending if task is not self._task and not _closing(task)]
                for task in others:
                    task.cancel()
                if not others and main_running:
                    self._stop.set()  # from here its own cleanup runs, uncancelled
                    left_to_itself = True
            done, _ = await asyncio.wait(pending, timeout=0.05)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: a failure while cancelling is not news here


def _closing(task: asyncio.Task[Any]) -> bool:
    """Is this discord.py closing the client (`Client.close` runs it as a task of its own)? It
    is the main task's cleanup: cut short, the client's HTTP session stays open (aiohttp's
    "Unclosed connector", seen in a full run under load)."""
    coro = task.get_coro()
    # The bot is an AutoShardedBot: its client closes in AutoShardedClient's own `_close`
    # (the plain Client's alone was spared, so a kill under load still cut the sharded one).
    return getattr(coro, "__qualname__", "") in (
        "Client.close.<locals>._close",
        "AutoShardedClient.close.<locals>._close",
    )


def _track_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Note each task created while a `BotInLoop` owns the context in that bot's `tasks`."""
    if getattr(loop.get_task_factory(), "tracks_bot_tasks", False):
        return
    previous = loop.get_task_factory()

    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
        /,
        **kwargs: Any,
    ) -> asyncio.Future[T]:
        if previous is not None:
            task = previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        owner = _owner.get()
        if owner is not None and isinstance(task, asyncio.Task):
            owner.tasks.add(task)
        return task

    factory.tracks_bot_tasks = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)


# --- the harness --------------------------------------------------------------------------------

BotRunner = Callable[[Path, dict[str, str], str], RunningBot]


class Harness:
    """Both fakes and a way to start (and restart) the real bot against them."""

    def __init__(
        self,
        cwd: Path,
        discord: FakeDiscord,
        segmind: FakeSegmind,
        runner: BotRunner = BotInLoop,
        redis_url: str | None = None,
    ) -> None:
        self.cwd = cwd
        self.discord = discord
        self.segmind = segmind
        self.runner = runner
        self.redis_url = redis_url  # set: every bot shares its state there
        self.bots: list[RunningBot] = []

    def settings(self, **more: str) -> dict[str, str]:
        return {
            "DISCORD_TOKEN": self.discord.token,
            "DISCORD_API_BASE": self.discord.api_base,
            "DISCORD_GATEWAY_URL": self.discord.gateway_url,
            "SEGMIND_API_KEY": self.segmind.api_key,
            "SEGMIND_BASE_URL": self.segmind.url,
            "DATABASE_PATH": str(self.cwd / "bot.sqlite3"),
            "LOG_LEVEL": "DEBUG",
            # Most tests script the blocking API; the async one is tested where it is named.
            "SEGMIND_API": "v1",
            # Pacing is tested where it is named; elsewhere it would only slow bursts down.
            "SEGMIND_RPM": "10000",
            **({"REDIS_URL": self.redis_url} if self.redis_url else {}),
            **more,
        }

    async def start_bot(self, **more: str) -> RunningBot:
        """Start the bot; return once its gateway session is READY (one shard's, if sharded).

        Not once discord.py calls on_ready (2 s later, its guild_ready_timeout): Discord sends
        interactions as soon as a session is READY, and so do the tests.
        """
        bot = self.runner(self.cwd, self.settings(**more), "run")
        self.bots.append(bot)
        readies = self.discord.ready_count
        await bot.start()

        def ready() -> bool:
            bot.check_alive()
            return self.discord.ready_count > readies

        await self.discord.wait_until(ready, timeout=30)
        await self.discord.wait_ready()
        return bot

    async def start_worker(self, **more: str) -> RunningBot:
        """Start a worker-only process (`python -m bot worker`: no gateway, nothing to wait
        for: it takes jobs from the shared line as soon as it is up)."""
        bot = self.runner(self.cwd, self.settings(**more), "worker")
        self.bots.append(bot)
        await bot.start()
        return bot

    @property
    def logs(self) -> str:
        return "\n".join(bot.logs for bot in self.bots)

    def job_state(self, job_id: int) -> str | None:
        """A job's state as the bot stored it (in Redis or its SQLite file), if stored."""
        if self.redis_url:
            with redis.Redis.from_url(self.redis_url) as client:
                state = client.hget(f"{PREFIX}job:{job_id}", "state")
            return None if state is None else bytes(state).decode()
        with contextlib.closing(sqlite3.connect(self.cwd / "bot.sqlite3", timeout=5)) as db:
            try:
                row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            except sqlite3.OperationalError:  # no schema yet
                return None
        return str(row[0]) if row else None

    @contextlib.contextmanager
    def database_locked(self) -> Iterator[None]:
        """Another program (a backup, a full disk) holds the bot's database: writes fail.

        Waits up to 20 s for the lock: on a loaded machine the bot may be mid-write.
        """
        blocker = sqlite3.connect(self.cwd / "bot.sqlite3", timeout=20, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            if blocker.in_transaction:
                blocker.execute("ROLLBACK")
            blocker.close()

    async def until_job(self, job_id: int, *states: str, timeout: float = 10) -> None:
        """Wait until the bot has stored the job in one of `states`."""
        await self.discord.wait_until(lambda: self.job_state(job_id) in states, timeout=timeout)

    async def stop_all(self) -> None:
        for bot in self.bots:
            await bot.kill()

    def assert_nothing_leaked(self) -> None:
        """Whatever a test did, the bot never broke Discord's rules or leaked a secret."""
        self.discord.assert_no_violations()
        fake = self.discord
        said = [m.to_json() for rec in fake.interactions for m in rec.all_messages]
        said += [m.to_json() for m in fake.channel_messages + fake.dm_messages]
        password = yarl.URL(self.redis_url).password if self.redis_url else None
        sent = json.dumps(said)
        logs = self.logs
        for secret in (fake.token, self.segmind.api_key, *([password] if password else [])):
            assert secret not in logs, "a secret in the log"
            assert secret not in sent, "a secret sent to Discord"
        for rec in fake.interactions:  # masked at every level, DEBUG included
            assert rec.token not in logs, f"interaction token of {rec.name} in the log"
        assert "Traceback" not in sent
