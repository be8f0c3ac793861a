"""Shared fixtures: the wire-level fakes, and a way to run the real bot as its own process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_discord import FakeDiscord
from tests.fake_segmind import FakeSegmind


@pytest.fixture
async def segmind() -> AsyncIterator[FakeSegmind]:
    async with FakeSegmind() as fake:
        yield fake


def clean_env(**settings: str) -> dict[str, str]:
    """The environment for a bot process: this one's, minus any bot settings, plus `settings`."""
    ours = {"DISCORD_", "SEGMIND_", "DATABASE_", "COOLDOWN_", "MAX_", "LOG_", "METRICS_"}
    env = {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in ours)}
    env.update(settings)
    return env


@dataclass
class Finished:
    code: int
    out: str
    err: str


async def run_cli(*args: str, cwd: Path, timeout: float = 60, **settings: str) -> Finished:
    """Run `python -m bot ARGS` to the end in `cwd` (where a `.env` would be read)."""
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
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


class BotProcess:
    """The unmodified bot (`python -m bot`) as its own process, pointed at the fakes."""

    def __init__(self, cwd: Path, settings: dict[str, str]) -> None:
        self.cwd = cwd
        self.settings = settings
        self.log_path = cwd / f"bot-{id(self)}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=self.cwd,
            env=clean_env(**self.settings),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    @property
    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_log(self, text: str, timeout: float = 20) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while text not in self.logs:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"bot exited ({self.process.returncode}):\n{self.logs}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {text!r} in the bot's log:\n{self.logs}")
            await asyncio.sleep(0.05)

    async def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        self._log.close()
        return code

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if not self._log.closed:
            self._log.close()


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


class Harness:
    """Both fakes and a way to start (and restart) the real bot against them."""

    def __init__(self, cwd: Path, discord: FakeDiscord, segmind: FakeSegmind) -> None:
        self.cwd = cwd
        self.discord = discord
        self.segmind = segmind
        self.bots: list[BotProcess] = []

    def settings(self, **more: str) -> dict[str, str]:
        return {
            "DISCORD_TOKEN": self.discord.token,
            "DISCORD_API_BASE": self.discord.api_base,
            "DISCORD_GATEWAY_URL": self.discord.gateway_url,
            "SEGMIND_API_KEY": self.segmind.api_key,
            "SEGMIND_BASE_URL": self.segmind.url,
            "DATABASE_PATH": str(self.cwd / "bot.sqlite3"),
            "LOG_LEVEL": "DEBUG",
            **more,
        }

    async def start_bot(self, **more: str) -> BotProcess:
        bot = BotProcess(self.cwd, self.settings(**more))
        self.bots.append(bot)
        await bot.start()
        await bot.wait_for_log("ready as")
        return bot

    @property
    def logs(self) -> str:
        return "\n".join(bot.logs for bot in self.bots)


@pytest.fixture
async def harness(
    tmp_path: Path, discord_fake: FakeDiscord, segmind: FakeSegmind
) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, discord_fake, segmind)
    try:
        yield h
    finally:
        for bot in h.bots:
            await bot.kill()
    # Whatever a test did, the bot never broke Discord's rules or leaked a secret.
    discord_fake.assert_no_violations()
    said = [m.to_json() for rec in discord_fake.interactions for m in rec.all_messages]
    said += [m.to_json() for m in discord_fake.channel_messages + discord_fake.dm_messages]
    for secret in (discord_fake.token, segmind.api_key):
        assert secret not in h.logs
        assert secret not in json.dumps(said)
        assert "Traceback" not in json.dumps(said)
