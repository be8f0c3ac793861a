"""The Re-roll and Delete buttons under a sheet; they work after restarts because everything
they need is loaded from storage by the job id in their custom_id."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol, cast

import discord

from bot.discord import answers
from bot.discord.intake import Intake, StoredPose
from bot.discord.permissions import is_moderator
from bot.sheets import texts
from bot.sheets.job import Job
from bot.sheets.records import Records
from bot.sheets.rules import Refused
from bot.sheets.servers import Servers

log = logging.getLogger(__name__)

Button = discord.ui.Button[discord.ui.View]


@dataclass(frozen=True)
class ButtonRules:
    """Who may press what, and for how long re-rolls work."""

    open_reroll: bool
    pose_retention_days: float


class SheetActions:
    """What the buttons do, and who may press them."""

    def __init__(
        self, *, store: Records, servers: Servers, intake: Intake, rules: ButtonRules
    ) -> None:
        self._store = store
        self._servers = servers
        self._intake = intake
        self._rules = rules

    async def check(self, interaction: discord.Interaction, action: str, job_id: int) -> Job:
        """The pressed sheet's job, if this member may press this button; else `Refused`."""
        job = await self._store.job(job_id)
        if job is None:
            raise Refused(texts.GONE)
        roles = await self._servers.moderator_roles(interaction.guild_id)
        if interaction.user.id == job.user_id or is_moderator(interaction, roles):
            return job
        server = await self._servers.get(interaction.guild_id)
        open_reroll = self._rules.open_reroll if server.open_reroll is None else server.open_reroll
        if action == "reroll" and open_reroll:
            return job
        raise Refused(texts.NOT_YOURS)

    async def press(self, interaction: discord.Interaction, action: str, job: Job) -> None:
        """Handle a click on one of a sheet's buttons."""
        if action == "delete":
            await interaction.response.defer()
            if interaction.message is not None:
                await interaction.message.delete()
            return
        age_days = (time.time() - job.created_at) / 86400
        pose = await self._store.pose(job.id) if job.custom_pose else None
        if age_days > self._rules.pose_retention_days or (job.custom_pose and pose is None):
            raise Refused(texts.EXPIRED)
        kept = StoredPose(pose, job.pose_note) if pose is not None else None
        await self._intake.receive(
            interaction, job.request.model_copy(update={"seed": None}), kept_pose=kept
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
        self._job: Job | None = None

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> SheetButton:
        return cls(match["action"], int(match["job"]))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        actions = cast(_HasActions, interaction.client).sheet_actions
        try:
            self._job = await actions.check(interaction, self.action, self.job_id)
        except Refused as refusal:
            await answers.refuse(interaction, refusal)
            return False
        except Exception:
            log.exception("checking the %s button of job %d failed", self.action, self.job_id)
            await answers.apologize(interaction)
            return False
        return True

    async def callback(self, interaction: discord.Interaction) -> None:
        actions = cast(_HasActions, interaction.client).sheet_actions
        assert self._job is not None, "interaction_check ran first"
        try:
            await actions.press(interaction, self.action, self._job)
        except Refused as refusal:
            await answers.refuse(interaction, refusal)
        except Exception:
            log.exception("the %s button of job %d failed", self.action, self.job_id)
            await answers.apologize(interaction)


def sheet_buttons(job_id: int) -> discord.ui.View:
    """The buttons that go under job `job_id`'s sheet."""
    view = discord.ui.View(timeout=None)
    view.add_item(SheetButton("reroll", job_id))
    view.add_item(SheetButton("delete", job_id))
    return view


def reroll_button(job_id: int) -> discord.ui.View:
    """A Re-roll button alone: under the private notice of a withheld sheet."""
    view = discord.ui.View(timeout=None)
    view.add_item(SheetButton("reroll", job_id))
    return view
