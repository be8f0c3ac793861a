"""What admission's two twins share. Each home checks the rules of `bot.sheets.rules` in one
atomic step: `bot.state.sqlite.admission` in a SQL transaction, `bot.state.redis.admission` in one
Lua script (scripts/admit.lua, given these values by Python). A rule changed in one twin is
changed in the other; tests/test_records_contract.py runs every rule on both.
"""

from __future__ import annotations

# Costs are sums of floats: a budget reached to within this is reached, not exceeded.
COST_TOLERANCE = 1e-9


def cooldown_place(guild_id: int | None) -> int:
    """Where a member's cooldown and limits hold: in one server (its settings), or (0) in
    direct messages (the operator's DM_DAILY_LIMIT and DM_BUDGET_CREDITS)."""
    return guild_id or 0
