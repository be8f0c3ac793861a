"""Versioned storage: a database written by an older bot opens with its jobs, cooldowns and
buttons intact; one written by a newer bot, or no database at all, is refused in one plain line."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.sheets.job import JobState, NewJob
from bot.sheets.request import SheetRequest
from bot.sheets.rules import CoolingDown, Limits
from bot.state.sqlite.migrations import MIGRATIONS
from bot.state.sqlite.store import Store
from tests.harness import run_cli

SCHEMA_1 = Path(__file__).parent / "data" / "schema1.sqlite3"


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


async def test_a_database_of_the_first_release_keeps_its_jobs_cooldowns_and_buttons(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.sqlite3"
    shutil.copy(SCHEMA_1, path)
    assert user_version(path) == 0
    async with Store.open(path) as store:
        (queued,) = await store.jobs_in(JobState.QUEUED)
        assert queued.request == SheetRequest(prompt="a waiting witch", seed=777)
        assert (queued.user_id, queued.placeholder_id, queued.custom_pose) == (5002, 990001, False)
        assert queued.interaction_token == "old-token-queued"
        # The sheet under which the Re-roll button sits: its options and its pose.
        done = await store.job(1)
        assert done is not None and done.state is JobState.DONE
        assert done.request.strength == 0.55 and done.custom_pose
        assert done.outcome is not None and done.outcome.seed == 123456
        assert (await store.pose(1) or b"").startswith(b"\xff\xd8")
        # User 5002's cooldown still holds.
        limits = Limits(cooldown_seconds=60, max_waiting=50, max_per_user=5)
        with pytest.raises(CoolingDown):
            await store.admit(_new(5002), limits)
        assert await store.fact("last_credits") is not None
    assert user_version(path) == len(MIGRATIONS)
    async with Store.open(path) as store:  # opening again changes nothing
        assert len(await store.jobs_in(JobState.QUEUED, JobState.DONE)) == 2


def _new(user_id: int) -> NewJob:
    return NewJob(
        user_id=user_id,
        guild_id=None,
        channel_id=1,
        request=SheetRequest(prompt="x", seed=1),
        custom_pose=False,
        upload_limit=1,
        interaction_token=None,
        token_expires_at=None,
    )


SETTINGS = {"DISCORD_TOKEN": "x" * 30, "SEGMIND_API_KEY": "k" * 20}


def _newer(path: Path) -> None:
    shutil.copy(SCHEMA_1, path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _text(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 100)


def _truncated(path: Path) -> None:
    path.write_bytes(SCHEMA_1.read_bytes()[:1000])


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_newer, "newer version of the bot"),
        (_random_bytes, "not a SQLite database"),
        (_text, "not a SQLite database"),
        (_truncated, "not a SQLite database"),
    ],
    ids=["newer", "random-bytes", "text", "truncated"],
)
async def test_a_database_the_bot_cannot_use_stops_it_with_one_plain_line(
    tmp_path: Path, make: object, says: str
) -> None:
    path = tmp_path / "bot.sqlite3"
    make(path)  # type: ignore[operator]
    result = await run_cli("run", cwd=tmp_path, DATABASE_PATH=str(path), **SETTINGS)
    assert result.code == 2, result
    assert "DATABASE_PATH" in result.err and says in result.err, result.err
    assert "Traceback" not in result.err + result.out
    assert len(result.err.strip().splitlines()) == 1, result.err


@pytest.mark.parametrize("where", ["a folder", "under a file"])
async def test_a_database_path_that_cannot_be_a_file_is_named(tmp_path: Path, where: str) -> None:
    if where == "a folder":
        path = tmp_path / "db"
        path.mkdir()
    else:
        (tmp_path / "plain").write_text("x")
        path = tmp_path / "plain" / "bot.sqlite3"
    result = await run_cli("run", cwd=tmp_path, DATABASE_PATH=str(path), **SETTINGS)
    assert result.code == 2, result
    assert "DATABASE_PATH" in result.err and "Traceback" not in result.err, result.err
