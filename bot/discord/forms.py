"""The forms (modals) members fill in, and how their answers find their handler.

discord.py keeps a modal it sent in memory, by custom_id, and drops a submit it does not know
(one that arrives after a restart). These forms are routed by their custom_id instead, like the
buttons' `DynamicItem`: the custom_id carries what the handler loads from storage, and
`FormRoutes.dispatch` (called from the bot's `on_interaction`) finds the handler by pattern.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, cast

import discord

from bot.discord import answers
from bot.segmind import MAX_SEED
from bot.sheets import texts
from bot.sheets.locales import Language, Number, Text
from bot.sheets.request import PROMPT_CHARS, SheetRequest
from bot.sheets.rules import Refused

log = logging.getLogger(__name__)

# Discord's limits for a text input (its label, and its value).
LABEL_CHARS = 45
VALUE_CHARS = 4000

DEFAULT_STRENGTH = float(SheetRequest.model_fields["strength"].default)

FormHandler = Callable[[discord.Interaction, "re.Match[str]", dict[str, str]], Awaitable[None]]


class Form(discord.ui.Modal):
    """A modal sent only as a payload: its submit is routed by `FormRoutes`, never kept in
    discord.py's memory (where a restart would lose it, and a second member opening the same
    form would replace the first one's)."""

    def __init__(self, *, title: str, custom_id: str) -> None:
        super().__init__(title=title, custom_id=custom_id, timeout=None)

    def field(
        self,
        name: str,
        label: str,
        *,
        default: str | None = None,
        long: bool = False,
        required: bool = True,
        max_length: int = VALUE_CHARS,
        placeholder: str | None = None,
    ) -> None:
        """Add a text input whose answer comes back under `name`."""
        assert len(label) <= LABEL_CHARS, label  # Discord refuses the whole form otherwise
        self.add_item(
            discord.ui.TextInput(
                label=label,
                custom_id=name,
                style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
                default=default[:max_length] if default else None,
                required=required,
                max_length=max_length,
                placeholder=placeholder,
            )
        )

    async def open(self, interaction: discord.Interaction) -> None:
        """Answer `interaction` with this form."""
        self.stop()  # a finished modal is not stored by discord.py: the submit is ours to route
        await interaction.response.send_modal(self)


def sheet_form(
    language: Language,
    title: Text,
    custom_id: str,
    *,
    prompt: str | None = None,
    negative_prompt: str | None = None,
    strength: float = DEFAULT_STRENGTH,
    seed: int | None = None,
    negative: bool = True,
) -> Form:
    """A form for a sheet's prompt (and negative prompt), strength and seed, prefilled."""
    say = language.say
    form = Form(title=say(title), custom_id=custom_id)
    form.field(
        "prompt", say(texts.PROMPT_FIELD), default=prompt, long=True, max_length=PROMPT_CHARS
    )
    if negative:
        form.field(
            "negative_prompt",
            say(texts.NEGATIVE_FIELD),
            default=negative_prompt,
            long=True,
            required=False,
            max_length=PROMPT_CHARS,
        )
    form.field(
        "strength",
        say(texts.STRENGTH_FIELD),
        default=say(Number(strength, places=4)),
        required=False,
        max_length=8,
    )
    form.field(
        "seed",
        say(texts.SEED_FIELD),
        default=None if seed is None else str(seed),
        required=False,
        max_length=len(str(MAX_SEED)),
    )
    return form


def sheet_changes(values: Mapping[str, str]) -> dict[str, object]:
    """A sheet form's answers as `SheetRequest` options, still text (the request reads each as
    its type): an empty seed is a new random one, an empty strength leaves it as it was."""
    changes: dict[str, object] = {}
    if "prompt" in values:
        changes["prompt"] = values["prompt"]
    if "negative_prompt" in values:
        changes["negative_prompt"] = values["negative_prompt"].strip() or None
    if "seed" in values:
        changes["seed"] = values["seed"].strip() or None
    if strength := values.get("strength", "").strip().replace(",", "."):
        changes["strength"] = strength
    return changes


def answers_of(interaction: discord.Interaction) -> dict[str, str]:
    """The text inputs of a submitted form, by custom_id (action rows and labels alike)."""
    data = cast(Mapping[str, Any], interaction.data or {})
    return {
        str(item["custom_id"]): str(item.get("value") or "")
        for item in _inputs(data.get("components") or [])
    }


def _inputs(components: list[Any]) -> Iterator[Mapping[str, Any]]:
    for component in components:
        if component.get("type") == 1:
            yield from _inputs(component.get("components") or [])
        elif component.get("type") == 18 and component.get("component"):
            yield from _inputs([component["component"]])
        elif component.get("type") == 4 and "custom_id" in component:
            yield component


class FormRoutes:
    """Which handler answers a submitted form, by its custom_id's pattern."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], FormHandler]] = []

    def add(self, pattern: str, handler: FormHandler) -> None:
        self._routes.append((re.compile(pattern), handler))

    async def dispatch(self, interaction: discord.Interaction) -> None:
        """Answer a submitted form if it is one of ours; a refusal is told privately."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        custom_id = str(cast(Mapping[str, Any], interaction.data or {}).get("custom_id", ""))
        for pattern, handler in self._routes:
            match = pattern.fullmatch(custom_id)
            if match is None:
                continue
            try:
                await handler(interaction, match, answers_of(interaction))
            except Refused as refusal:
                await answers.refuse(interaction, refusal)
            except Exception:
                log.exception("the form %s failed", pattern.pattern)
                await answers.apologize(interaction)
            return
        log.warning("a form nobody answers was submitted (%s)", custom_id[:40])
