"""The rules a request meets before it becomes a job, and the refusals when it does not.

The rules are checked atomically by the store (`bot.state.sqlite.admission`, and its Lua twin in
`bot.state.redis`); what they check and how they refuse is defined here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sheets import texts
from bot.sheets.locales import Text


@dataclass(frozen=True)
class Limits:
    """What admission checks, in one step (the last three per server; 0 = no limit)."""

    cooldown_seconds: float
    max_waiting: int
    max_per_user: int
    daily_limit: int = 0
    budget: float = 0.0
    expected_cost: float = 0.0


class Refused(Exception):
    """A request the bot will not take. It carries its own reply, `text`: what the member is
    told privately, in their language (by `bot.discord.answers.refuse`, the one place that
    tells it). `str()` is the English, for the log."""

    def __init__(self, text: Text) -> None:
        super().__init__(text)
        self.text = text


class NotAdmitted(Refused):
    """Admission said no; the subclass says which rule, and words it for the member."""


class CoolingDown(NotAdmitted):
    def __init__(self, until: float) -> None:
        super().__init__(texts.cooldown(until))
        self.until = until


class QueueFull(NotAdmitted):
    def __init__(self, limit: int) -> None:
        super().__init__(texts.queue_full(limit))
        self.limit = limit


class TooManyOfYours(NotAdmitted):
    def __init__(self, count: int) -> None:
        super().__init__(texts.too_many_of_yours(count))
        self.count = count


class DailyLimitReached(NotAdmitted):
    def __init__(
        self, count: int, limit: int, until: float | None, *, direct: bool = False
    ) -> None:
        super().__init__(texts.daily_limit(count, limit, until, direct=direct))
        self.count, self.limit, self.until = count, limit, until


class BudgetSpent(NotAdmitted):
    def __init__(
        self, spent: float, budget: float, until: float | None, *, direct: bool = False
    ) -> None:
        super().__init__(texts.budget_spent(spent, budget, until, direct=direct))
        self.spent, self.budget, self.until = spent, budget, until
