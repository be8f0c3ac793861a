"""Who counts as a moderator."""

from __future__ import annotations

import discord


def is_moderator(interaction: discord.Interaction, role_ids: frozenset[int]) -> bool:
    """Manage Server in this channel, or one of the configured moderator roles (never
    @everyone, whose id is the server's: it would make every member a moderator)."""
    if interaction.guild_id is None or not isinstance(interaction.user, discord.Member):
        return False
    if interaction.permissions.manage_guild:
        return True
    return any(
        role.id in role_ids and role.id != interaction.guild_id for role in interaction.user.roles
    )
