"""The bot's settings, read once from the environment and `.env`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Where to get what a setting needs, shown when it is missing or wrong.
HELP = {
    "DISCORD_TOKEN": "the bot token from https://discord.com/developers/applications "
    "(your application > Bot > Reset Token)",
    "SEGMIND_API_KEY": "an API key from https://cloud.segmind.com (Console > API Keys)",
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

    @field_validator("dev_guild_id", "metrics_port", "shard_count", "redis_url", mode="before")
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

    @field_validator("segmind_api", mode="before")
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
    return name, f"is not valid: {error['msg']}"


def describe_problems(problems: list[tuple[str, str]]) -> str:
    """One line per bad setting, without echoing any value (it may be a secret)."""
    lines = ["The bot cannot start; fix these settings in .env or the environment:"]
    for name, problem in problems:
        hint = f" — set it to {HELP[name]}" if name in HELP else ""
        lines.append(f"  {name} {problem}{hint}" if name else f"  {problem}")
    lines.append("See .env.example for every setting.")
    return "\n".join(lines)


def redis_address(url: str) -> str:
    """host:port/db of a Redis URL, for messages: never its password."""
    parsed = urlsplit(url)
    return f"{parsed.hostname}:{parsed.port or 6379}{parsed.path or '/0'}"


def redis_password(settings: Settings) -> str | None:
    """The password in REDIS_URL, if any: a secret like the tokens."""
    if settings.redis_url is None:
        return None
    return urlsplit(settings.redis_url.get_secret_value()).password
