"""An operator who mistypes a setting gets a plain message naming it, and exit code 2."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.harness import refused_settings, run_cli, run_entry_point


async def test_missing_secrets_are_named_with_where_to_get_them(tmp_path: Path) -> None:
    result = await run_entry_point(cwd=tmp_path)  # `python -m bot` itself, as an operator types it
    assert result.code == 2
    assert "DISCORD_TOKEN is missing" in result.err
    assert "SEGMIND_API_KEY is missing" in result.err
    assert "discord.com/developers/applications" in result.err
    assert "cloud.segmind.com" in result.err
    assert "Traceback" not in result.err + result.out


async def test_malformed_settings_are_each_named_without_echoing_secrets(tmp_path: Path) -> None:
    result = refused_settings(
        cwd=tmp_path,
        DISCORD_TOKEN="tok-SECRET-value",
        SEGMIND_API_KEY="sk-SECRET-value",
        COOLDOWN_SECONDS="soon",
        MAX_CONCURRENT_JOBS="0",
        LOG_LEVEL="loud",
        MAX_SAVED_CHARACTERS="0",
    )
    assert result.code == 2
    for name in ("COOLDOWN_SECONDS", "MAX_CONCURRENT_JOBS", "LOG_LEVEL", "MAX_SAVED_CHARACTERS"):
        assert name in result.err
    assert "DISCORD_TOKEN" not in result.err
    assert "SECRET" not in result.err + result.out
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SAFETY_THRESHOLD", "1.5"),
        ("SAFETY_THRESHOLD", "-0.1"),
        ("SAFETY_THRESHOLD", "high"),
        ("SAFETY_MODE", "nsfw-only"),
    ],
)
async def test_a_bad_content_safety_setting_is_named_and_exits_2(
    tmp_path: Path, name: str, value: str
) -> None:
    result = refused_settings(
        "run", cwd=tmp_path, DISCORD_TOKEN="t", SEGMIND_API_KEY="k", **{name: value}
    )
    assert result.code == 2 and name in result.err, result.err
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
    result = refused_settings(
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


# --- REDIS_URL: refused as redis-py would refuse it, before anything is opened -----------------

STATE_COMMANDS = ("check", "usage", "run", "copy-to-redis")
ANY_SECRETS = {"DISCORD_TOKEN": "tok-unused", "SEGMIND_API_KEY": "sk-unused"}


def assert_one_line_names_redis_url(err: str, words: str) -> None:
    named = [line for line in err.splitlines() if "REDIS_URL" in line]
    assert len(named) == 1, err
    assert words in named[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("command", "url", "words"),
    [
        ("check", "redis://127.0.0.1:99999/0", "its port is not a number up to 65535"),
        ("usage", "redis://h:port/0", "its port is not a number up to 65535"),
        ("run", "http://127.0.0.1:6379/0", "must start with redis://, rediss:// or unix://"),
        ("copy-to-redis", "garbage", "must start with redis://, rediss:// or unix://"),
        ("usage", "redis://127.0.0.1:6379/0?db=one", "its option ?db= has a value"),
        ("run", "redis://127.0.0.1:6379/0?colour=blue", "an option after ? that Redis does not"),
    ],
)
async def test_a_malformed_redis_url_is_named_in_one_line_and_exits_2(
    tmp_path: Path, command: str, url: str, words: str
) -> None:
    result = refused_settings(command, cwd=tmp_path, REDIS_URL=url, **ANY_SECRETS)
    assert result.code == 2
    assert_one_line_names_redis_url(result.err, words)
    assert not (tmp_path / "data").exists()  # no database file: nothing was opened


async def test_a_malformed_redis_url_never_shows_its_password(tmp_path: Path) -> None:
    for command in STATE_COMMANDS:
        for url in ("redis://:s3cr3t@host:badport/0", "redis://:s3/cr3t@127.0.0.1:6379/0"):
            result = refused_settings(command, cwd=tmp_path, REDIS_URL=url, **ANY_SECRETS)
            assert result.code == 2, (command, url)
            assert_one_line_names_redis_url(result.err, "percent-encode")
            assert "s3" not in result.out + result.err
            assert "cr3t" not in result.out + result.err


def redis_py_takes(url: str) -> bool:
    """Whether redis-py builds a connection from `url` (no network: it would connect on use)."""
    import redis.asyncio

    try:
        redis.asyncio.BlockingConnectionPool.from_url(url).make_connection()  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, redis.RedisError):
        return False
    return True


PIECES = (
    ("redis://", "rediss://", "unix://", "REDIS://", "redis:", "http://", "", "redis//"),
    (
        "",
        "user@",
        ":s3cr3t@",
        "user:s3cr3t@",
        ":s3%40cr3t@",
        ":s3/cr3t@",
        ":s3?c=r3t@",
        ":s3#cr3t@",
    ),
    ("127.0.0.1", "h", "[::1]", "[::1", "", "/tmp/redis.sock"),
    ("", ":6379", ":0", ":65536", ":port", ":", ":-1"),
    ("", "/", "/0", "/15", "/abc", "/1/2"),
    (
        "",
        "?db=2",
        "?db=x",
        "?db=",
        "?protocol=3",
        "?protocol=7",
        "?socket_timeout=1.5",
        "?socket_timeout=soon",
        "?colour=blue",
        "?ssl_certfile=c.pem",
        "?ssl_cert_reqs=none&ssl_check_hostname=no",
        "?ssl_include_verify_flags=VERIFY_X509_STRICT",
        "?ssl_include_verify_flags=NOPE",
        "?ssl_min_version=x",
        "?path=/x",
        "?socket_keepalive=yes",
        "?client_name=bot&max_connections=9",
    ),
)


@given(st.tuples(*(st.sampled_from(piece) for piece in PIECES)).map("".join) | st.text())
@settings(max_examples=500)
def test_redis_url_is_refused_exactly_when_redis_py_refuses_it(url: str) -> None:
    from bot.ops.settings import redis_address, redis_url_problem

    problem = redis_url_problem(url)
    # Stricter on one point: a socket path with an @ is a password with a / gone wrong.
    misread = redis_py_takes(url) and url.lower().startswith("unix:") and "@" in urlparse(url).path
    assert (problem is None) == (redis_py_takes(url) and not misread), problem
    said = problem if problem is not None else redis_address(url)
    assert "s3" not in said and "cr3t" not in said  # never a piece of the password
