"""The test fakes, with the little the benchmark needs on top.

Precise times come from the wire tap (bench/tap.py). The fake Discord adds what only it knows
(the text of each message edit) and its own view of when callbacks arrived, which the report
shows beside the tap's to make the difference visible.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fake_discord import FakeDiscord, _Req
from tests.fake_segmind import FakeSegmind

# When the request being handled reached the fake's handler (its event loop may be busy).
_arrived: contextvars.ContextVar[float] = contextvars.ContextVar("arrived")


@dataclass(frozen=True)
class Edit:
    """One PATCH of an interaction's message, as the fake saw it."""

    content: str | None
    files: int
    upload_bytes: int


class TimedDiscord(FakeDiscord):
    """FakeDiscord that also notes when callbacks reach it and what each message edit said."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.callback_arrived: dict[int, float] = {}  # interaction id -> time
        self.edits: dict[str, list[Edit]] = {}  # interaction token -> PATCHes, in order

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        _arrived.set(time.monotonic())
        return await super()._rest(request)

    async def _h_callback(self, req: _Req) -> tuple[int, Any]:
        self.callback_arrived.setdefault(int(req.m["iid"]), _arrived.get())
        return await super()._h_callback(req)

    async def _h_wh_edit(self, req: _Req) -> tuple[int, Any]:
        body = req.json or {}
        edit = Edit(
            content=body.get("content"),
            files=len(req.files),
            upload_bytes=sum(len(f[3]) for f in req.files),
        )
        self.edits.setdefault(req.m["token"], []).append(edit)
        return await super()._h_wh_edit(req)


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
