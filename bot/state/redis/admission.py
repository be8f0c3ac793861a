"""Admission in Redis: the twin of `bot.state.sqlite.admission` (the same rules, in the same
order, with the same numbers), as one Lua script, scripts/admit.lua, so that it is atomic across
processes. Here: what the script is given, and what its answer means.
"""

from __future__ import annotations

from typing import Any

from bot.sheets import rules
from bot.sheets.job import NewJob
from bot.sheets.rules import Limits
from bot.state.admission import cooldown_place


def arguments(
    new: NewJob,
    limits: Limits,
    now: float,
    fields: str,
    holder: str,
    lease_seconds: float,
    floor: int = 0,
) -> list[Any]:
    """ARGV after the key prefix, as admit.lua reads it (`fields`: the job's, as JSON; the
    new id is above `floor`)."""
    return [
        now,
        new.user_id,
        "" if new.guild_id is None else new.guild_id,
        limits.cooldown_seconds,
        limits.max_waiting,
        limits.max_per_user,
        limits.daily_limit,
        limits.budget,
        limits.expected_cost,
        fields,
        holder,
        lease_seconds,
        cooldown_place(new.guild_id),
        floor,
    ]


def admitted(answer: list[str], new: NewJob, limits: Limits) -> int:
    """The new job's id, from admit.lua's answer; or the refusal it names, raised."""
    direct = new.guild_id is None
    kind, *values = answer
    if kind == "ok":
        return int(values[0])
    numbers = [float(v) if v not in ("", "nil") else None for v in values]
    if kind == "cooldown":
        raise rules.CoolingDown(numbers[0] or 0.0)
    if kind == "mine":
        raise rules.TooManyOfYours(int(numbers[0] or 0))
    if kind == "queue":
        raise rules.QueueFull(limits.max_waiting)
    if kind == "daily":
        raise rules.DailyLimitReached(
            int(numbers[0] or 0), limits.daily_limit, numbers[1], direct=direct
        )
    assert kind == "budget", kind
    raise rules.BudgetSpent(numbers[0] or 0.0, limits.budget, numbers[1], direct=direct)
