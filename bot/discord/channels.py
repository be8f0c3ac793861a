"""Whether a channel is age-restricted (Discord's `nsfw` flag): the one fact content safety needs
from Discord. A thread inherits its parent's flag; a direct message is never age-restricted."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)


def age_restricted(channel: object) -> bool | None:
    """What this channel object says, or None when it cannot tell (a thread whose parent is
    not cached, a partial channel)."""
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        return None if parent is None else age_restricted(parent)
    if isinstance(channel, discord.abc.GuildChannel):
        return bool(getattr(channel, "nsfw", False))
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return False
    return None


async def is_age_restricted(
    client: discord.Client, channel_id: int, *, known: object = None
) -> bool:
    """Whether a channel is age-restricted: from the object at hand or the cache, else asked of
    Discord (a worker process has no cache). False when Discord cannot be asked: a flagged
    image is then kept from view, never shown by mistake."""
    said = age_restricted(known) if known is not None else None
    if said is None:
        said = age_restricted(client.get_channel(channel_id))
    if said is not None:
        return said
    try:
        channel = await client.fetch_channel(channel_id)
        said = age_restricted(channel)
        if said is None and isinstance(channel, discord.Thread):
            parent = client.get_channel(channel.parent_id)
            if parent is None:
                parent = await client.fetch_channel(channel.parent_id)
            said = age_restricted(parent)
    except discord.HTTPException as exc:
        log.warning("could not tell whether channel %d is age-restricted (%s)", channel_id, exc)
        return False
    return bool(said)
