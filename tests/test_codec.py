"""The one codec of stored jobs (`bot.state.codec`): what both homes write, read back the same
whether the values come typed (SQLite) or as text (Redis)."""

from __future__ import annotations

from typing import Any, get_type_hints

import pytest

from bot.sheets.job import Job, JobChange, JobState, Outcome
from bot.state import codec
from bot.state.redis import store as redis_store
from tests.test_stored_forms import GUILD, asked

RICH = Job(
    **vars(asked(GUILD)),
    id=7,
    state=JobState.DRAWN,
    created_at=1_764_000_000.25,
    placeholder_id=612345678901234567,
    pose_note="your pose was cropped",
    started_at=1_764_000_001.5,
    finished_at=1_764_000_030.0,
    outcome=Outcome(
        seed=123456789, credits_left=987.25, seconds=12.5, content_type="image/png", cost=0.75
    ),
    error="Undelivered: no route",
    delivery_attempts=2,
    deliver_after=1_764_000_090.0,
    reserved=0.75,
    request_id="req-ü-1",
    status_url="https://api.example/requests/1/status",
    response_url="https://api.example/requests/1",
    submitted_at=1_764_000_002.25,
)
SPARSE = Job(
    **vars(asked(None)) | {"interaction_token": None, "token_expires_at": None},
    id=1,
    state=JobState.ACCEPTED,
    created_at=1_764_000_000.0,
)


def as_text(record: dict[str, Any]) -> dict[str, str]:
    """A record as Redis gives it back: text, with no value for None."""
    return {name: str(value) for name, value in record.items() if value is not None}


def test_a_change_names_each_field_of_a_job_with_the_jobs_own_type() -> None:
    change, job = get_type_hints(JobChange), get_type_hints(Job)
    shared = change.keys() & job.keys()
    assert shared == change.keys() - {"pose", "result", "cost", "credits_left"}
    assert {name: change[name] for name in shared} == {name: job[name] for name in shared}


@pytest.mark.parametrize("job", [RICH, SPARSE], ids=["every-field", "nones"])
def test_a_stored_job_reads_back_the_same_from_typed_values_and_from_text(job: Job) -> None:
    record = codec.job_record(job)
    assert set(record) == set(codec.FIELDS)
    assert codec.read_job(record) == job
    assert codec.read_job(as_text(record)) == job


def test_a_job_stored_before_its_upload_limit_was_has_the_default_one() -> None:
    record = codec.job_record(SPARSE) | {"params": '{"prompt": "x", "seed": 0}'}
    assert codec.read_job(record).upload_limit == 10 * 2**20


def test_a_change_is_stored_with_its_outcome_as_json_and_its_bytes_as_they_are() -> None:
    assert RICH.outcome is not None
    stored = codec.change_record({"outcome": RICH.outcome, "result": b"sheet", "error": None})
    assert stored == {
        "outcome": '{"seed": 123456789, "credits_left": 987.25, "seconds": 12.5,'
        ' "content_type": "image/png", "cost": 0.75}',
        "result": b"sheet",
        "error": None,
    }
    with pytest.raises(AssertionError, match="not a job field"):
        codec.change_record({"colour": "red"})  # type: ignore[typeddict-unknown-key]


def test_redis_keeps_each_of_a_jobs_bytes_in_a_key_of_its_own() -> None:
    assert {"pose", "result"} == codec.BLOBS
    assert set(redis_store._BLOB_KEYS) == codec.BLOBS
