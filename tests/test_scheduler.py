"""The waiting line's order: fair across members, each job at most once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sheets.jobs import worth_telling
from bot.sheets.scheduler import Scheduler


@dataclass(frozen=True)
class Waiting:
    id: int
    user_id: int


async def test_one_members_burst_does_not_hold_back_another_member() -> None:
    line: Scheduler[Waiting] = Scheduler()
    for n in range(5):
        line.add(Waiting(n, user_id=100))
    assert line.add(Waiting(10, user_id=200)) == 1  # behind only 100's first job
    taken = [await line.take() for _ in range(6)]
    assert [job.user_id for job in taken if job][:3] == [100, 200, 100]


async def test_places_follow_the_round_robin_order() -> None:
    line: Scheduler[Waiting] = Scheduler()
    assert [line.add(Waiting(n, 1)) for n in range(3)] == [0, 1, 2]
    assert line.add(Waiting(3, 2)) == 1
    assert line.ahead(2) == 3  # member 1's third job now waits for member 2's first
    assert [job.id for job in line.order()] == [0, 3, 1, 2]


async def test_a_job_put_in_line_twice_is_handed_out_once() -> None:
    # A restart's recovery and a new request can both put the same stored job in line.
    line: Scheduler[Waiting] = Scheduler()
    line.add(Waiting(1, 1))
    assert line.add(Waiting(1, 1)) == 0
    assert line.waiting == 1
    assert await line.take() == Waiting(1, 1)
    line.close()
    assert await line.take() is None


async def test_closing_wakes_every_waiting_taker() -> None:
    line: Scheduler[Waiting] = Scheduler()
    takers = [asyncio.create_task(line.take()) for _ in range(3)]
    await asyncio.sleep(0)
    line.close()
    assert await asyncio.gather(*takers) == [None, None, None]


async def test_a_taker_waits_until_a_job_arrives() -> None:
    line: Scheduler[Waiting] = Scheduler()
    taker = asyncio.create_task(line.take())
    await asyncio.sleep(0.01)
    assert not taker.done()
    line.add(Waiting(7, 3))
    assert await asyncio.wait_for(taker, 1) == Waiting(7, 3)


async def test_a_job_a_worker_has_taken_is_not_put_in_line_again_until_it_is_done() -> None:
    line: Scheduler[Waiting] = Scheduler()
    line.add(Waiting(1, 1))
    assert await line.take() == Waiting(1, 1)
    assert line.add(Waiting(1, 1)) is None  # a retried recovery finds it again
    assert line.waiting == 0
    line.done(1)
    assert line.add(Waiting(1, 1)) == 0


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(["add", "first", "take"]), st.integers(0, 5)), max_size=40)
)
async def test_the_place_add_tells_is_the_place_in_the_order_whatever_came_before(
    steps: list[tuple[str, int]],
) -> None:
    # add works out the place without building the whole order (a burst of N was O(N²)).
    line: Scheduler[Waiting] = Scheduler()
    for n, (step, user) in enumerate(steps):
        if step == "take":
            if line.waiting:
                await line.take()
            continue
        job = Waiting(n, user)
        ahead = line.add(job, first=step == "first")
        assert ahead == [w.id for w in line.order()].index(job.id)
        assert line.waiting == len(line.order())


def test_a_member_far_back_is_told_their_place_a_few_times_and_always_when_next() -> None:
    # 300 waiting, the line moving one place at a time: telling each change was 300 edits for
    # this member alone (and 45,000 for the line); every quarter of the way is enough.
    told, tells = 300, []
    for ahead in range(299, -1, -1):
        if worth_telling(told, ahead):
            told = ahead
            tells.append(ahead)
    assert tells[-1] == 0
    assert len(tells) <= 25, tells
    assert tells[:3] == [225, 168, 126]
    # Close to the front every step is told; a place that grew is told once it grew by a third.
    assert [worth_telling(2, 1), worth_telling(1, 0), worth_telling(0, 1)] == [True, True, True]
    assert [worth_telling(6, 7), worth_telling(6, 9), worth_telling(5, 5)] == [False, True, False]
