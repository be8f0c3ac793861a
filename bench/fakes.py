"""The test fakes, with the little the benchmark needs on top.

Precise times come from the wire tap (bench/tap.py). The fake Discord's request log adds what
only it knows (the text of each message edit) and its own view of when callbacks arrived, which
the report shows beside the tap's to make the difference visible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.fake_discord import FakeDiscord
from tests.fake_segmind import FakeSegmind

_CALLBACK = re.compile(r"^/interactions/(\d+)/[^/]+/callback$")
_EDIT = re.compile(r"^/webhooks/\d+/([^/]+)/messages/[^/]+$")


@dataclass(frozen=True)
class Edit:
    """One PATCH of an interaction's message, as the fake saw it."""

    content: str | None
    files: int
    upload_bytes: int


def _handled(discord: FakeDiscord) -> list[dict[str, Any]]:
    # Requests that reached a handler (a rate-limited one never did).
    return [entry for entry in discord.request_log if entry.get("status") != 429]


def callbacks_arrived(discord: FakeDiscord) -> dict[int, float]:
    """Interaction id -> when its first callback reached the fake (monotonic time)."""
    arrived: dict[int, float] = {}
    for entry in _handled(discord):
        match = _CALLBACK.match(entry["path"])
        if entry["method"] == "POST" and match:
            arrived.setdefault(int(match[1]), entry["at"])
    return arrived


def message_edits(discord: FakeDiscord) -> dict[str, list[Edit]]:
    """Interaction token -> the PATCHes of its messages, in the order they reached the fake."""
    edits: dict[str, list[Edit]] = {}
    for entry in _handled(discord):
        match = _EDIT.match(entry["path"])
        if entry["method"] != "PATCH" or not match:
            continue
        body = entry.get("json") or {}
        sizes = entry.get("upload_sizes") or []
        edits.setdefault(match[1], []).append(Edit(body.get("content"), len(sizes), sum(sizes)))
    return edits


class QuickSegmind(FakeSegmind):
    """FakeSegmind that draws one sheet and sends it for every seed.

    The benchmark's process shares the machine's cores with the bot: it should spend them on
    answering requests, not on drawing a picture per request.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sheet: bytes | None = None

    async def _render(self, seed: int) -> bytes:
        if self._sheet is None:
            self._sheet = await super()._render(0)
        return self._sheet
