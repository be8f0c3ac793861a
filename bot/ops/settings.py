"""The bot's settings, read once from the environment and `.env`."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Where to get what a setting needs, shown when it is missing or wrong.
HELP = {
    "DISCORD_TOKEN": "the bot token from https://discord.com/developers/applications "
    "(your application > Bot > Reset Token)",
    "SEGMIND_API_KEY": "an API key from https://cloud.segmind.com (Console > API Keys)",
}

REDIS_EXAMPLE = "redis://:password@127.0.0.1:6379/0"
ENCODED = "percent-encode any @ : / ? # in a password, @ as %40"
# The options (?name=value) redis-py takes from a Redis URL: its URL_QUERY_ARGUMENT_PARSERS
# and the parameters of each scheme's connection class. Any other option passes `from_url` and
# fails only on connecting, with a traceback. tests/test_settings.py holds both to the same URLs.
WHOLE_NUMBER = frozenset(
    {"db", "protocol", "max_connections", "socket_read_size", "health_check_interval"}
    | {"ssl_min_version"}  # rediss:// only
)
DECIMAL = frozenset({"socket_timeout", "socket_connect_timeout", "timeout"})
VERIFY_FLAGS = frozenset({"ssl_include_verify_flags", "ssl_exclude_verify_flags"})
_EVERY = frozenset(
    {"db", "username", "password", "client_name", "protocol", "max_connections", "timeout"}
    | {"socket_timeout", "socket_connect_timeout", "socket_read_size", "health_check_interval"}
    | {"retry_on_timeout", "encoding", "encoding_errors", "decode_responses", "legacy_responses"}
    | {"lib_name", "lib_version"}
)
_TLS = VERIFY_FLAGS | {
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_password",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_ca_path",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
}
REDIS_OPTIONS = {
    "redis": _EVERY | {"socket_keepalive"},
    "rediss": _EVERY | {"socket_keepalive"} | _TLS,
    "unix": _EVERY | {"path"},
}


class Settings(BaseSettings):
    """Everything the operator can set; see `.env.example` for what each one means."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    discord_token: SecretStr | None = None
    segmind_api_key: SecretStr = Field(min_length=1)
    segmind_base_url: str = "https://api.segmind.com"
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg"
    database_path: Path = Path("data/bot.sqlite3")
    cooldown_seconds: float = Field(default=60, ge=0)
    max_concurrent_jobs: int = Field(default=2, ge=1, le=64)
    max_queue: int = Field(default=50, ge=1)
    max_jobs_per_user: int = Field(default=2, ge=1)
    segmind_timeout_seconds: float = Field(default=300, gt=0)
    segmind_api: Literal["auto", "v2", "v1"] = "auto"
    segmind_rpm: int = Field(default=5, ge=1, le=10_000)
    sheet_cost_credits: float = Field(default=0.13, ge=0)
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    log_prompts: bool = False
    moderator_role_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    max_pose_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_pose_pixels: int = Field(default=40_000_000, ge=1_000_000)
    pose_download_seconds: float = Field(default=15, gt=0)
    open_reroll: bool = False
    pose_retention_days: float = Field(default=7, ge=0)
    max_saved_characters: int = Field(default=25, ge=1, le=1000)
    shutdown_grace_seconds: float = Field(default=120, ge=0)
    delivery_retry_hours: float = Field(default=24, gt=0)
    delivery_retry_seconds: float = Field(default=30, gt=0)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    redis_url: SecretStr | None = None  # may carry a password
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: Annotated[tuple[int, ...], NoDecode] = ()
    job_lease_seconds: float = Field(default=120, ge=1)
    # Direct messages: off unless the operator allows them; then under the operator's rules.
    allow_dms: bool = False
    dm_daily_limit: int = Field(default=10, ge=0)
    dm_budget_credits: float = Field(default=0, ge=0)
    blocked_words: str = ""  # everywhere: direct messages and every server (theirs add to it)
    # Content safety (docs/safety.md): the score from which an image is flagged, the policy of
    # servers that chose none, and where the classifier's model is (empty: inside its package).
    safety_threshold: float = Field(default=0.3, ge=0, le=1)
    safety_mode: Literal["age-restricted", "block", "off"] = "age-restricted"
    safety_model_path: Path | None = None

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("SHARD_IDS needs SHARD_COUNT (how many shards the bot has in all)")
        if self.shard_count is not None and any(i >= self.shard_count for i in self.shard_ids):
            raise ValueError(
                f"SHARD_IDS must be shard numbers from 0 to {self.shard_count - 1} "
                f"(SHARD_COUNT is {self.shard_count})"
            )
        if (
            self.redis_url is None
            and len(self.shard_ids) < (self.shard_count or 1)
            and (self.shard_ids)
        ):
            raise ValueError(
                "running only some shards (SHARD_IDS) means other processes run the rest: "
                "they share jobs and limits through Redis, so set REDIS_URL too"
            )
        return self

    @field_validator("discord_token", "segmind_api_key", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator(
        "dev_guild_id",
        "metrics_port",
        "shard_count",
        "redis_url",
        "safety_model_path",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("moderator_role_ids", "shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part for part in value.replace(" ", ",").split(",") if part]
            if not all(part.isdigit() for part in parts):
                raise ValueError("must be numbers separated by commas")
            return sorted({int(part) for part in parts})
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_can_use(cls, value: SecretStr | None) -> SecretStr | None:
        problem = None if value is None else redis_url_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("segmind_api", "safety_mode", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level


class SettingsError(Exception):
    """The settings could not be read; the message names every bad one and how to fix it."""


def load_settings(*, need_discord: bool = True, env_file: str | Path | None = ".env") -> Settings:
    """Read the settings, turning pydantic's report into one an operator can act on.

    The Discord token is needed to run the bot, not to draw from the command line.
    """
    problems: list[tuple[str, str]] = []
    settings = None
    try:
        settings = Settings(_env_file=env_file)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
    if need_discord and not discord_token(env_file):
        problems.insert(0, ("DISCORD_TOKEN", "is missing"))
    if problems or settings is None:
        raise SettingsError(describe_problems(problems))
    return settings


def discord_token(env_file: str | Path | None = ".env") -> str:
    """DISCORD_TOKEN alone ("" if unset), for commands that need nothing else (`invite`)."""
    return (_DiscordToken(_env_file=env_file).discord_token or "").strip()


class _DiscordToken(BaseSettings):
    # Read on its own, so a missing token is reported even when other settings are bad.
    model_config = Settings.model_config
    discord_token: str | None = None


def _problem(error: ErrorDetails) -> tuple[str, str]:
    if not error["loc"]:  # a rule between settings: its message names them
        return "", error["msg"].removeprefix("Value error, ")
    name = str(error["loc"][0]).upper()
    if name in HELP:  # a secret can only be missing or empty
        return name, "is missing"
    return name, f"is not valid: {error['msg'].removeprefix('Value error, ')}"


def describe_problems(problems: list[tuple[str, str]]) -> str:
    """One line per bad setting, without echoing any value (it may be a secret)."""
    lines = ["The bot cannot start; fix these settings in .env or the environment:"]
    for name, problem in problems:
        hint = f" — set it to {HELP[name]}" if name in HELP else ""
        lines.append(f"  {name} {problem}{hint}" if name else f"  {problem}")
    lines.append("See .env.example for every setting.")
    return "\n".join(lines)


def redis_url_problem(url: str) -> str | None:
    """What keeps redis-py from using `url`, in words that never repeat a piece of it (a
    mistyped URL may put part of its password where the port or an option should be)."""
    try:
        parsed = urlparse(url)
    except ValueError:  # an unclosed [ of an IPv6 address
        return f"it is not a URL like {REDIS_EXAMPLE}"
    if parsed.scheme not in REDIS_OPTIONS:
        return f"it must start with redis://, rediss:// or unix://, as in {REDIS_EXAMPLE}"
    if parsed.scheme == "unix" and "@" in parsed.path:  # redis-py takes it, an @ and all
        return f"its socket path has an @ in it, as when a password has a / ({ENCODED})"
    if parsed.scheme != "unix":
        try:
            _ = parsed.port  # raises unless a number up to 65535
        except ValueError:
            return f"its port is not a number up to 65535 ({ENCODED})"
    for name, values in parse_qs(parsed.query).items():
        if name not in REDIS_OPTIONS[parsed.scheme]:
            return f"it has an option after ? that Redis does not take ({ENCODED})"
        if not _option_is_valid(name, values[0]):
            return f"its option ?{name}= has a value Redis does not take"
    return None


def _option_is_valid(name: str, value: str) -> bool:
    # redis-py's parsers: int, float, its list of ssl.VerifyFlags; the rest is taken as text.
    try:
        if name in WHOLE_NUMBER:
            number = int(value)
            return name != "protocol" or number in (2, 3)  # refused when connecting otherwise
        if name in DECIMAL:
            float(value)
    except ValueError:
        return False
    if name in VERIFY_FLAGS:
        flags = value.replace("[", "").replace("]", "").split(",")
        return all(hasattr(ssl.VerifyFlags, flag.strip()) for flag in flags)
    return True


def redis_address(url: str) -> str:
    """host:port/db of a Redis URL, or its socket, for messages: never its password."""
    parsed = urlparse(url)
    db = parse_qs(parsed.query).get("db", [""])[0]
    if parsed.scheme == "unix":
        return f"the socket {unquote(parsed.path)} db {_number(db)}"
    if not db:  # as redis-py reads it: the path's digits, else database 0
        db = unquote(parsed.path).replace("/", "")
    host = parsed.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parsed.port or 6379}/{_number(db)}"


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def redis_password(settings: Settings) -> str | None:
    """The password in REDIS_URL, if any: a secret like the tokens."""
    if settings.redis_url is None:
        return None
    return urlparse(settings.redis_url.get_secret_value()).password
