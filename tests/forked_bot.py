"""The bot as its own process, forked from one that has imported it already.

`python -m bot` spends about half a CPU-second importing discord.py, aiohttp, redis and pydantic
before it does anything, and the process tier starts about a hundred bots. So each test process
keeps one forkserver (multiprocessing's) that imported `bot.ops.cli` once; every bot process is
forked from it and runs `bot.ops.cli.main`, the function `python -m bot` runs, with the test's
settings as its whole environment, its own working folder and a log file as stdout and stderr.
It is a process of its own: its own memory and pid, real signals (SIGKILL, SIGSTOP, SIGTERM), its
own exit code. What it skips is the interpreter's start and the imports, which the tests that
start `python -m bot` itself (`harness.run_cli`) still cover.

Only `bot.ops.cli` is imported here: the forkserver preloads this module, and anything imported
at its top is in every bot process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.process import BaseProcess
from pathlib import Path

from bot.ops.cli import main

_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload([__name__])


def start(command: str, cwd: Path, env: dict[str, str], log_path: Path) -> BaseProcess:
    """Start `python -m bot COMMAND` in `cwd` with exactly `env`, writing to `log_path`."""
    process = _FORKS.Process(target=_run, args=([command], str(cwd), env, str(log_path)))
    process.start()
    return process


def _run(argv: list[str], cwd: str, env: dict[str, str], log_path: str) -> None:
    """In the forked process: what `python -m bot ARGV` would be given, then its `main`."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.exit(main(argv))
