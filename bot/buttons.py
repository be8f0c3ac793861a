"""The Re-roll and Delete buttons under a sheet; they work after restarts because everything
they need is loaded from storage by the job id in their custom_id."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol, cast

import discord

from bot import replies
from bot.intake import Intake, Order
from bot.permissions import is_moderator
from bot.storage import Store

log = logging.getLogger(__name__)

Button = discord.ui.Button[discord.ui.View]


@dataclass(frozen=True)
class ButtonRules:
    """Who may press what, and for how long re-rolls work."""

    open_reroll: bool
    moderator_role_ids: frozenset[int]
    pose_retention_days: float


class SheetActions:
    """What the buttons do."""

    def __init__(self, *, store: Store, intake: Intake, rules: ButtonRules) -> None:
        self._store = store
        self._intake = intake
        self._rules = rules

    async def press(self, interaction: discord.Interaction, action: str, job_id: int) -> None:
        """Handle a click on one of a sheet's buttons."""
        job = await self._store.job(job_id)
        if job is None:
            await _private(interaction, replies.GONE)
            return
        owner = interaction.user.id == job.user_id
        moderator = is_moderator(interaction, self._rules.moderator_role_ids)
        if action == "delete":
            if not (owner or moderator):
                await _private(interaction, replies.NOT_YOURS)
                return
            await interaction.response.defer()
            if interaction.message is not None:
                await interaction.message.delete()
            return
        if not (owner or moderator or self._rules.open_reroll):
            await _private(interaction, replies.NOT_YOURS)
            return
        age_days = (time.time() - job.created_at) / 86400
        if age_days > self._rules.pose_retention_days or (
            job.params.get("custom_pose") and job.pose is None
        ):
            await _private(interaction, replies.EXPIRED)
            return
        fields = {name: job.params[name] for name in Order.model_fields if name != "seed"}
        await self._intake.take(
            interaction,
            Order(**fields),
            pose=job.pose if job.params.get("custom_pose") else None,
            pose_note=job.pose_note,
        )


class _HasActions(Protocol):
    sheet_actions: SheetActions


class SheetButton(
    discord.ui.DynamicItem[Button], template=r"sheet:(?P<action>reroll|delete):(?P<job>[0-9]+)"
):
    """A persistent button carrying its action and job id."""

    def __init__(self, action: str, job_id: int) -> None:
        label, style = (
            ("Re-roll", discord.ButtonStyle.primary)
            if action == "reroll"
            else ("Delete", discord.ButtonStyle.danger)
        )
        super().__init__(
            discord.ui.Button(label=label, style=style, custom_id=f"sheet:{action}:{job_id}")
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> SheetButton:
        return cls(match["action"], int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        client = cast(_HasActions, interaction.client)
        try:
            await client.sheet_actions.press(interaction, self.action, self.job_id)
        except Exception:
            log.exception("the %s button of job %d failed", self.action, self.job_id)
            await replies.apologize(interaction)


def sheet_buttons(job_id: int) -> discord.ui.View:
    """The buttons that go under job `job_id`'s sheet."""
    view = discord.ui.View(timeout=None)
    view.add_item(SheetButton("reroll", job_id))
    view.add_item(SheetButton("delete", job_id))
    return view


async def _private(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=replies.NOBODY)
