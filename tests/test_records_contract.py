"""The storage contract (`bot.sheets.records.Records`), run against both homes: a SQLite file and a
real Redis server. What one backend does, the other must do: the same admission rules (with the
same `until`s), claims, ledger, bytes and settings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sheets.characters import Character, NameTaken, ShelfFull, name_key
from bot.sheets.job import DAY, Job, JobChange, JobState, LedgerEntry, NewJob, Outcome
from bot.sheets.records import Records
from bot.sheets.request import SheetRequest
from bot.sheets.rules import (
    BudgetSpent,
    CoolingDown,
    DailyLimitReached,
    Limits,
    NotAdmitted,
    QueueFull,
    TooManyOfYours,
)
from bot.state.redis.store import RedisStore
from bot.state.sqlite.store import Store
from tests.helpers import ROOMY, new

GUILD = 2
OTHER_GUILD = 3
FINISHED = (
    JobState.DONE,
    JobState.FAILED,
    JobState.INTERRUPTED,
    JobState.REFUSED,
    JobState.WITHHELD,
)


@pytest.fixture(params=["sqlite", "redis"])
async def records(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Records]:
    """An empty store of each backend."""
    if request.param == "sqlite":
        async with Store.open(tmp_path / "bot.sqlite3") as store:
            yield store
        return
    async with RedisStore.open(request.getfixturevalue("redis_url")) as store:
        yield store


def limits(**changes: Any) -> Limits:
    return dataclasses.replace(ROOMY, **changes)


async def job_in(records: Records, state: JobState, **kwargs: Any) -> Job:
    """A job admitted (without limits) and put in a state, as the job engine would."""
    job = await records.admit(new(**kwargs), ROOMY)
    if state is not JobState.ACCEPTED:
        assert await records.move(job.id, JobState.ACCEPTED, state=state)
    return dataclasses.replace(job, state=state)


async def finished(
    records: Records,
    at: float,
    *,
    user_id: int = 1,
    guild_id: int | None = GUILD,
    cost: float = 1.0,
    outcome: JobState = JobState.DONE,
) -> LedgerEntry:
    """A job that ended at `at` (its ledger entry written by `finish`, as the engine does)."""
    job = await records.admit(new(user_id, guild_id), ROOMY)
    entry = LedgerEntry(job.id, at, guild_id, user_id, cost, outcome.value)
    await records.finish(entry, state=outcome, finished_at=at, interaction_token=None)
    return entry


def moment(at: float) -> Any:
    """A moment, to the millisecond (`pytest.approx` alone allows ~30 minutes at epoch scale)."""
    return pytest.approx(at, abs=1e-3)


async def refusal(records: Records, job: NewJob, rules: Limits) -> NotAdmitted:
    with pytest.raises(NotAdmitted) as refused:
        await records.admit(job, rules)
    return refused.value


async def burst(records: Records, jobs: list[NewJob], rules: Limits) -> list[Job]:
    """Admit all at once; returns the admitted (every other outcome must be a refusal)."""
    results = await asyncio.gather(
        *(records.admit(job, rules) for job in jobs), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, NotAdmitted):
            raise result
    return [r for r in results if isinstance(r, Job)]


# The store itself --------------------------------------------------------------------------


async def test_the_store_names_its_backend_and_sees_no_problem(
    records: Records, request: pytest.FixtureRequest
) -> None:
    assert records.backend == request.node.callspec.params["records"]
    assert records.file_problem() is None


# Jobs --------------------------------------------------------------------------------------


async def test_an_admitted_job_round_trips_every_field(records: Records) -> None:
    rich = NewJob(
        user_id=312345678901234567,
        guild_id=412345678901234567,
        channel_id=512345678901234567,
        request=SheetRequest(
            prompt="Ryū, a knight in ✨ armour — «full plate»",
            seed=4294967295,
            strength=0.35,
            negative_prompt="blurry, text",
            steps=42,
            guidance=12.5,
            upscale=1.5,
        ),
        custom_pose=True,
        upload_limit=25 * 2**20,
        interaction_token="aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OnRva2Vu",
        token_expires_at=1_764_000_000.123456,
    )
    direct = NewJob(
        user_id=7,
        guild_id=None,
        channel_id=8,
        request=SheetRequest(prompt="x", seed=0),
        custom_pose=False,
        upload_limit=8 * 2**20,
        interaction_token=None,
        token_expires_at=None,
    )
    before = time.time()
    admitted = [
        await records.admit(rich, limits(expected_cost=2.5)),
        await records.admit(direct, ROOMY),
    ]
    after = time.time()
    for job, asked in zip(admitted, (rich, direct), strict=True):
        assert job.state is JobState.ACCEPTED
        assert before <= job.created_at <= after
        assert {name: getattr(job, name) for name in vars(asked)} == vars(asked)
        assert await records.job(job.id) == job
    assert admitted[0].reserved == 2.5
    assert [await records.job(job.id) for job in admitted] == admitted


async def test_job_ids_increase_and_unknown_ids_are_nothing(records: Records) -> None:
    ids = [(await records.admit(new(user_id=n), ROOMY)).id for n in range(5)]
    ids += [job.id for job in await burst(records, [new(user_id=n) for n in range(5)], ROOMY)]
    assert ids[:5] == sorted(ids[:5]) and len(set(ids)) == 10
    assert min(ids[5:]) > max(ids[:5])
    unknown = max(ids) + 1000
    assert await records.job(unknown) is None
    assert await records.pose(unknown) is None
    assert await records.sheet(unknown) is None
    assert not await records.move(unknown, None, state=JobState.DONE)
    assert not await records.move(unknown, JobState.QUEUED, state=JobState.SENDING)
    await records.update(unknown, state=JobState.DONE, error="nobody")
    assert await records.job(unknown) is None  # a write to no job creates none
    assert [job.id for job in await records.jobs_in(JobState.DONE)] == []


async def test_move_is_a_compare_and_set(records: Records) -> None:
    job = await records.admit(new(), ROOMY)
    assert await records.move(job.id, JobState.ACCEPTED, state=JobState.QUEUED, pose_note="n")
    # Expecting a state the job is no longer in: nothing is written.
    assert not await records.move(job.id, JobState.ACCEPTED, state=JobState.FAILED, error="late")
    stored = await records.job(job.id)
    assert stored is not None
    assert (stored.state, stored.error, stored.pose_note) == (JobState.QUEUED, None, "n")
    # Workers racing for the claim: exactly one wins, and the stored fields are the winner's.
    starts = [1000.0 + n for n in range(5)]
    claims = await asyncio.gather(
        *(
            records.move(job.id, JobState.QUEUED, state=JobState.SENDING, started_at=at)
            for at in starts
        )
    )
    assert claims.count(True) == 1
    stored = await records.job(job.id)
    assert stored is not None
    assert stored.state is JobState.SENDING
    assert stored.started_at == starts[claims.index(True)]
    # No expected state: written whatever the state.
    assert await records.move(job.id, None, delivery_attempts=3)
    assert (await records.job(job.id)) == dataclasses.replace(stored, delivery_attempts=3)


async def test_updates_write_every_field_and_the_outcome_round_trips(records: Records) -> None:
    job = await job_in(records, JobState.SENDING, custom_pose=True)
    outcome = Outcome(
        seed=123456789, credits_left=987.25, seconds=12.5, content_type="image/png", cost=0.75
    )
    fields: dict[str, Any] = {
        "placeholder_id": 612345678901234567,
        "pose_note": "your pose was cropped to fit",
        "started_at": 1_764_000_001.5,
        "submitted_at": 1_764_000_002.25,
        "request_id": "req-ü-1",
        "status_url": "https://api.example/requests/1/status",
        "response_url": "https://api.example/requests/1",
        "finished_at": 1_764_000_030.0,
        "delivery_attempts": 2,
        "deliver_after": 1_764_000_090.0,
        "reserved": 0.75,
        "error": "Undelivered: no route",
        "interaction_token": None,
    }
    await records.update(
        job.id,
        state=JobState.DRAWN,
        outcome=outcome,
        cost=0.75,  # kept beside the job, never read back into it
        credits_left=987.25,
        result=b"sheet",
        **fields,
    )
    # Every field a write may change is written here (the pose: in the test of bytes below).
    assert {*fields, "state", "outcome", "cost", "credits_left", "result", "pose"} == set(
        JobChange.__annotations__
    )
    expected = dataclasses.replace(job, state=JobState.DRAWN, outcome=outcome, **fields)
    assert await records.job(job.id) == expected
    # Nones round trip too: an outcome without a balance or a cost, and fields cleared.
    unknown_cost = Outcome(
        seed=0, credits_left=None, seconds=0.0, content_type="image/jpeg", cost=None
    )
    await records.update(job.id, outcome=unknown_cost, placeholder_id=None, error=None)
    assert await records.job(job.id) == dataclasses.replace(
        expected, outcome=unknown_cost, placeholder_id=None, error=None
    )


async def test_jobs_are_listed_by_state_oldest_first(records: Records) -> None:
    jobs = [await records.admit(new(user_id=n), ROOMY) for n in range(6)]
    # Queued in another order than admitted: the listing is still oldest first.
    for index in (4, 0, 2):
        await records.move(jobs[index].id, JobState.ACCEPTED, state=JobState.QUEUED)
    await records.move(jobs[3].id, JobState.ACCEPTED, state=JobState.SENDING)
    await records.move(jobs[5].id, JobState.ACCEPTED, state=JobState.DRAWN)
    await records.update(jobs[5].id, result=b"sheet", pose=b"pose")

    def ids(listed: list[Job]) -> list[int]:
        return [job.id for job in listed]

    assert ids(await records.jobs_in(JobState.QUEUED)) == [jobs[i].id for i in (0, 2, 4)]
    assert ids(await records.jobs_in(JobState.SENDING, JobState.QUEUED)) == [
        jobs[i].id for i in (0, 2, 3, 4)
    ]
    assert ids(await records.jobs_in(JobState.ACCEPTED)) == [jobs[1].id]
    assert await records.jobs_in(JobState.DONE) == []
    (drawn,) = await records.jobs_in(JobState.DRAWN)
    assert drawn == dataclasses.replace(jobs[5], state=JobState.DRAWN)  # no bytes in a listing


async def test_pose_and_sheet_bytes_round_trip(records: Records) -> None:
    job = await records.admit(new(custom_pose=True), ROOMY)
    assert await records.pose(job.id) is None
    assert await records.sheet(job.id) is None
    every_byte = bytes(range(256)) * 4
    await records.move(job.id, JobState.ACCEPTED, state=JobState.QUEUED, pose=every_byte)
    assert await records.pose(job.id) == every_byte
    big = os.urandom(2 * 2**20)
    await records.update(job.id, state=JobState.DRAWN, result=big)
    assert await records.sheet(job.id) == big
    assert await records.pose(job.id) == every_byte
    await records.update(job.id, pose=None)
    assert await records.pose(job.id) is None
    entry = LedgerEntry(job.id, time.time(), GUILD, 1, 1.0, JobState.DONE.value)
    await records.finish(entry, state=JobState.DONE, interaction_token=None, result=None)
    assert await records.sheet(job.id) is None


async def test_forgetting_old_poses_drops_only_finished_jobs_poses(records: Records) -> None:
    jobs = {state: await job_in(records, state, custom_pose=True) for state in JobState}
    for job in jobs.values():
        await records.update(job.id, pose=b"pose-" + job.state.value.encode())
    assert await records.forget_old_poses(older_than=time.time() - 60) == 0  # all are newer
    assert await records.forget_old_poses(older_than=time.time() + 1) == len(FINISHED)
    for state, job in jobs.items():
        kept = None if state in FINISHED else b"pose-" + state.value.encode()
        assert await records.pose(job.id) == kept, state
    assert await records.forget_old_poses(older_than=time.time() + 1) == 0


# Finishing and the ledger ------------------------------------------------------------------


async def test_finish_writes_the_ledger_entry_and_the_jobs_end_together(records: Records) -> None:
    job = await job_in(records, JobState.SENDING)
    await records.update(job.id, state=JobState.DRAWN, result=b"sheet", reserved=3.0)
    at = time.time()
    entry = LedgerEntry(job.id, at, GUILD, 1, 3.0, JobState.DONE.value)
    await records.finish(entry, state=JobState.DONE, interaction_token=None, result=None)
    stored = await records.job(job.id)
    assert stored is not None
    assert (stored.state, stored.interaction_token) == (JobState.DONE, None)
    assert await records.sheet(job.id) is None
    assert await records.ledger(at - 1) == [entry]
    # A retried finish (the first write's answer was lost) leaves one entry: the last one.
    again = dataclasses.replace(entry, at=at + 1)
    await records.finish(again, state=JobState.DONE)
    assert await records.ledger(at - 1) == [again]


async def test_a_finished_job_costs_its_ledger_entry_not_its_reservation(
    records: Records,
) -> None:
    reserving = limits(budget=10.0, expected_cost=4.0)
    first = await records.admit(new(user_id=1), reserving)
    second = await records.admit(new(user_id=2), reserving)
    refused = await refusal(records, new(user_id=3), reserving)
    assert isinstance(refused, BudgetSpent) and refused.spent == pytest.approx(8.0)
    # The first costs 1 in the end: its 4 reserved stop counting, its 1 counts.
    now = time.time()
    await records.finish(
        LedgerEntry(first.id, now, GUILD, 1, 1.0, JobState.DONE.value), state=JobState.DONE
    )
    refused = await refusal(records, new(user_id=3), limits(budget=5.0, expected_cost=1.0))
    assert isinstance(refused, BudgetSpent) and refused.spent == pytest.approx(5.0)
    # The second fails unpaid: nothing of it counts any more.
    await records.finish(
        LedgerEntry(second.id, now, GUILD, 2, 0.0, JobState.FAILED.value), state=JobState.FAILED
    )
    third = await records.admit(new(user_id=3), limits(budget=5.0, expected_cost=4.0))
    assert third.reserved == 4.0


async def test_the_ledger_is_read_since_a_moment_by_server_oldest_first(
    records: Records,
) -> None:
    now = time.time()
    old = await finished(records, now - 2 * DAY)
    e1 = await finished(records, now - 300, guild_id=OTHER_GUILD, cost=2.0, user_id=5)
    e2 = await finished(records, now - 600, cost=0.5, outcome=JobState.FAILED)
    e3 = await finished(records, now - 100, guild_id=None, cost=1.5)
    e4 = await finished(records, now - 100, user_id=9, cost=0.0, outcome=JobState.INTERRUPTED)
    since = now - DAY
    assert await records.ledger(since) == [e2, e1, e3, e4]  # ties: by job id
    assert await records.ledger(since, GUILD) == [e2, e4]
    assert await records.ledger(since, OTHER_GUILD) == [e1]
    assert await records.ledger(now - 300) == [e1, e3, e4]  # `since` itself is included
    assert await records.ledger(now) == []
    assert old in await records.ledger(0)


async def test_a_members_sheets_are_listed_per_server_newest_first_in_pages(
    records: Records,
) -> None:
    now = time.time()
    mine = [await finished(records, now - 500 + n, user_id=5) for n in range(5)]
    await finished(records, now - 100, user_id=5, outcome=JobState.FAILED)  # not a sheet
    await finished(records, now - 100, user_id=6)  # another member's
    await finished(records, now - 100, user_id=5, guild_id=OTHER_GUILD)  # another server's
    dm = await finished(records, now - 100, user_id=5, guild_id=None)
    old = await finished(records, now - 3 * DAY, user_id=5)
    newest = [e.job_id for e in reversed(mine)]

    page, total = await records.sheets_of(5, GUILD, now - DAY, skip=0, take=3)
    assert ([j.id for j in page], total) == (newest[:3], 5)
    assert all(j.state is JobState.DONE and j.user_id == 5 for j in page)
    page, total = await records.sheets_of(5, GUILD, now - DAY, skip=3, take=3)
    assert ([j.id for j in page], total) == (newest[3:], 5)
    page, total = await records.sheets_of(5, GUILD, 0, skip=0, take=10)
    assert ([j.id for j in page], total) == ([*newest, old.job_id], 6)
    page, _ = await records.sheets_of(5, None, now - DAY, skip=0, take=10)
    assert [j.id for j in page] == [dm.job_id]
    assert await records.sheets_of(7, GUILD, 0, skip=0, take=10) == ([], 0)


# Saved characters --------------------------------------------------------------------------


def character(name: str, shelf: str = "member:5", **request: Any) -> Character:
    asked = SheetRequest(**{"prompt": f"{name}, a ranger", "seed": 11, **request})
    return Character(shelf=shelf, name=name, owner_id=5, request=asked, saved_at=1000.5)


async def test_a_saved_character_round_trips_with_its_pose(records: Records) -> None:
    aria = dataclasses.replace(
        character("Aria", negative_prompt="hat", strength=0.4, steps=33, guidance=9, upscale=1.5),
        has_pose=True,
        pose_note="used the first frame",
    )
    await records.save_character(aria, b"pose bytes", limit=5)
    await records.save_character(character("bram"), None, limit=5)
    assert await records.character("member:5", name_key("ARIA")) == aria
    assert await records.character_pose("member:5", aria.key) == b"pose bytes"
    assert await records.character_pose("member:5", name_key("bram")) is None
    assert [c.name for c in await records.characters_on("member:5")] == ["Aria", "bram"]
    assert await records.characters_on("member:6") == []
    assert await records.character("member:6", aria.key) is None


async def test_names_are_unique_per_shelf_whatever_their_case(records: Records) -> None:
    await records.save_character(character("Aria"), None, limit=5)
    with pytest.raises(NameTaken):
        await records.save_character(character("ARIA"), None, limit=5)
    await records.save_character(character("aria", shelf="server:2"), None, limit=5)
    await records.save_character(character("Aria", shelf="member:6"), None, limit=5)
    stored = await records.character("member:5", name_key("aria"))
    assert stored is not None and stored.name == "Aria"


async def test_a_full_shelf_refuses_until_one_is_deleted(records: Records) -> None:
    for n in range(3):
        await records.save_character(character(f"c{n}"), b"p", limit=3)
    with pytest.raises(ShelfFull):
        await records.save_character(character("c3"), None, limit=3)
    assert await records.delete_character("member:5", name_key("C1"))
    assert not await records.delete_character("member:5", name_key("C1"))
    assert await records.character_pose("member:5", name_key("c1")) is None
    await records.save_character(character("c3"), None, limit=3)
    assert [c.name for c in await records.characters_on("member:5")] == ["c0", "c2", "c3"]


async def test_a_burst_of_saves_keeps_exactly_the_limit(records: Records) -> None:
    saves = [records.save_character(character(f"b{n}"), None, limit=4) for n in range(10)]
    outcomes = await asyncio.gather(*saves, return_exceptions=True)
    assert sum(o is None for o in outcomes) == 4
    assert all(isinstance(o, ShelfFull) for o in outcomes if o is not None)
    assert len(await records.characters_on("member:5")) == 4


async def test_clearing_a_shelf_forgets_its_characters_and_poses_only(records: Records) -> None:
    for shelf in ("server:2", "server:3"):
        await records.save_character(character("Aria", shelf=shelf), b"pose", limit=5)
    await records.save_character(character("Bram", shelf="server:2"), None, limit=5)
    assert await records.clear_shelf("server:2") == 2
    assert await records.characters_on("server:2") == []
    assert await records.character_pose("server:2", name_key("aria")) is None
    assert await records.character_pose("server:3", name_key("aria")) == b"pose"


# Admission ---------------------------------------------------------------------------------


async def test_a_cooldown_holds_one_member_in_one_server(records: Records) -> None:
    cooling = limits(cooldown_seconds=60)
    before = time.time()
    await records.admit(new(user_id=1), cooling)
    after = time.time()
    refused = await refusal(records, new(user_id=1), cooling)
    assert isinstance(refused, CoolingDown)
    assert before + 60 <= refused.until <= after + 60
    # Another server, another member, direct messages: not held.
    await records.admit(new(user_id=1, guild_id=OTHER_GUILD), cooling)
    await records.admit(new(user_id=2), cooling)
    await records.admit(new(user_id=1, guild_id=None), cooling)
    assert isinstance(await refusal(records, new(1, None), cooling), CoolingDown)
    # Without a cooldown rule, a stored cooldown does not hold anyone.
    await records.admit(new(user_id=1), limits(cooldown_seconds=0))


async def test_giving_back_a_cooldown_frees_that_server_only(records: Records) -> None:
    cooling = limits(cooldown_seconds=600)
    for guild in (GUILD, OTHER_GUILD, None):
        await records.admit(new(user_id=1, guild_id=guild), cooling)
    await records.give_back_cooldown(1, GUILD)
    await records.admit(new(user_id=1), cooling)  # and it starts again
    assert isinstance(await refusal(records, new(user_id=1), cooling), CoolingDown)
    assert isinstance(await refusal(records, new(1, OTHER_GUILD), cooling), CoolingDown)
    assert isinstance(await refusal(records, new(1, None), cooling), CoolingDown)
    await records.give_back_cooldown(1, None)
    await records.admit(new(user_id=1, guild_id=None), cooling)
    await records.give_back_cooldown(99, GUILD)  # nobody's cooldown: nothing to do


async def test_a_refused_request_leaves_nothing_behind(records: Records) -> None:
    waiting = await records.admit(new(user_id=1), ROOMY)
    strict = limits(cooldown_seconds=600, max_waiting=1, budget=10.0, expected_cost=10.0)
    assert isinstance(await refusal(records, new(user_id=2), strict), QueueFull)
    assert [job.id for job in await records.jobs_in(*JobState)] == [waiting.id]
    await records.update(waiting.id, state=JobState.FAILED)
    # No cooldown was started, no place taken, nothing reserved by the refusal.
    job = await records.admit(new(user_id=2), strict)
    assert job.reserved == 10.0


async def test_too_many_of_yours_counts_the_members_active_jobs_in_every_server(
    records: Records,
) -> None:
    for state, guild in (
        (JobState.ACCEPTED, GUILD),
        (JobState.QUEUED, OTHER_GUILD),
        (JobState.SENDING, GUILD),
        (JobState.SUBMITTED, None),
    ):
        await job_in(records, state, user_id=1, guild_id=guild)
    for state in (JobState.DRAWN, *FINISHED):  # not active any more
        await job_in(records, state, user_id=1)
    await job_in(records, JobState.QUEUED, user_id=2)
    refused = await refusal(records, new(user_id=1), limits(max_per_user=4))
    assert isinstance(refused, TooManyOfYours) and refused.count == 4
    await records.admit(new(user_id=2), limits(max_per_user=4))
    await records.admit(new(user_id=1), limits(max_per_user=5))


async def test_queue_full_counts_waiting_jobs_only(records: Records) -> None:
    states = (JobState.ACCEPTED, JobState.ACCEPTED, JobState.QUEUED)
    for user, state in enumerate((*states, JobState.SENDING, JobState.SUBMITTED, JobState.DRAWN)):
        await job_in(records, state, user_id=100 + user, guild_id=GUILD + user % 2)
    refused = await refusal(records, new(user_id=1), limits(max_waiting=3))
    assert isinstance(refused, QueueFull) and refused.limit == 3
    await records.admit(new(user_id=1), limits(max_waiting=4))
    assert isinstance(await refusal(records, new(user_id=2), limits(max_waiting=4)), QueueFull)


async def test_the_rules_refuse_in_a_fixed_order(records: Records) -> None:
    # Member 1 has one job: cooling down, active, waiting, counted today, reserving 5.
    await records.admit(new(user_id=1), limits(cooldown_seconds=600, expected_cost=5.0))
    every = Limits(
        cooldown_seconds=600,
        max_waiting=1,
        max_per_user=1,
        daily_limit=1,
        budget=5.0,
        expected_cost=1.0,
    )
    steps: list[tuple[dict[str, Any], type[NotAdmitted]]] = [
        ({}, CoolingDown),
        ({"cooldown_seconds": 0}, TooManyOfYours),
        ({"max_per_user": 2}, QueueFull),
        ({"max_waiting": 2}, DailyLimitReached),
        ({"daily_limit": 2}, BudgetSpent),
    ]
    for changes, rule in steps:
        every = dataclasses.replace(every, **changes)
        assert type(await refusal(records, new(user_id=1), every)) is rule, changes
    await records.admit(new(user_id=1), dataclasses.replace(every, budget=6.0))


async def test_the_daily_limit_counts_the_members_sheets_here_and_jobs_on_their_way(
    records: Records,
) -> None:
    now = time.time()
    first = await finished(records, now - 3 * 3600)
    second = await finished(records, now - 2 * 3600)
    # Not counted: older than 24 hours, failed, another server, another member.
    await finished(records, now - DAY - 60)
    await finished(records, now - 3600, outcome=JobState.FAILED)
    await finished(records, now - 3600, guild_id=OTHER_GUILD)
    await finished(records, now - 3600, user_id=2)

    async def refused(limit: int) -> DailyLimitReached:
        no = await refusal(records, new(user_id=1), limits(daily_limit=limit))
        assert isinstance(no, DailyLimitReached)
        return no

    no = await refused(2)
    assert (no.count, no.limit) == (2, 2)
    assert no.until == moment(first.at + DAY)  # when the oldest leaves the window
    job = await records.admit(new(user_id=1), limits(daily_limit=3))
    await records.move(job.id, JobState.ACCEPTED, state=JobState.DRAWN)  # paid, not delivered
    no = await refused(3)
    assert (no.count, no.until) == (3, moment(first.at + DAY))
    no = await refused(2)
    assert (no.count, no.until) == (3, moment(second.at + DAY))
    no = await refused(1)  # the job on its way must end first: no time to tell
    assert (no.count, no.until) == (3, None)
    await records.finish(
        LedgerEntry(job.id, now, GUILD, 1, 0.0, JobState.FAILED.value), state=JobState.FAILED
    )
    await records.admit(new(user_id=1), limits(daily_limit=3))


async def test_the_daily_limit_counts_sheets_the_content_filter_withheld(records: Records) -> None:
    # Drawn and paid like a delivered sheet: a member whose sheets are withheld cannot draw
    # past the limit by it.
    await finished(records, time.time() - 3600, outcome=JobState.WITHHELD)
    no = await refusal(records, new(user_id=1), limits(daily_limit=1))
    assert isinstance(no, DailyLimitReached) and no.count == 1


async def test_the_budget_counts_the_ledger_reservations_and_the_expected_cost(
    records: Records,
) -> None:
    now = time.time()
    oldest = await finished(records, now - 5 * 3600, cost=3.0)
    older = await finished(records, now - 4 * 3600, cost=2.0, user_id=9, outcome=JobState.FAILED)
    # Not counted: older than 24 hours, another server, unpaid.
    await finished(records, now - DAY - 60, cost=100.0)
    await finished(records, now - 3600, cost=50.0, guild_id=OTHER_GUILD)
    await finished(records, now - 3600, cost=0.0, outcome=JobState.INTERRUPTED)
    reserving = await records.admit(new(user_id=4), limits(expected_cost=1.0))
    await records.move(reserving.id, JobState.ACCEPTED, state=JobState.DRAWN)
    # Committed: 3 + 2 (ledger) + 1 (reserved) = 6.

    async def refused(budget: float, spent: float = 6.0) -> BudgetSpent:
        no = await refusal(records, new(user_id=1), limits(budget=budget, expected_cost=1.0))
        assert isinstance(no, BudgetSpent)
        assert no.spent == pytest.approx(spent) and no.budget == budget
        return no

    assert (await refused(6.5)).until == moment(oldest.at + DAY)
    assert (await refused(4.0)).until == moment(oldest.at + DAY)
    assert (await refused(3.5)).until == moment(older.at + DAY)
    assert (await refused(1.5)).until is None  # the reservation alone is too much
    job = await records.admit(new(user_id=1), limits(budget=7.0, expected_cost=1.0))  # exactly
    assert job.reserved == 1.0
    assert (await refused(7.0, spent=7.0)).until == moment(oldest.at + DAY)


async def test_jobs_on_their_way_in_another_server_count_for_neither_limit_here(
    records: Records,
) -> None:
    for state in (JobState.QUEUED, JobState.DRAWN):  # reserving 5 each, in the other server
        job = await records.admit(new(user_id=1, guild_id=OTHER_GUILD), limits(expected_cost=5.0))
        await records.move(job.id, JobState.ACCEPTED, state=state)
    here = limits(daily_limit=1, budget=1.0, expected_cost=1.0)
    job = await records.admit(new(user_id=1), here)
    assert job.reserved == 1.0
    no = await refusal(records, new(user_id=1), here)  # now this server's own job counts
    assert isinstance(no, DailyLimitReached) and no.count == 1


async def test_direct_messages_keep_a_daily_limit_and_budget_of_their_own(
    records: Records,
) -> None:
    # The operator's DM_DAILY_LIMIT and DM_BUDGET_CREDITS: counted over direct messages only.
    await finished(records, time.time() - 60, user_id=9, guild_id=GUILD, cost=5.0)  # not here
    one_sheet = limits(daily_limit=1)
    job = await records.admit(new(user_id=1, guild_id=None), one_sheet)
    assert job.guild_id is None
    no = await refusal(records, new(user_id=1, guild_id=None), one_sheet)
    assert isinstance(no, DailyLimitReached) and no.count == 1
    assert str(no).startswith("In direct messages the bot allows 1 sheet per member")
    await records.admit(new(user_id=1, guild_id=GUILD), one_sheet)  # a server's own count

    await finished(records, time.time() - 60, user_id=2, guild_id=None, cost=2.0)
    dm_budget = limits(budget=2.5, expected_cost=1.0)
    spent = await refusal(records, new(user_id=3, guild_id=None), dm_budget)
    assert isinstance(spent, BudgetSpent) and spent.spent == pytest.approx(2.0)
    await records.admit(new(user_id=3, guild_id=OTHER_GUILD), dm_budget)  # a server spent none


# Bursts: each rule holds however many requests arrive at once ------------------------------


async def test_a_burst_is_admitted_exactly_as_far_as_the_budget_allows(
    records: Records,
) -> None:
    crowd = [new(user_id=n) for n in range(30)]
    admitted = await burst(records, crowd, limits(budget=10.0, expected_cost=1.0))
    assert len(admitted) == 10
    assert len(await records.jobs_in(JobState.ACCEPTED)) == 10


async def test_a_burst_never_exceeds_a_cooldown_a_daily_limit_or_the_queue(
    records: Records,
) -> None:
    one_member = [new(user_id=1) for _ in range(10)]
    assert len(await burst(records, one_member, limits(cooldown_seconds=60))) == 1
    other_member = [new(user_id=2) for _ in range(10)]
    assert len(await burst(records, other_member, limits(daily_limit=3))) == 3
    crowd = [new(user_id=n, guild_id=OTHER_GUILD) for n in range(10, 40)]
    assert len(await burst(records, crowd, limits(max_waiting=9))) == 5  # 4 wait already


# Settings, alerts, facts, leases -----------------------------------------------------------


async def test_server_settings_round_trip_per_server(records: Records) -> None:
    assert await records.server_settings(GUILD) is None
    values: dict[str, Any] = {
        "cooldown_seconds": 30.5,
        "daily_limit": 4,
        "budget": 250.75,
        "alerts_channel_id": 712345678901234567,
        "alerts_below": 100.5,
        "safety_mode": "block",
        "safety_log_channel_id": 712345678901234568,
    }
    for setting, value in values.items():
        await records.set_server_setting(GUILD, setting, value)
    await records.set_server_setting(GUILD, "open_reroll", False)
    stored = await records.server_settings(GUILD)
    assert stored is not None
    assert {name: stored[name] for name in values} == values
    assert type(stored["alerts_channel_id"]) is int and type(stored["daily_limit"]) is int
    assert type(stored["safety_log_channel_id"]) is int
    assert stored["open_reroll"] is not None and not stored["open_reroll"]
    await records.set_server_setting(GUILD, "open_reroll", True)
    await records.set_server_setting(GUILD, "cooldown_seconds", None)  # back to the default
    stored = await records.server_settings(GUILD)
    assert stored is not None
    assert stored["open_reroll"] and stored.get("cooldown_seconds") is None
    assert await records.server_settings(OTHER_GUILD) is None
    await records.set_server_setting(OTHER_GUILD, "budget", 1.0)
    other = await records.server_settings(OTHER_GUILD)
    assert other is not None and other["budget"] == 1.0
    assert other.get("alerts_channel_id") is None and not other.get("daily_limit")
    await records.record_config_change(time.time(), GUILD, 1, "budget", "0.0", "250.75")


async def test_server_lists_keep_the_order_added(records: Records) -> None:
    for value in ("dragon", "Ryū", "blood moon", "dragon"):
        await records.add_to_server_list(GUILD, "blocked_word", value)
    await records.add_to_server_list(GUILD, "channel", "812345678901234567")
    await records.add_to_server_list(OTHER_GUILD, "blocked_word", "ghost")
    assert await records.server_list(GUILD, "blocked_word") == ["dragon", "Ryū", "blood moon"]
    assert await records.server_list(GUILD, "channel") == ["812345678901234567"]
    assert await records.server_list(GUILD, "moderator_role") == []
    await records.remove_from_server_list(GUILD, "blocked_word", "Ryū")
    await records.remove_from_server_list(GUILD, "blocked_word", "never added")
    assert await records.server_list(GUILD, "blocked_word") == ["dragon", "blood moon"]
    assert await records.server_list(OTHER_GUILD, "blocked_word") == ["ghost"]


async def test_guilds_with_alerts_are_those_with_an_alerts_channel(records: Records) -> None:
    assert await records.guilds_with_alerts() == []
    for guild in (10, 11, 12):
        await records.set_server_setting(guild, "alerts_channel_id", 900 + guild)
    await records.set_server_setting(13, "budget", 5.0)
    await records.set_server_setting(11, "alerts_channel_id", None)
    assert sorted(await records.guilds_with_alerts()) == [10, 12]


async def test_safety_modes_are_those_servers_chose_each_once(records: Records) -> None:
    assert await records.safety_modes() == set()
    await records.set_server_setting(10, "safety_mode", "off")
    await records.set_server_setting(11, "safety_mode", "off")
    await records.set_server_setting(12, "budget", 5.0)
    await records.add_to_server_list(12, "blocked_word", "ghost")
    assert await records.safety_modes() == {"off"}
    await records.set_server_setting(12, "safety_mode", "block")
    await records.set_server_setting(11, "safety_mode", None)  # back to the default
    assert await records.safety_modes() == {"off", "block"}


async def test_alert_states_are_kept_per_server_and_kind(records: Records) -> None:
    assert await records.swap_alert(GUILD, "budget", True) is False  # never raised before
    assert await records.swap_alert(GUILD, "budget", True) is True
    assert await records.swap_alert(GUILD, "balance", False) is False
    assert await records.swap_alert(OTHER_GUILD, "budget", False) is False
    assert await records.swap_alert(GUILD, "budget", False) is True
    assert await records.swap_alert(GUILD, "budget", True) is False


async def test_facts_round_trip_as_json(records: Records) -> None:
    assert await records.fact("last_credits") is None
    value = {"credits": 1234.5, "at": 1_764_000_000.25, "notes": ["ü", 1, None, True]}
    await records.set_fact("last_credits", value)
    assert await records.fact("last_credits") == value
    await records.set_fact("last_credits", 7)
    assert await records.fact("last_credits") == 7
    await records.set_fact("commands", "hash-1")
    assert await records.fact("commands") == "hash-1"


async def test_a_job_can_be_held_and_released(records: Records) -> None:
    job = await records.admit(new(), ROOMY)
    assert await records.hold(job.id)
    await records.release(job.id)
    assert await records.hold(job.id)
    await records.release(job.id)


async def test_the_holders_writes_pass_through_each_claim_and_a_retried_finish(
    records: Records,
) -> None:
    # Fencing (a takeover refuses the earlier holder's writes: tests/test_redis_leases.py) is
    # invisible to a process that holds its jobs: one process (SQLite) holds all of them.
    job = await records.admit(new(), ROOMY)
    assert await records.move(job.id, JobState.ACCEPTED, state=JobState.QUEUED)
    await records.release(job.id)
    assert await records.hold(job.id)
    assert await records.hold(job.id)  # holding it again changes nothing
    assert await records.move(job.id, JobState.QUEUED, state=JobState.SENDING)
    await records.update(job.id, state=JobState.DRAWN, result=b"sheet")
    entry = LedgerEntry(job.id, time.time(), GUILD, 1, 1.0, JobState.DONE.value)
    await records.finish(entry, state=JobState.DONE, result=None)
    await records.finish(entry, state=JobState.DONE, result=None)  # its first answer lost
    await records.release(job.id)
    assert await records.ledger(0) == [entry]
    assert (await records.job(job.id)).state is JobState.DONE  # type: ignore[union-attr]


async def test_a_refusal_in_a_burst_undoes_only_its_own_request(records: Records) -> None:
    # SQLite admits a loop tick's requests in one transaction, one savepoint each.
    crowd = [new(user_id=u) for u in (1, 1, 2, 1, 3)]
    answers = await asyncio.gather(
        *(records.admit(r, limits(max_per_user=1)) for r in crowd), return_exceptions=True
    )
    said = [type(a).__name__ if isinstance(a, BaseException) else a.user_id for a in answers]
    assert said == [1, "TooManyOfYours", 2, "TooManyOfYours", 3]
    stored = await records.jobs_in(JobState.ACCEPTED)
    assert sorted(job.user_id for job in stored) == [1, 2, 3]
    assert len({job.id for job in stored}) == 3
