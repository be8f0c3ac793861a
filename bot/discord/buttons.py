"""The Re-roll, Edit, Save and Delete buttons under a sheet, and the Edit form; they work after
restarts because everything they need is loaded from storage by the job id in their custom_id
(Save's form is `bot.discord.characters`')."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol, cast

import discord
from pydantic import ValidationError

from bot.discord import answers
from bot.discord.characters import CharacterDesk
from bot.discord.forms import Form, sheet_changes, sheet_form
from bot.discord.intake import Intake, StoredPose
from bot.discord.languages import reader
from bot.discord.permissions import is_moderator
from bot.sheets import texts
from bot.sheets.job import Job
from bot.sheets.locales import Language, Text, language
from bot.sheets.records import Records
from bot.sheets.rules import Refused
from bot.sheets.servers import Servers

log = logging.getLogger(__name__)

ENGLISH = language("en-US")  # a button rebuilt from its custom_id only to be dispatched

Button = discord.ui.Button[discord.ui.View]

# The buttons under a sheet, in order: what each is called and looks like.
LOOKS = {
    "reroll": (texts.REROLL, discord.ButtonStyle.primary),
    "edit": (texts.EDIT, discord.ButtonStyle.secondary),
    "save": (texts.SAVE, discord.ButtonStyle.success),
    "delete": (texts.DELETE, discord.ButtonStyle.danger),
}


@dataclass(frozen=True)
class ButtonRules:
    """Who may press what, and for how long re-rolls work."""

    open_reroll: bool
    pose_retention_days: float


class SheetActions:
    """What the buttons do, and who may press them."""

    def __init__(
        self,
        *,
        store: Records,
        servers: Servers,
        intake: Intake,
        characters: CharacterDesk,
        rules: ButtonRules,
    ) -> None:
        self._characters = characters
        self._store = store
        self._servers = servers
        self._intake = intake
        self._rules = rules

    async def check(self, interaction: discord.Interaction, action: str, job_id: int) -> Job:
        """The pressed sheet's job, if this member may press this button; else `Refused`."""
        job = await self._store.job(job_id)
        if job is None:
            raise Refused(texts.GONE)
        if action == "save":  # anyone who sees a sheet may keep it, for themselves
            return job
        roles = await self._servers.moderator_roles(interaction.guild_id)
        if interaction.user.id == job.user_id or is_moderator(interaction, roles):
            return job
        server = await self._servers.get(interaction.guild_id)
        open_reroll = self._rules.open_reroll if server.open_reroll is None else server.open_reroll
        if action in ("reroll", "edit") and open_reroll:
            return job
        raise Refused(texts.NOT_YOURS)

    async def press(self, interaction: discord.Interaction, action: str, job: Job) -> None:
        """Handle a click on one of a sheet's buttons."""
        if action == "delete":
            await interaction.response.defer()
            if interaction.message is not None:
                await interaction.message.delete()
            return
        if action == "save":
            await self._characters.open_save(interaction, job.id)
            return
        if action == "edit":
            await self._kept_pose(job, texts.EDIT_EXPIRED)  # before the member types anything
            await edit_form(job, await reader(interaction)).open(interaction)
            return
        kept = await self._kept_pose(job, texts.EXPIRED)
        await self._intake.receive(
            interaction, job.request.model_copy(update={"seed": None}), kept_pose=kept
        )

    async def edited(
        self, interaction: discord.Interaction, match: re.Match[str], values: dict[str, str]
    ) -> None:
        """The Edit form was sent: draw the sheet again on its pose, with what was changed."""
        job = await self.check(interaction, "edit", int(match["job"]))
        try:
            request = job.request.revised(**sheet_changes(values))
        except ValidationError as exc:
            raise Refused(texts.explain(exc)) from None
        kept = await self._kept_pose(job, texts.EDIT_EXPIRED)
        await self._intake.receive(interaction, request, kept_pose=kept)

    async def _kept_pose(self, job: Job, expired: Text) -> StoredPose | None:
        # The pose a sheet was drawn on (None: the default pose), if it is still kept.
        age_days = (time.time() - job.created_at) / 86400
        pose = await self._store.pose(job.id) if job.custom_pose else None
        if age_days > self._rules.pose_retention_days or (job.custom_pose and pose is None):
            raise Refused(expired)
        return StoredPose(pose, job.pose_note) if pose is not None else None


class _HasActions(Protocol):
    sheet_actions: SheetActions


class SheetButton(
    discord.ui.DynamicItem[Button],
    template=r"sheet:(?P<action>reroll|edit|save|delete):(?P<job>[0-9]+)",
):
    """A persistent button carrying its action and job id."""

    def __init__(self, action: str, job_id: int, language: Language = ENGLISH) -> None:
        label, style = LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=language.say(label), style=style, custom_id=f"sheet:{action}:{job_id}"
            )
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


def sheet_buttons(job_id: int, language: Language) -> discord.ui.View:
    """The buttons that go under job `job_id`'s sheet."""
    view = discord.ui.View(timeout=None)
    for action in LOOKS:
        view.add_item(SheetButton(action, job_id, language))
    return view


def reroll_button(job_id: int, language: Language) -> discord.ui.View:
    """A Re-roll button alone: under the private notice of a withheld sheet."""
    view = discord.ui.View(timeout=None)
    view.add_item(SheetButton("reroll", job_id, language))
    return view


# The form an Edit button opens, and the pattern its submit is routed by.
EDIT_FORM = r"sheet:edit-form:(?P<job>[0-9]+)"


def edit_form(job: Job, language: Language) -> Form:
    """The Edit form of a sheet: its prompt, negative prompt, strength and seed, prefilled."""
    request = job.request
    return sheet_form(
        language,
        texts.EDIT_FORM_TITLE,
        f"sheet:edit-form:{job.id}",
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        strength=request.strength,
        seed=request.seed,
    )
