"""A job as both homes store it (a row of `jobs` in SQLite, a hash `job:ID` in Redis), and back.

A stored job is a record of named values: the job's own fields, its request with two facts about
it as one JSON text, `params` (as schema 1 stored them), and its outcome as JSON. SQLite gives
the values back typed, Redis as text: each is read by the type `Job` declares for it, so the
fields and their types are those of `bot.sheets.job`, written nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, get_args, get_type_hints

from bot.sheets.job import Job, JobChange, JobState, NewJob, Outcome, params_json
from bot.sheets.locales import ENGLISH
from bot.sheets.request import SheetRequest
from bot.sheets.rules import Limits

# Fields of a job kept in its `params` text rather than as values of their own.
_IN_PARAMS = ("request", "upload_limit", "custom_pose", "language", "server_language")
_DEFAULT_UPLOAD_LIMIT = 10 * 2**20  # schema 1's jobs did not store theirs
_OWN = tuple(f for f in dataclasses.fields(Job) if f.name not in _IN_PARAMS)
_REQUIRED = frozenset(
    f.name
    for f in _OWN
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)

# What a listing reads of a stored job: never its pose or sheet bytes.
FIELDS = (*(f.name for f in _OWN), "params")
# What a write may change (`JobChange`), and which of those are bytes (kept apart by Redis).
WRITABLE = frozenset(JobChange.__annotations__)
BLOBS = frozenset(
    name for name, hint in get_type_hints(JobChange).items() if bytes in (*get_args(hint), hint)
)


def read_job(record: Mapping[str, Any]) -> Job:
    """The job a stored record holds (SQLite's typed values or Redis's text)."""
    values: dict[str, Any] = {}
    for name, read in _READERS.items():
        raw = record.get(name)
        if raw is not None:
            values[name] = read(raw)
        elif name in _REQUIRED:  # may be None, but must be given
            values[name] = None
    params = json.loads(record["params"])
    return Job(
        **values,
        request=SheetRequest.model_validate(
            {name: params[name] for name in SheetRequest.model_fields if name in params}
        ),
        upload_limit=int(params.get("upload_limit") or _DEFAULT_UPLOAD_LIMIT),
        custom_pose=bool(params.get("custom_pose")),
        # Jobs from before translations were told in English.
        language=str(params.get("language") or ENGLISH),
        server_language=str(params.get("server_language") or ENGLISH),
    )


def job_record(job: Job) -> dict[str, Any]:
    """A whole job as stored (its bytes apart), for the copy of a finished job into Redis."""
    record = {f.name: getattr(job, f.name) for f in _OWN}
    record["params"] = params_json(job)
    return _stored_outcome(record)


def new_job_record(new: NewJob, now: float, limits: Limits) -> dict[str, Any]:
    """What admission stores of a job it admits (the store gives it its id)."""
    return {
        "user_id": new.user_id,
        "guild_id": new.guild_id,
        "channel_id": new.channel_id,
        "params": params_json(new),
        "state": JobState.ACCEPTED,
        "interaction_token": new.interaction_token,
        "token_expires_at": new.token_expires_at,
        "created_at": now,
        "reserved": limits.expected_cost,
    }


def new_job(new: NewJob, job_id: int, now: float, limits: Limits) -> Job:
    """The job admission stored, as `new_job_record` stored it."""
    return Job(
        **vars(new),
        id=job_id,
        state=JobState.ACCEPTED,
        created_at=now,
        reserved=limits.expected_cost,
    )


def change_record(change: JobChange) -> dict[str, Any]:
    """The stored values of a change (None: clear the value; bytes as they are)."""
    unknown = set(change) - WRITABLE
    assert not unknown, f"not a job field: {unknown}"
    return _stored_outcome(dict(change))


def _stored_outcome(record: dict[str, Any]) -> dict[str, Any]:
    if isinstance(record.get("outcome"), Outcome):
        record["outcome"] = json.dumps(vars(record["outcome"]))
    return record


def _outcome(stored: str) -> Outcome | None:
    outcome = json.loads(stored) if stored else None
    return Outcome(**outcome) if outcome else None


def _reader(hint: Any) -> Callable[[Any], Any]:
    """How a stored value becomes a field of this type (of `int | None`: int)."""
    (kind,) = (k for k in get_args(hint) or (hint,) if k is not type(None))
    return _outcome if kind is Outcome else kind


_HINTS = get_type_hints(Job)
_READERS = {f.name: _reader(_HINTS[f.name]) for f in _OWN}
