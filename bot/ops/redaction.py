"""Keeps secrets out of the log, whatever a library or an upstream answer puts in a record.

The filter sits on the root logger's handlers (a logger's own filters never see records that
propagate from child loggers) and rewrites each record's final text before any formatter runs.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

from pydantic import SecretStr

__all__ = ["REDACTED", "SecretFilter", "install_secret_filter"]

REDACTED = "[redacted]"

# Interaction tokens ride in URL paths that discord.py logs (at DEBUG for every request, and at
# WARNING on a 429): /webhooks/<application id>/<token>/... and /interactions/<id>/<token>/callback.
_INTERACTION_TOKEN = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/?#\s'\"]+")
# ...and in the gateway events discord.py logs at DEBUG: {'token': '...'} (or JSON's "token").
_TOKEN_FIELD = re.compile(r"""(['"]token['"]\s*:\s*['"])[^'"]+""")


class SecretFilter(logging.Filter):
    """Replaces the given secrets and any Discord interaction token with "[redacted]"."""

    def __init__(self, secrets: Iterable[str | SecretStr | None]) -> None:
        super().__init__()
        values = (s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets)
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({value for value in values if value}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """`text` with every secret and interaction token replaced."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _INTERACTION_TOKEN.sub(rf"\1{REDACTED}", text)
        return _TOKEN_FIELD.sub(rf"\1{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message, exception and stack text; never drop a record."""
        message = _message(record)
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(record.exc_info[1])).rstrip("\n")
            if (redacted := self.redact(text)) != text:
                # Formatters (discord.py's coloured one too) re-render exc_info whenever it is
                # set; with it gone they print the redacted exc_text instead.
                record.exc_info, record.exc_text = None, redacted
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_secret_filter(*secrets: str | SecretStr | None) -> SecretFilter:
    """Add a `SecretFilter` for `secrets` to every handler of the root logger; return it."""
    secret_filter = SecretFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)
    return secret_filter


def _message(record: logging.LogRecord) -> str:
    """`msg % args`, or, if they do not fit together, both shown as they are."""
    try:
        return record.getMessage()
    except (TypeError, ValueError, KeyError):
        # Left as it is, the handler would print msg and args raw to stderr.
        return f"unformattable log message {record.msg!r} with arguments {record.args!r}"
