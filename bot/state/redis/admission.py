"""Admission in Redis: the twin of `bot.state.sqlite.admission` (the same rules, in the same
order, with the same numbers), as one Lua script, scripts/admit.lua, so that it is atomic across
processes. Here: what the script is given, and what its answer means.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.sheets import rules
from bot.sheets.job import NewJob
from bot.sheets.rules import Limits
from bot.state.admission import cooldown_place

# A request repeated (its answer lost with a connection) within an interaction's life gets the
# job its first admission made.
REPEAT_WITHIN = 15 * 60.0
CONSTANTS = {"REPEAT_WITHIN_MS": REPEAT_WITHIN * 1000}


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
    new id is above `floor`). A repeat of the same admission (`request_key`) is answered with
    the job the first one made."""
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
        request_key(new, now),
    ]


def request_key(new: NewJob, now: float) -> str:
    """This admission's name for its repeats: its interaction, member, server and moment (a repeat
    sends the very same arguments; another admission, even of the same token, differs)."""
    named = f"{new.interaction_token}|{new.user_id}|{new.guild_id}|{now!r}"
    return hashlib.sha256(named.encode()).hexdigest()[:32]


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
