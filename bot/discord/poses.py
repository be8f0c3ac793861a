"""Use as pose: the picture of any message (an attachment, or an embed's image) as the pose of a
new sheet. The message menu asks for the prompt in a form; the form's answer goes through the
same intake as /character, where the picture is downloaded and checked like an uploaded pose."""

from __future__ import annotations

import mimetypes
import posixpath
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import discord
from pydantic import ValidationError

from bot.discord.forms import Form, sheet_changes, sheet_form
from bot.discord.intake import Intake, PoseSource
from bot.discord.languages import reader
from bot.sheets import texts
from bot.sheets.locales import Language
from bot.sheets.request import SheetRequest
from bot.sheets.rules import Refused

# The pattern a pose form's submit is routed by.
POSE_FORM = r"pose:form:(?P<key>[0-9a-f]{16})"
# How long an opened form stays good (a message's CDN link lasts about a day), and how many
# opened forms are remembered at most (the oldest go first).
PENDING_FOR = 3600.0
MAX_PENDING = 10_000


@dataclass(frozen=True)
class _Pending:
    user_id: int
    source: PoseSource
    opened_at: float


def pose_in(message: discord.Message) -> PoseSource | None:
    """The picture of a message to draw on: its first image attachment, else its first embed
    image or thumbnail (fetched through Discord's media proxy, never from the site it names)."""
    for attachment in message.attachments:
        if (attachment.content_type or "").lower().startswith("image/"):
            return PoseSource.of(attachment)
    for embed in message.embeds:
        shown = cast(Mapping[str, Any], embed.to_dict())
        for part in ("image", "thumbnail"):
            media = cast(Mapping[str, Any], shown.get(part) or {})
            if url := str(media.get("proxy_url") or ""):
                name = unquote(posixpath.basename(urlsplit(url).path)) or "image"
                kind = str(media.get("content_type") or "") or mimetypes.guess_type(name)[0]
                return PoseSource(url, name, kind, None, judged_by_bytes=True)
    return None


def pose_form(key: str, language: Language) -> Form:
    """The form Use as pose opens: the prompt, and optionally strength and seed."""
    return sheet_form(language, texts.POSE_FORM_TITLE, f"pose:form:{key}", negative=False)


class PoseForms:
    """Opens the Use as pose form on a message, and draws once it is sent."""

    def __init__(self, intake: Intake, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._intake = intake
        self._clock = clock
        # Opened forms by key. In memory only: the picture's link cannot be fetched again
        # (a bot without the message content intent reads no attachments over REST), so a
        # form opened before a restart is answered with words saying to open it again.
        self._pending: OrderedDict[str, _Pending] = OrderedDict()

    async def open(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The menu was used on `message`: refuse at once if it has no usable picture."""
        source = pose_in(message)
        if source is None:
            raise Refused(texts.NO_PICTURE_IN_MESSAGE)
        self._intake.precheck(interaction, source)
        key = secrets.token_hex(8)
        self._forget_old()
        self._pending[key] = _Pending(interaction.user.id, source, self._clock())
        await pose_form(key, await reader(interaction)).open(interaction)

    async def sent(
        self, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None:
        """The form was sent: draw on the message's picture."""
        self._forget_old()
        pending = self._pending.pop(match["key"], None)
        if pending is None or pending.user_id != interaction.user.id:
            raise Refused(texts.POSE_FORM_GONE)
        try:
            request = SheetRequest(**sheet_changes(values))
        except ValidationError as exc:
            raise Refused(texts.explain(exc)) from None
        await self._intake.receive(interaction, request, pending.source)

    def _forget_old(self) -> None:
        cutoff = self._clock() - PENDING_FOR
        while self._pending and (
            len(self._pending) > MAX_PENDING
            or next(iter(self._pending.values())).opened_at < cutoff
        ):
            self._pending.popitem(last=False)
