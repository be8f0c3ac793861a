"""The operator's commands about the bot's state: where it is kept and whether it lasts
(`check`), the ledger report (`usage`), and carrying a SQLite file into Redis (`copy-to-redis`).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.ops.settings import Settings, redis_address
from bot.sheets.job import JobState, LedgerEntry
from bot.sheets.ledger import Ledger
from bot.state.backend import open_backend
from bot.state.sqlite.store import StorageError, Store


def where(settings: Settings) -> str:
    """Where the state is kept, in words (never a Redis password)."""
    if settings.redis_url is None:
        return f"the SQLite file {settings.database_path} (one process)"
    return (
        f"Redis at {redis_address(settings.redis_url.get_secret_value())} (shared by every process)"
    )


def _no_database(path: Path) -> bool:
    """Whether nothing is at DATABASE_PATH (a fresh install): the commands that only read it
    must not create it, as opening it would."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False  # something is there: opening it says what is wrong with it
    return False


def _missing_database(path: Path, why: str) -> str | None:
    """The line refusing a command that reads DATABASE_PATH while there is none, if so."""
    if not _no_database(path):
        return None
    return (
        f"DATABASE_PATH ({path}) does not exist: {why}. Point DATABASE_PATH at the bot's "
        "database (the bot creates it when it first runs)."
    )


def _fresh_install(path: Path) -> bool:
    """Say that `run` will create the database, and whether it can; True if so."""
    folder = next(parent for parent in path.absolute().parents if parent.exists())
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        print(
            f"State: DATABASE_PATH ({path}) cannot be created: {folder} is not a folder the "
            "bot may write to. Point DATABASE_PATH at a file in one.",
            file=sys.stderr,
        )
        return False
    print(f"State: no database yet; `python -m bot run` creates {path}")
    return True


async def check_state(settings: Settings) -> bool:
    """Open the state; for Redis, say whether it keeps what it is told across a restart.
    A fresh install has no SQLite file yet: say so, without creating it."""
    if settings.redis_url is None and _no_database(settings.database_path):
        print(f"State: {where(settings)}")
        return _fresh_install(settings.database_path)
    try:
        async with open_backend(settings) as backend:
            print(f"State: {where(settings)}")
            persistence = await backend.store.persistence()
    except StorageError as exc:
        print(f"State: {exc}", file=sys.stderr)
        return False
    said = ", ".join(f"{k} {v!r}" for k, v in sorted(persistence.items()))
    print(f"State persistence: {said}")
    if settings.redis_url is not None and persistence.get("appendonly") != "yes":
        print(
            "Redis persistence: appendonly is off, so queued jobs, paid sheets and the "
            "ledger are lost if Redis restarts: set `appendonly yes` (docs/scaling.md).",
            file=sys.stderr,
        )
        return False
    return True


async def copy_state(settings: Settings) -> int:
    """Carry the SQLite file's lasting state into an empty Redis (before going multi-process)."""
    if settings.redis_url is None:
        print("copy-to-redis copies into REDIS_URL: set it first.", file=sys.stderr)
        return 2
    missing = _missing_database(settings.database_path, "there is nothing to copy into Redis")
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    from bot.state.copy import NotCopied, copy_to_redis  # redis only where it is used
    from bot.state.redis.store import RedisStore

    url = settings.redis_url.get_secret_value()
    try:
        async with Store.open(settings.database_path) as store, RedisStore.open(url) as shared:
            copied = await copy_to_redis(store, shared)
    except (StorageError, NotCopied) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(
        f"Copied {settings.database_path} into Redis at {redis_address(url)}: the settings of "
        f"{copied.servers} server(s), {copied.ledger_entries} ledger entries, "
        f"{copied.jobs} finished job(s) (their buttons keep working), "
        f"{copied.cooldowns} cooldown(s), {copied.characters} saved character(s). "
        "Now start every process with REDIS_URL set."
    )
    return 0


async def usage(settings: Settings, args: argparse.Namespace) -> int:
    """Print the ledger summed per day (UTC), server and member."""
    if args.days < 1:
        print("error: --days must be at least 1", file=sys.stderr)
        return 2
    missing = (  # with REDIS_URL set, the ledger is in Redis
        _missing_database(settings.database_path, "there is no ledger to report")
        if settings.redis_url is None
        else None
    )
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    try:
        async with open_backend(settings) as backend:
            entries = await Ledger(backend.store).entries(
                time.time() - args.days * 86400, args.guild
            )
    except StorageError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(usage_table(entries, as_csv=args.csv), end="")
    return 0


def usage_table(entries: list[LedgerEntry], *, as_csv: bool) -> str:
    """Sheets delivered, sheets withheld by the content filter (paid, never posted) and credits
    per day, server and member; a total line unless CSV."""
    sums: dict[tuple[str, str, int], list[float]] = {}
    for entry in entries:
        day = datetime.fromtimestamp(entry.at, UTC).date().isoformat()
        key = (day, "DM" if entry.guild_id is None else str(entry.guild_id), entry.user_id)
        row = sums.setdefault(key, [0, 0.0, 0])
        row[0] += entry.outcome == JobState.DONE
        row[1] += entry.cost
        row[2] += entry.outcome == JobState.WITHHELD
    # The withheld column last: spreadsheets made from earlier reports keep their columns.
    header = ("day", "server", "member", "sheets", "credits", "withheld")
    lines = [
        (*key, str(int(n)), f"{credits:.4f}", str(int(w)))
        for key, (n, credits, w) in sorted(sums.items())
    ]
    if as_csv:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([header, *lines])
        return out.getvalue()
    total = [sum(row[i] for row in sums.values()) for i in range(3)]
    rows = [header, *((d, g, str(u), n, c, w) for d, g, u, n, c, w in lines)]
    rows.append(("total", "", "", str(int(total[0])), f"{total[1]:.4f}", str(int(total[2]))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "".join(
        "  ".join(
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        + "\n"
        for row in rows
    )
