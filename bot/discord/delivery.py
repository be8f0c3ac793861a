"""Getting words and sheets to the member: through the interaction while its token lives,
else in the channel with a mention, else by direct message."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import discord

from bot.discord import answers, embeds
from bot.sheets import texts
from bot.sheets.imaging import FittedImage, fit_to_limit
from bot.sheets.job import Job
from bot.sheets.locales import Language, Text, language, ready
from bot.sheets.members import Undelivered

log = logging.getLogger(__name__)

# Deliver through the interaction only while its token has this much life left.
TOKEN_MARGIN = 60.0
UNKNOWN_MESSAGE = 10008
# A 429 without Discord's Via header is waited out this often, at most this long each time.
PROXY_429_RETRIES = 3
MAX_PROXY_WAIT = 60.0


@dataclass(frozen=True)
class Parcel:
    """What to send: words (said in the reader's language), optionally with the sheet and its
    buttons (made in the member's)."""

    content: Text | None
    embed: discord.Embed | None = None
    image: bytes | None = None
    filename: str = "character-sheet.jpg"
    view: discord.ui.View | None = None

    def file(self) -> discord.File | None:
        # A fresh File for each attempt: a sent File's stream is spent.
        return None if self.image is None else discord.File(io.BytesIO(self.image), self.filename)


async def _patiently(send: Callable[[], Awaitable[object]]) -> None:
    """Send, waiting out a 429 that discord.py does not: one without Discord's `Via` header
    (a proxy's own limit), which it raises at once."""
    for _ in range(PROXY_429_RETRIES):
        try:
            await send()
            return
        except discord.HTTPException as exc:
            wait = _retry_after(exc)
            if exc.status != 429 or wait is None:
                raise
            log.info("rate limited by a proxy; retrying in %.1fs", wait)
            await asyncio.sleep(wait)
    await send()


def _retry_after(exc: discord.HTTPException) -> float | None:
    try:
        wait = float(exc.response.headers.get("Retry-After", "1"))
    except (AttributeError, ValueError):
        return None
    return wait if 0 <= wait <= MAX_PROXY_WAIT else None


class Courier:
    """Sends placeholder edits and final messages for stored jobs, even after a restart."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def _webhook(self, job: Job, *, application: bool = False) -> discord.Webhook | None:
        if not job.interaction_token or job.token_expires_at is None:
            return None
        if job.token_expires_at - time.time() < TOKEN_MARGIN:
            return None
        app_id = self._client.application_id
        assert app_id is not None
        if application:
            # The interaction's own webhook, as `Interaction.followup` builds it: only an
            # application webhook may send ephemeral messages.
            data = {"id": app_id, "type": 3, "token": job.interaction_token}
            return discord.Webhook.from_state(
                data=data,  # type: ignore[arg-type]
                state=self._client._connection,
            )
        return discord.Webhook.partial(app_id, job.interaction_token, client=self._client)

    async def edit_placeholder(self, job: Job, content: Text) -> None:
        """Change the member's placeholder text, if it can still be edited (once, no retry)."""
        webhook = self._webhook(job)
        if webhook is None or job.placeholder_id is None:
            return
        await ready(job.language)
        try:
            await webhook.edit_message(
                job.placeholder_id, content=_member(job, content), allowed_mentions=answers.NOBODY
            )
        except discord.HTTPException as exc:
            log.info("job %d: placeholder not updated (%s)", job.id, exc.status)

    async def deliver(self, job: Job, parcel: Parcel, *, by_dm: bool = True) -> str:
        """Send the parcel by the best route open; return its name, or raise `Undelivered`.
        Without `by_dm` (a flagged sheet: a DM is not an age-restricted channel), only the
        interaction and the job's own channel are tried."""
        await ready(job.language)
        if await self._by_interaction(job, parcel):
            return "interaction"
        # Said in the channel, to everyone there: in the server's language.
        said = await ready(job.server_language)
        words = said.say(parcel.content) if parcel.content else ""
        mention = f"<@{job.user_id}> {words}".strip()
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        if await self._send(job, channel, mention, parcel, "channel"):
            return "channel"
        if by_dm and await self.direct(job, parcel):
            return "dm"
        raise Undelivered(f"job {job.id}: no route reached user {job.user_id}")

    async def tell_privately(self, job: Job, parcel: Parcel) -> str:
        """Words for the member alone: the public placeholder goes and an ephemeral follow-up
        takes its place while the token lives; else a direct message (without buttons: a
        Re-roll pressed there would draw under the rules of direct messages)."""
        await ready(job.language)
        webhook = self._webhook(job, application=True)
        if webhook is not None:
            try:
                # The public placeholder goes first: were it still "thinking", Discord would
                # turn the first follow-up into it, public. Unknown id: the original response
                # ("@original", as discord.py's `delete_original_response` names it).
                placeholder = job.placeholder_id or cast(int, "@original")
                with contextlib.suppress(discord.NotFound):  # already gone
                    await webhook.delete_message(placeholder)
                await _patiently(
                    lambda: webhook.send(
                        content=_member(job, parcel.content),
                        view=parcel.view or discord.utils.MISSING,
                        ephemeral=True,
                        allowed_mentions=answers.NOBODY,
                        wait=True,
                    )
                )
                return "interaction"
            except discord.HTTPException as exc:
                log.info("job %d: private notice by interaction failed (%s)", job.id, exc.status)
        if await self.direct(job, Parcel(content=parcel.content)):
            return "dm"
        raise Undelivered(f"job {job.id}: no private route reached user {job.user_id}")

    async def post(self, channel_id: int, guild_id: int | None, text: Text, code: str) -> bool:
        """Say something in a channel, pinging nobody, in language `code`; whether it went."""
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            words = (await ready(code)).say(text)
            await channel.send(content=words, allowed_mentions=answers.NOBODY)
        except discord.HTTPException as exc:
            log.warning("could not post in channel %d (%s)", channel_id, exc.status)
            return False
        return True

    async def direct(self, job: Job, parcel: Parcel) -> bool:
        """Send the parcel to the member by direct message; return whether it went."""
        await ready(job.language)
        try:
            user = await self._client.fetch_user(job.user_id)
            dm = await user.create_dm()
        except discord.HTTPException as exc:
            log.info("job %d: no DM channel (%s)", job.id, exc.status)
            return False
        return await self._send(job, dm, _member(job, parcel.content), parcel, "DM")

    async def _by_interaction(self, job: Job, parcel: Parcel) -> bool:
        webhook = self._webhook(job)
        if webhook is None:
            return False
        try:
            if job.placeholder_id is not None:
                placeholder_id = job.placeholder_id
                await _patiently(
                    lambda: webhook.edit_message(
                        placeholder_id,
                        content=_member(job, parcel.content) or None,
                        embed=parcel.embed,
                        attachments=[file] if (file := parcel.file()) else [],
                        view=parcel.view,
                        allowed_mentions=answers.NOBODY,
                    )
                )
                return True
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_MESSAGE:
                log.info("job %d: interaction delivery failed (%s)", job.id, exc)
                return False
            log.info("job %d: the placeholder was deleted; sending a new message", job.id)
        except discord.HTTPException as exc:
            log.info("job %d: interaction delivery failed (%s); trying the channel", job.id, exc)
            return False
        return await self._followup(job, webhook, parcel)

    async def _followup(self, job: Job, webhook: discord.Webhook, parcel: Parcel) -> bool:
        try:
            await _patiently(
                lambda: webhook.send(
                    content=_member(job, parcel.content) or discord.utils.MISSING,
                    embed=parcel.embed or discord.utils.MISSING,
                    file=parcel.file() or discord.utils.MISSING,
                    view=parcel.view or discord.utils.MISSING,
                    allowed_mentions=answers.NOBODY,
                    wait=True,
                )
            )
        except discord.HTTPException as exc:
            log.info("job %d: follow-up failed (%s); trying the channel", job.id, exc)
            return False
        return True

    async def _send(
        self,
        job: Job,
        target: discord.abc.Messageable,
        content: str,
        parcel: Parcel,
        route: str,
    ) -> bool:
        file = parcel.file()
        try:
            await target.send(
                content=content or None,
                embed=parcel.embed,  # type: ignore[arg-type]
                file=file,  # type: ignore[arg-type]
                view=parcel.view,  # type: ignore[arg-type]
                allowed_mentions=answers.only(job.user_id),
            )
        except discord.HTTPException as exc:
            log.info("job %d: %s delivery failed (%s)", job.id, route, exc.status)
            return False
        return True


def _member(job: Job, text: Text | None) -> str:
    # Words for the member alone (their placeholder, a follow-up, a DM): in their language.
    return language(job.language).say(text) if text is not None else ""


async def sheet_parcel(
    job: Job, image: bytes, buttons: discord.ui.View, language: Language, *, spoiler: bool = False
) -> Parcel:
    """A drawn sheet ready to send: fitted to the upload limit, with its card and buttons.
    A `spoiler` is a `SPOILER_` file that the card does not show (an embed's image is never
    blurred: the attachment, shown on its own, is)."""
    assert job.outcome is not None
    outcome = job.outcome
    try:
        fitted = await asyncio.to_thread(
            fit_to_limit, image, outcome.content_type, job.upload_limit
        )
    except ValueError:
        if len(image) > job.upload_limit:
            raise
        # Segmind's client checked it is a picture: a re-encoding error of ours must not
        # cost the member a paid sheet that fits as it is.
        log.exception("job %d: the sheet could not be checked; sending it as it is", job.id)
        kind = outcome.content_type.removeprefix("image/").replace("jpeg", "jpg")
        fitted = FittedImage(image, f"character-sheet.{kind}", outcome.content_type, False)
    notes = [texts.first_frame(job.pose_note)] if job.pose_note else []
    if not job.custom_pose:
        notes.append(texts.DEFAULT_POSE_NOTE)
    if fitted.scaled:
        notes.append(texts.RESIZED_NOTE)
    filename = fitted.filename
    if spoiler:
        notes.append(texts.SPOILER_NOTE)
        filename = "SPOILER_" + filename
    embed = embeds.sheet_embed(
        prompt=job.request.prompt,
        seed=outcome.seed,
        strength=job.request.strength,
        credits_left=outcome.credits_left,
        seconds=outcome.seconds,
        requester_id=job.user_id,
        filename=None if spoiler else filename,
        notes=notes,
        language=language,
    )
    return Parcel(content=None, embed=embed, image=fitted.data, filename=filename, view=buttons)
