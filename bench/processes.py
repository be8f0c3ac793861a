"""The processes the benchmark starts: the bot (with a log time-stamper) and the wire tap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness import clean_env

REPO = Path(__file__).resolve().parent.parent
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # discord.py colours its log inside containers


class RunBroke(Exception):
    """The benchmark could not measure (as opposed to: the bot missed a budget)."""


def bot_environment(settings: dict[str, str]) -> dict[str, str]:
    """This environment minus any bot setting, plus `settings` (as the tests run the bot)."""
    return clean_env(**settings, PYTHONUNBUFFERED="1")


async def _stop(process: asyncio.subprocess.Process | None, grace: float) -> int | None:
    """SIGTERM, then SIGKILL after `grace` seconds; the exit code."""
    if process is None:
        return None
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode


class BotProcess:
    """`python -m bot` in a scratch directory, its output time-stamped line by line."""

    def __init__(
        self, cwd: Path, settings: dict[str, str], *, module: str = "bot", code: Path = REPO
    ) -> None:
        self.cwd = cwd  # holds no .env: only the settings given here apply
        self.settings = settings
        self.module = module  # "bot", or "bench.naive"
        self.code = code  # the checkout whose `bot` package runs (PYTHONPATH)
        self.log_path = cwd / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.stamper: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        read_end, write_end = os.pipe()
        try:
            self.stamper = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.stamp", str(self.log_path), cwd=REPO, stdin=read_end
            )
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                cwd=self.cwd,
                env={**bot_environment(self.settings), "PYTHONPATH": self._pythonpath()},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
            )
        finally:
            os.close(read_end)
            os.close(write_end)

    def _pythonpath(self) -> str:
        # The checkout first; then whatever --env PYTHONPATH=... adds (an extra package to try).
        extra = self.settings.get("PYTHONPATH")
        return os.pathsep.join([str(self.code), *([extra] if extra else [])])

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    def lines(self) -> list[tuple[float, str]]:
        """(time the line was written, text) of every line the bot wrote so far."""
        if not self.log_path.exists():
            return []
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            stamp, _, text = raw.partition(" ")
            with contextlib.suppress(ValueError):
                out.append((float(stamp), _ANSI.sub("", text)))
        return out

    def text(self) -> str:
        return "\n".join(text for _, text in self.lines())

    def tail(self, count: int = 40) -> str:
        return "\n".join(text for _, text in self.lines()[-count:])

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.exited:
                raise RunBroke(f"the bot exited while waiting for {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RunBroke(f"timed out after {timeout:.0f}s waiting for {what}:\n{self.tail()}")
            await asyncio.sleep(0.05)

    async def stop(self, grace: float = 30) -> int | None:
        """SIGTERM (the bot finishes running jobs), SIGKILL after `grace`; the exit code."""
        code = await _stop(self.process, grace)
        await _stop(self.stamper, 5)  # it ends by itself when the bot's output closes
        return code


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its answer as they crossed the tap."""

    listener: str  # "rest" (Discord REST and CDN), "gateway" or "segmind"
    line: str  # the request line, e.g. "POST /api/v10/interactions/1/tok/callback HTTP/1.1"
    request: tuple[float, float] | None  # first and last byte
    request_bytes: int | None  # request line + headers + body
    response: tuple[float, float]
    status: str
    seed: str | None


class TapProcess:
    """bench/tap.py in its own process, between the bot and the fakes."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.ports: dict[str, int] = {}

    async def start(self, discord_port: int, segmind_port: int) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.tap",
            str(self.log_path),
            str(discord_port),
            str(segmind_port),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), 20)
            self.ports = {name: int(port) for name, port in json.loads(line).items()}
        except (TimeoutError, ValueError) as exc:
            await self.stop()
            raise RunBroke("the wire tap did not start") from exc

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, listener: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports[listener]}"

    async def stop(self) -> None:
        await _stop(self.process, 5)

    def read(self) -> tuple[list[Exchange], list[tuple[float, int]]]:
        """The exchanges, and the gateway frames the bot sent as (time, op)."""
        exchanges: list[Exchange] = []
        frames: list[tuple[float, int]] = []
        if not self.log_path.exists():
            return exchanges, frames
        for raw in self.log_path.read_text().splitlines():
            try:
                record: dict[str, Any] = json.loads(raw)
            except ValueError:
                continue  # a line cut short when the tap was stopped
            if "ws" in record:
                frames.append((float(record["t"]), int(record["ws"])))
                continue
            request = record.get("rq")
            exchanges.append(
                Exchange(
                    listener=record["l"],
                    line=record.get("line", ""),
                    request=(request[0], request[1]) if request else None,
                    request_bytes=record.get("rq_bytes"),
                    response=(record["rs"][0], record["rs"][1]),
                    status=record.get("status", ""),
                    seed=record.get("seed"),
                )
            )
        return exchanges, sorted(frames)
