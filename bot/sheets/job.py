"""A job as the bot keeps it: typed, the same everywhere (no dicts between modules)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypedDict

from bot.sheets.locales import ENGLISH
from bot.sheets.request import SheetRequest


class JobState(StrEnum):
    """A job's states, in the order of its life. Only `bot.sheets.jobs.Jobs` moves a job along."""

    ACCEPTED = "accepted"  # admitted; its pose is being fetched
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker: the request may have reached Segmind
    SUBMITTED = "submitted"  # Segmind took it and gave a request id: followed up, even later
    DRAWN = "drawn"  # paid for: the sheet is stored until it is delivered
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    REFUSED = "refused"  # accepted, then refused before it was queued (e.g. a bad pose)
    WITHHELD = "withheld"  # drawn and paid, but the content filter kept it from being posted


WAITING = (JobState.ACCEPTED, JobState.QUEUED)
ACTIVE = (*WAITING, JobState.SENDING, JobState.SUBMITTED)
# Jobs whose cost is committed but not yet in the ledger.
SPENDING = (*ACTIVE, JobState.DRAWN)
# Ends of a sheet that was drawn for the member: they count against the daily limit, and keep
# the cooldown (a withheld sheet was paid for like a delivered one).
DRAWN_FOR_MEMBER = (JobState.DONE, JobState.WITHHELD)
DAY = 86400.0


@dataclass(frozen=True)
class Outcome:
    """What Segmind said about a drawn sheet."""

    seed: int
    credits_left: float | None
    seconds: float
    content_type: str
    cost: float | None


@dataclass(frozen=True)
class NewJob:
    """A request about to be admitted."""

    user_id: int
    guild_id: int | None
    channel_id: int
    request: SheetRequest  # with its seed fixed
    custom_pose: bool
    upload_limit: int
    interaction_token: str | None
    token_expires_at: float | None
    # The languages its words are said in (`bot.sheets.locales` codes), fixed when it is
    # admitted, so a late delivery or a notice after a restart keeps them: the member's own,
    # and the server's (for what the channel reads).
    language: str = field(default=ENGLISH, kw_only=True)
    server_language: str = field(default=ENGLISH, kw_only=True)


@dataclass(frozen=True)
class Job(NewJob):
    """One accepted request, as stored (without its pose and sheet bytes)."""

    id: int
    state: JobState
    created_at: float
    placeholder_id: int | None = None
    pose_note: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    outcome: Outcome | None = None
    error: str | None = None
    delivery_attempts: int = 0
    deliver_after: float | None = None
    reserved: float = 0.0
    request_id: str | None = None
    status_url: str | None = None
    response_url: str | None = None
    submitted_at: float | None = None


class JobChange(TypedDict, total=False):
    """What one write may change of a stored job: its own fields (None clears one), its pose and
    sheet bytes, and what its sheet cost (kept beside the job, never read back into it)."""

    state: JobState
    placeholder_id: int | None
    pose: bytes | None
    pose_note: str | None
    interaction_token: str | None
    started_at: float | None
    request_id: str | None
    status_url: str | None
    response_url: str | None
    submitted_at: float | None
    result: bytes | None  # the drawn sheet, until it is delivered
    outcome: Outcome | None
    cost: float | None
    credits_left: float | None
    finished_at: float | None
    reserved: float
    delivery_attempts: int
    deliver_after: float | None
    error: str | None


@dataclass(frozen=True)
class LedgerEntry:
    """One finished job in the ledger: when, where, who, what it cost, how it ended."""

    job_id: int
    at: float
    guild_id: int | None
    user_id: int
    cost: float
    outcome: str


def params_json(new: NewJob) -> str:
    """The request's options plus facts about the job (schema 1 stored the first two)."""
    facts = {
        "upload_limit": new.upload_limit,
        "custom_pose": new.custom_pose,
        "language": new.language,
        "server_language": new.server_language,
    }
    return json.dumps({**new.request.model_dump(), **facts})
