"""Secrets never reach the log: real loggers, real handlers, real formatters."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import discord
import pytest
from pydantic import SecretStr

from bot.ops.redaction import REDACTED, SecretFilter, install_secret_filter

SEGMIND_KEY = "SG_4f1b2c3d4e5f6a7b"
DISCORD_TOKEN = "MTAxNTk4NzY1NDMyMTA5ODc2NQ.GhIjKl.abcdefghijklmnopqrstuvwxyz012345"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTI0NTY3ODk6ZXhhbXBsZQ-_.x"
LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A handler on the root logger, filtered the way `main()` filters it; yields what it wrote."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    secret_filter = install_secret_filter(SecretStr(SEGMIND_KEY), DISCORD_TOKEN, None)
    try:
        yield buffer
    finally:
        for each in root.handlers:  # pytest's own handlers got the filter too
            each.removeFilter(secret_filter)
        root.removeHandler(handler)
        root.setLevel(old_level)


def assert_clean(text: str) -> None:
    for secret in (SEGMIND_KEY, DISCORD_TOKEN, INTERACTION_TOKEN):
        assert secret not in text


@pytest.mark.parametrize("level", LEVELS, ids=logging.getLevelName)
def test_a_secret_in_the_arguments_is_redacted_at_every_level(
    stream: io.StringIO, level: int
) -> None:
    body = f"<pre>GET / HTTP/1.1\nx-api-key: {SEGMIND_KEY}\nAuthorization: Bot {DISCORD_TOKEN}"

    logging.getLogger("bot.segmind.client").log(level, "Segmind answered %d: %s", 200, body)

    text = stream.getvalue()
    assert_clean(text)
    assert f"Segmind answered 200: <pre>GET / HTTP/1.1\nx-api-key: {REDACTED}" in text
    assert f"Authorization: Bot {REDACTED}" in text


def test_a_secret_in_the_message_itself_is_redacted(stream: io.StringIO) -> None:
    logging.getLogger("discord.http").info(f"token is {DISCORD_TOKEN}, key is {SEGMIND_KEY}")

    assert stream.getvalue() == f"INFO discord.http: token is {REDACTED}, key is {REDACTED}\n"


def test_an_exception_whose_text_holds_the_key_is_redacted(stream: io.StringIO) -> None:
    try:
        try:
            raise KeyError(f"no such key {SEGMIND_KEY}")
        except KeyError as inner:
            raise RuntimeError(f"upstream echoed x-api-key={SEGMIND_KEY}") from inner
    except RuntimeError:
        logging.getLogger("bot.drawing").exception("Job %s failed", 7)

    text = stream.getvalue()
    assert_clean(text)
    assert text.startswith("ERROR bot.drawing: Job 7 failed\nTraceback (most recent call last):")
    assert f"RuntimeError: upstream echoed x-api-key={REDACTED}" in text
    assert f"KeyError: 'no such key {REDACTED}'" in text
    assert "The above exception was the direct cause" in text


def test_discord_coloured_formatter_prints_the_redacted_traceback() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(discord.utils._ColourFormatter())
    handler.addFilter(SecretFilter([SEGMIND_KEY]))
    logger = logging.getLogger("tests.redaction.colour")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(SEGMIND_KEY)
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)

    assert_clean(buffer.getvalue())
    assert f"ValueError: {REDACTED}" in buffer.getvalue()


def test_an_exception_without_secrets_is_left_for_the_formatter(stream: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.redaction.plain")

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record)
        return True

    logger.addFilter(keep)
    try:
        raise ValueError("nothing secret")
    except ValueError:
        logger.exception("plain %s", "failure")
    finally:
        logger.removeFilter(keep)

    [record] = seen
    assert record.exc_info is not None
    assert (record.msg, record.args) == ("plain %s", ("failure",))
    assert "ValueError: nothing secret" in stream.getvalue()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://discord.com/api/v10/webhooks/1015987654321/{INTERACTION_TOKEN}"
            "/messages/@original",
            f"/webhooks/1015987654321/{REDACTED}/messages/@original",
        ),
        (
            f"https://discord.com/api/v10/interactions/1245678901234/{INTERACTION_TOKEN}/callback",
            f"/interactions/1245678901234/{REDACTED}/callback",
        ),
        (
            f"https://discord.com/api/v10/webhooks/1015987654321/{INTERACTION_TOKEN}?wait=true",
            f"/webhooks/1015987654321/{REDACTED}?wait=true",
        ),
    ],
)
def test_interaction_tokens_in_debug_urls_are_masked(
    stream: io.StringIO, url: str, shown: str
) -> None:
    logging.getLogger("discord.http").debug("POST %s with None has returned 204", url)

    text = stream.getvalue()
    assert_clean(text)
    assert shown in text


def test_a_record_that_does_not_format_still_hides_the_key(stream: io.StringIO) -> None:
    logging.getLogger("bot").warning("%d credits", f"key {SEGMIND_KEY}")

    text = stream.getvalue()
    assert_clean(text)
    assert "unformattable log message '%d credits'" in text


def test_a_missing_secret_redacts_nothing_else(stream: io.StringIO) -> None:
    logging.getLogger("bot").info("sheet drawn for %s in %.1fs", "member", 41.25)

    assert stream.getvalue() == "INFO bot: sheet drawn for member in 41.2s\n"


def test_a_longer_secret_containing_a_shorter_one_is_replaced_whole() -> None:
    secret_filter = SecretFilter(["abc123", "xxabc123yy"])

    assert secret_filter.redact("xxabc123yy abc123") == f"{REDACTED} {REDACTED}"


@pytest.mark.parametrize(
    "event",
    [
        "{'op': 0, 't': 'INTERACTION_CREATE', 'd': {'id': '1', 'token': 'aW50ZXJhY3Rpb246secret'}}",
        '{"type": 2, "token": "aW50ZXJhY3Rpb246secret", "version": 1}',
    ],
)
def test_interaction_tokens_in_logged_gateway_events_are_masked(event: str) -> None:
    assert "aW50ZXJhY3Rpb246secret" not in SecretFilter([]).redact(f"WebSocket Event: {event}")
