"""The rolling-minute limit on requests to Segmind, on a clock the test moves."""

from __future__ import annotations

import asyncio

from bot.sheets.pace import Pace


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_no_more_than_the_limit_start_in_any_window() -> None:
    clock = Clock()
    pace = Pace(3, window=60, clock=clock)
    for _ in range(3):  # at 1000, 1010 and 1020, each answered at once
        assert pace.next_turn() == 0
        pace.answered(await pace.turn())
        clock.now += 10
    assert pace.next_turn() == 30  # at 1030, the first request leaves the window at 1060
    clock.now += 30
    assert pace.next_turn() == 0  # a rolling window: the first request has left it
    pace.answered(await pace.turn())
    assert pace.next_turn() == 10  # the request at 1010 leaves at 1070


async def test_a_request_counts_until_a_window_after_its_answer_not_its_start() -> None:
    # Segmind counts a request when it arrives, which may be long after it was sent: with 10 a
    # minute it saw 11 within 60 s when the window was anchored at the send time.
    clock = Clock()
    pace = Pace(1, window=60, clock=clock)
    slow = await pace.turn()  # sent at 1000, still on its way
    clock.now += 61
    assert pace.next_turn() > 0  # unanswered: Segmind may count it any moment now
    pace.answered(slow)  # answered at 1061: counted at 1061 at the latest
    clock.now += 59
    assert pace.next_turn() == 1  # at 1120: it leaves the window at 1121
    pace.answered(slow)  # a later answer (the end of polling) does not move it
    assert pace.next_turn() == 1


async def test_a_request_never_answered_counts_two_windows() -> None:
    clock = Clock()
    pace = Pace(1, window=60, clock=clock)
    await pace.turn()  # its process stopped waiting for the answer
    clock.now += 119
    assert pace.next_turn() == 1
    clock.now += 1
    assert pace.next_turn() == 0


async def test_a_waiting_turn_starts_when_the_window_rolls_over() -> None:
    pace = Pace(1, window=0.2)
    pace.answered(await pace.turn())
    started = asyncio.get_running_loop().time()
    await pace.turn()
    assert asyncio.get_running_loop().time() - started >= 0.19
