"""Shared fixtures: the wire-level fakes, and a way to run the real bot as its own process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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
