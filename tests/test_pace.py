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
    for _ in range(3):  # at 1000, 1010 and 1020
        assert pace.next_turn() == 0
        await pace.turn()
        clock.now += 10
    assert pace.next_turn() == 30  # at 1030, the first start leaves the window at 1060
    clock.now += 30
    assert pace.next_turn() == 0  # a rolling window: the first start has left it
    await pace.turn()
    assert pace.next_turn() == 10  # the start at 1010 leaves at 1070


async def test_a_waiting_turn_starts_when_the_window_rolls_over() -> None:
    pace = Pace(1, window=0.2)
    await pace.turn()
    started = asyncio.get_running_loop().time()
    await pace.turn()
    assert asyncio.get_running_loop().time() - started >= 0.19
