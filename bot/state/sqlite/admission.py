"""Admission: the one step that decides whether a request becomes a job.

Cooldown, queue size, jobs per member, the server's daily limit and budget reservation are
checked and the job stored in one transaction, so a burst is accepted exactly as far as the
limits allow. Blocking (sqlite3): the store runs it in a thread on a connection of its own.

The twin of `bot.state.redis.admission` (bot/state/redis/scripts/admit.lua): the same rules, in
the same order, with the same numbers. A rule changed here is changed there;
tests/test_records_contract.py runs every rule on both.
"""

from __future__ import annotations

import sqlite3

from bot.sheets import rules
from bot.sheets.job import ACTIVE, DAY, DRAWN_FOR_MEMBER, SPENDING, WAITING, NewJob
from bot.sheets.rules import Limits
from bot.state.admission import COST_TOLERANCE, cooldown_place
from bot.state.codec import new_job_record


def admit(db: sqlite3.Connection, new: NewJob, limits: Limits, now: float) -> int:
    """Check every rule and store the job (inside the caller's transaction); its id, or the
    refusal of the first rule that says no, raised."""
    if limits.cooldown_seconds > 0:
        (until,) = db.execute(
            "SELECT MAX(until) FROM member_cooldowns WHERE user_id = ? AND guild_id IN (?, -1)",
            (new.user_id, cooldown_place(new.guild_id)),
        ).fetchone()
        if until is not None and until > now:
            raise rules.CoolingDown(float(until))
    waiting, mine = db.execute(
        f"SELECT COALESCE(SUM(state IN ({sql_marks(WAITING)})), 0), COALESCE(SUM(user_id = ?), 0)"
        f" FROM jobs WHERE state IN ({sql_marks(ACTIVE)})",
        (*WAITING, new.user_id, *ACTIVE),
    ).fetchone()
    if mine >= limits.max_per_user:
        raise rules.TooManyOfYours(int(mine))
    if waiting >= limits.max_waiting:
        raise rules.QueueFull(limits.max_waiting)
    _check_server_limits(db, new, limits, now)
    record = new_job_record(new, now, limits)
    cursor = db.execute(
        f"INSERT INTO jobs ({', '.join(record)}) VALUES ({sql_marks(tuple(record))})",
        tuple(record.values()),
    )
    if limits.cooldown_seconds > 0:
        db.execute(
            "INSERT INTO member_cooldowns (user_id, guild_id, until) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, guild_id) DO UPDATE SET until = excluded.until",
            (new.user_id, cooldown_place(new.guild_id), now + limits.cooldown_seconds),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _check_server_limits(db: sqlite3.Connection, new: NewJob, limits: Limits, now: float) -> None:
    # Inside admission's transaction: what is counted here cannot change before the insert.
    # A server's limits, or the operator's for direct messages (guild_id IS NULL: `IS`, not `=`).
    day_ago, direct = now - DAY, new.guild_id is None
    spending = f"state IN ({sql_marks(SPENDING)})"
    if limits.daily_limit:
        drawn = [
            at
            for (at,) in db.execute(
                "SELECT at FROM ledger WHERE guild_id IS ? AND user_id = ? AND at > ?"
                f" AND outcome IN ({sql_marks(DRAWN_FOR_MEMBER)}) ORDER BY at",
                (new.guild_id, new.user_id, day_ago, *DRAWN_FOR_MEMBER),
            )
        ]
        (active,) = db.execute(
            f"SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND user_id = ? AND {spending}",
            (new.guild_id, new.user_id, *SPENDING),
        ).fetchone()
        count = len(drawn) + active
        if count >= limits.daily_limit:
            over = count - limits.daily_limit  # how many must leave the window first
            until = drawn[over] + DAY if over < len(drawn) else None
            raise rules.DailyLimitReached(count, limits.daily_limit, until, direct=direct)
    if limits.budget:
        spent = db.execute(
            "SELECT at, cost FROM ledger WHERE guild_id IS ? AND at > ? AND cost > 0 ORDER BY at",
            (new.guild_id, day_ago),
        ).fetchall()
        (reserved,) = db.execute(
            f"SELECT COALESCE(SUM(reserved), 0) FROM jobs WHERE guild_id IS ? AND {spending}",
            (new.guild_id, *SPENDING),
        ).fetchone()
        committed = sum(cost for _, cost in spent) + reserved
        excess = committed + limits.expected_cost - limits.budget
        if excess > COST_TOLERANCE:
            until = None
            for at, cost in spent:  # the moment enough of the spend leaves the window
                excess -= cost
                if excess <= COST_TOLERANCE:
                    until = at + DAY
                    break
            raise rules.BudgetSpent(committed, limits.budget, until, direct=direct)


def sql_marks(values: tuple[object, ...]) -> str:
    """One SQL placeholder per value: "?, ?, ?"."""
    return ", ".join("?" for _ in values)
