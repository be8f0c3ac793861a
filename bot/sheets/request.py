"""What a member can ask for: every option of a sheet, defined once.

The slash command's parameters and descriptions, the CLI's flags and the Segmind request body
are all derived from `SheetRequest` (a test fails when the registered command drifts from it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.segmind import MAX_SEED, CharacterRequest
from bot.sheets.invisible import has_visible_text
from bot.sheets.locales import N_

PROMPT_CHARS = 1000


class SheetRequest(BaseModel):
    """One character sheet as a member asked for it (the seed is picked at acceptance if unset)."""

    model_config = ConfigDict(frozen=True)

    prompt: str = Field(
        min_length=1,
        max_length=PROMPT_CHARS,
        description=N_("Describe the character: looks, clothes, style."),
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description=N_(
            "Reuse a seed to reproduce a sheet (optional; a random one is picked, shown)."
        ),
    )
    strength: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description=N_("How closely to follow the pose, 0 to 1 (default 0.8)."),
    )
    negative_prompt: str | None = Field(
        default=None,
        min_length=1,
        max_length=PROMPT_CHARS,
        description=N_("What to keep out of the picture (optional)."),
    )
    steps: int = Field(
        default=20, ge=1, le=100, description=N_("Sampling steps, 1 to 100 (default 20).")
    )
    guidance: float = Field(
        default=7.0,
        ge=1,
        le=20,
        description=N_("How strictly to follow the prompt, 1 to 20 (default 7)."),
    )
    upscale: float = Field(
        default=2.0, ge=1, le=4, description=N_("Upscale factor, 1 to 4 (default 2).")
    )

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _visible(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        # The word filter reads the same characters as nothing (bot.sheets.invisible).
        if not has_visible_text(value):
            raise ValueError("has no visible text")
        return value

    def with_seed(self, seed: int) -> SheetRequest:
        """The same request with its seed fixed."""
        return self.model_copy(update={"seed": seed})

    def revised(self, **changes: object) -> SheetRequest:
        """This request with some options changed, validated as a new one (text from a form is
        read as the option's type: "42" is a seed, "0.6" a strength); raises ValidationError."""
        return SheetRequest(**{**self.model_dump(), **changes})

    def for_segmind(self, pose_jpeg: bytes) -> CharacterRequest:
        """The Segmind request body for this sheet drawn on `pose_jpeg`."""
        assert self.seed is not None, "a seed is picked when the request is accepted"
        optional: dict[str, Any] = (
            {"negative_prompt": self.negative_prompt} if self.negative_prompt else {}
        )
        return CharacterRequest.for_pose(
            pose_jpeg,
            prompt=self.prompt,
            seed=self.seed,
            strength=self.strength,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            upscale_by=self.upscale,
            **optional,
        )


def limits(name: str) -> tuple[float | None, float | None]:
    """The (min, max) of a numeric option, or of a text option's length."""
    low = high = None
    for item in SheetRequest.model_fields[name].metadata:
        for attr in ("ge", "min_length"):
            low = getattr(item, attr, low)
        for attr in ("le", "max_length"):
            high = getattr(item, attr, high)
    return low, high


def describe(name: str) -> str:
    """The description of an option, as members see it."""
    return SheetRequest.model_fields[name].description or name
