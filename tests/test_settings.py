"""An operator who mistypes a setting gets a plain message naming it, and exit code 2."""

from __future__ import annotations

from pathlib import Path

from tests.harness import run_cli


async def test_missing_secrets_are_named_with_where_to_get_them(tmp_path: Path) -> None:
    result = await run_cli(cwd=tmp_path)
    assert result.code == 2
    assert "DISCORD_TOKEN is missing" in result.err
    assert "SEGMIND_API_KEY is missing" in result.err
    assert "discord.com/developers/applications" in result.err
    assert "cloud.segmind.com" in result.err
    assert "Traceback" not in result.err + result.out


async def test_malformed_settings_are_each_named_without_echoing_secrets(tmp_path: Path) -> None:
    result = await run_cli(
        cwd=tmp_path,
        DISCORD_TOKEN="tok-SECRET-value",
        SEGMIND_API_KEY="sk-SECRET-value",
        COOLDOWN_SECONDS="soon",
        MAX_CONCURRENT_JOBS="0",
        LOG_LEVEL="loud",
    )
    assert result.code == 2
    for name in ("COOLDOWN_SECONDS", "MAX_CONCURRENT_JOBS", "LOG_LEVEL"):
        assert name in result.err
    assert "DISCORD_TOKEN" not in result.err
    assert "SECRET" not in result.err + result.out
    assert "Traceback" not in result.err


async def test_settings_are_read_from_dotenv_in_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=abc\nSEGMIND_API_KEY=\nMAX_QUEUE=-1\n")
    result = await run_cli(cwd=tmp_path)
    assert result.code == 2
    assert "SEGMIND_API_KEY is missing" in result.err
    assert "MAX_QUEUE" in result.err
    assert "DISCORD_TOKEN" not in result.err


async def test_generate_does_not_need_a_discord_token(tmp_path: Path) -> None:
    result = await run_cli("generate", "--prompt", "x", "--out", "o.jpg", cwd=tmp_path)
    assert result.code == 2
    assert "SEGMIND_API_KEY is missing" in result.err
    assert "DISCORD_TOKEN" not in result.err


async def test_operator_blocked_words_that_could_never_match_are_named(tmp_path: Path) -> None:
    result = await run_cli(
        cwd=tmp_path, DISCORD_TOKEN="tok", SEGMIND_API_KEY="sk", BLOCKED_WORDS="gore, !!!"
    )
    assert result.code == 2
    assert "BLOCKED_WORDS is not valid" in result.err and "no letter or digit" in result.err
    assert "Traceback" not in result.err + result.out


def test_every_setting_is_documented_in_env_example() -> None:
    from bot.ops.settings import Settings

    example = (Path(__file__).parent.parent / ".env.example").read_text()
    documented = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    documented = {name for name in documented if not name.startswith("#")}
    assert documented == {name.upper() for name in Settings.model_fields}


async def test_a_token_discord_refuses_stops_the_bot_with_a_plain_message(tmp_path: Path) -> None:
    from tests.fake_discord import FakeDiscord

    async with FakeDiscord() as discord:
        result = await run_cli(
            cwd=tmp_path,
            DISCORD_TOKEN="revoked-token-value",
            DISCORD_API_BASE=discord.api_base,
            DISCORD_GATEWAY_URL=discord.gateway_url,
            SEGMIND_API_KEY="sk-unused",
            SEGMIND_BASE_URL="http://127.0.0.1:9",
        )
    assert result.code == 2
    assert "Discord refused DISCORD_TOKEN" in result.err
    assert "Traceback" not in result.err + result.out
    assert "revoked-token-value" not in result.err + result.out
