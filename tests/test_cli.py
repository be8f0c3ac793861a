"""`python -m bot generate` and `check`: the operator's way to draw and to test the set-up."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.fake_discord import FakeDiscord
from tests.fake_segmind import FakeSegmind, Planned
from tests.harness import run_cli, run_entry_point
from tests.helpers import both_env, segmind_env

# Every command the bot registers (slash commands, and the "Use as pose" message menu).
COMMANDS = {"character", "credits", "config", "sheets", "characters", "Use as pose"}


async def test_generate_writes_a_jpeg_and_reports_seed_and_credits(
    tmp_path: Path, segmind: FakeSegmind
) -> None:
    result = await run_entry_point(  # `python -m bot` itself, as an operator types it
        "generate",
        "--prompt",
        "a knight in blue armour",
        "--seed",
        "1234",
        "--out",
        "sheets/knight.jpg",
        cwd=tmp_path,
        **segmind_env(segmind),
    )
    assert result.code == 0, result.err
    with Image.open(tmp_path / "sheets" / "knight.jpg") as sheet:
        assert sheet.format == "JPEG"
    assert "seed 1234" in result.out
    assert f"credits left {segmind.credits:,.2f}" in result.out
    assert len(segmind.requests) == 1
    assert segmind.requests[0].json["prompt"] == "a knight in blue armour"


async def test_generate_sends_the_given_pose_normalized(
    tmp_path: Path, segmind: FakeSegmind
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000), "white").save(buffer, "PNG")
    (tmp_path / "pose.png").write_bytes(buffer.getvalue())
    result = await run_cli(
        "generate",
        "--prompt",
        "x",
        "--pose",
        "pose.png",
        "--out",
        "o.jpg",
        cwd=tmp_path,
        **segmind_env(segmind),
    )
    assert result.code == 0, result.err
    import base64

    sent = base64.b64decode(segmind.requests[0].json["image"])
    with Image.open(io.BytesIO(sent)) as pose:
        assert pose.format == "JPEG"
        assert max(pose.size) == 1024
    # The content filter's call on both, as the bot would make it (the file is written anyway).
    said = result.out.splitlines()
    assert any(line.startswith("content filter: the pose scores 0.") for line in said), said
    assert said[-1].startswith("content filter: the sheet scores 0."), said
    assert said[-1].endswith("not flagged (SAFETY_THRESHOLD 0.3)"), said


async def test_generate_says_when_the_sheet_would_be_flagged(
    tmp_path: Path, segmind: FakeSegmind
) -> None:
    result = await run_cli(
        "generate",
        "--prompt",
        "x",
        "--out",
        "o.jpg",
        cwd=tmp_path,
        **segmind_env(segmind, SAFETY_THRESHOLD="0"),
    )
    assert result.code == 0, result.err
    assert (tmp_path / "o.jpg").exists()
    assert "flagged as possibly explicit (SAFETY_THRESHOLD 0.0)" in result.out.splitlines()[-1]


@pytest.mark.parametrize(
    ("planned", "code", "words"),
    [
        (Planned.status(401, {"error": "Unauthorized"}), 1, "401"),
        (Planned.status(406, {"error": "Not enough credits"}), 1, "credits"),
        (Planned.status(422, {"error": "bad prompt"}), 1, "422"),
        (Planned.not_an_image(), 1, "image"),
        (Planned.drop(), 1, "connection"),
    ],
)
async def test_generate_failures_give_one_clear_line_and_non_zero_exit(
    tmp_path: Path, segmind: FakeSegmind, planned: Planned, code: int, words: str
) -> None:
    segmind.plan(planned)
    result = await run_cli(
        "generate", "--prompt", "x", "--out", "o.jpg", cwd=tmp_path, **segmind_env(segmind)
    )
    assert result.code == code
    assert words.lower() in result.err.lower()
    assert "Traceback" not in result.err
    assert segmind.api_key not in result.err + result.out
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "o.jpg").exists()


async def test_generate_timeout_is_reported_and_not_retried(
    tmp_path: Path, segmind: FakeSegmind
) -> None:
    segmind.plan(Planned.hang(30))
    result = await run_cli(
        "generate",
        "--prompt",
        "x",
        "--out",
        "o.jpg",
        cwd=tmp_path,
        **segmind_env(segmind, SEGMIND_TIMEOUT_SECONDS="1"),
    )
    assert result.code == 1
    assert "Traceback" not in result.err
    assert len(segmind.requests) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--pose", "missing.png"], "cannot read the pose"),
        (["--strength", "1.5"], "strength"),
        (["--seed", "-1"], "seed"),
    ],
)
async def test_generate_bad_arguments_exit_2_without_calling_segmind(
    tmp_path: Path, segmind: FakeSegmind, args: list[str], words: str
) -> None:
    result = await run_cli(
        "generate",
        "--prompt",
        "x",
        "--out",
        "o.jpg",
        *args,
        cwd=tmp_path,
        **segmind_env(segmind),
    )
    assert result.code == 2
    assert words in result.err
    assert "Traceback" not in result.err
    assert segmind.requests == []


async def test_generate_refuses_a_pose_that_is_not_an_image(
    tmp_path: Path, segmind: FakeSegmind
) -> None:
    (tmp_path / "notes.txt").write_text("not a picture")
    result = await run_cli(
        "generate",
        "--prompt",
        "x",
        "--pose",
        "notes.txt",
        "--out",
        "o.jpg",
        cwd=tmp_path,
        **segmind_env(segmind),
    )
    assert result.code == 2
    assert "Traceback" not in result.err
    assert segmind.requests == []


async def test_check_reports_both_services_accept_the_credentials(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    result = await run_cli("check", cwd=tmp_path, **both_env(discord_fake, segmind))
    assert result.code == 0, result.err
    assert f"{segmind.credits:,.2f} credits left" in result.out
    assert "Discord: token accepted" in result.out
    assert "Content safety: the classifier loads" in result.out


async def test_check_says_when_the_classifier_cannot_be_loaded(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    env = both_env(discord_fake, segmind, SAFETY_MODEL_PATH=str(tmp_path / "none.onnx"))
    result = await run_cli("check", cwd=tmp_path, **env)
    assert result.code == 1
    assert "Content safety: the classifier could not be loaded" in result.err


async def test_check_names_a_refused_discord_token_and_segmind_key(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    result = await run_cli(
        "check",
        cwd=tmp_path,
        DISCORD_TOKEN="not-the-token",
        DISCORD_API_BASE=discord_fake.api_base,
        SEGMIND_BASE_URL=segmind.url,
        SEGMIND_API_KEY="sk-wrong-key",
    )
    assert result.code == 1
    assert "Discord refused DISCORD_TOKEN" in result.err
    assert "401" in result.err
    assert "Traceback" not in result.err
    assert "sk-wrong-key" not in result.err + result.out
    assert "not-the-token" not in result.err + result.out


async def test_sync_registers_commands_even_when_unchanged(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    for expected in (1, 2):
        result = await run_cli("sync", cwd=tmp_path, **both_env(discord_fake, segmind))
        assert result.code == 0, result.err
        assert discord_fake.command_syncs == expected
    assert {c["name"] for c in discord_fake.global_commands} == COMMANDS


async def test_dev_guild_id_registers_commands_in_that_server_only(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    env = both_env(discord_fake, segmind, DEV_GUILD_ID=str(discord_fake.guild_id))
    result = await run_cli("sync", cwd=tmp_path, **env)
    assert result.code == 0, result.err
    assert discord_fake.global_commands == []
    names = {c["name"] for c in discord_fake.guild_commands[discord_fake.guild_id]}
    assert names == COMMANDS


# --- DATABASE_PATH: the commands that only read the state never create it --------------------


async def test_check_on_a_fresh_install_says_run_creates_the_database_and_creates_none(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    result = await run_cli("check", cwd=tmp_path, **both_env(discord_fake, segmind))
    assert result.code == 0, result.err
    assert "State: no database yet; `python -m bot run` creates data/bot.sqlite3" in result.out
    assert not (tmp_path / "data").exists()


async def test_check_names_a_database_path_run_could_not_create(
    tmp_path: Path, segmind: FakeSegmind, discord_fake: FakeDiscord
) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    env = both_env(discord_fake, segmind, DATABASE_PATH="notes.txt/bot.sqlite3")
    result = await run_cli("check", cwd=tmp_path, **env)
    assert result.code == 1
    assert "DATABASE_PATH (notes.txt/bot.sqlite3) cannot be created" in result.err
    assert "is not a folder the bot may write to" in result.err
    assert "Traceback" not in result.err


async def test_usage_without_a_database_says_so_in_one_line_and_creates_none(
    tmp_path: Path,
) -> None:
    result = await run_cli(
        "usage", cwd=tmp_path, SEGMIND_API_KEY="sk-unused", DATABASE_PATH="kept/bot.sqlite3"
    )
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "DATABASE_PATH (kept/bot.sqlite3) does not exist: there is no ledger to report. Point "
        "DATABASE_PATH at the bot's database (the bot creates it when it first runs)."
    ]
    assert "Traceback" not in result.err
    assert not (tmp_path / "kept").exists()
