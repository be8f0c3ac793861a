"""What admission's two twins share. Each home checks the rules of `bot.sheets.rules` in one
atomic step: `bot.state.sqlite.admission` in a SQL transaction, `bot/state/redis/scripts/admit.lua`
in one Lua script (which gets these constants from Python when it is loaded). A rule changed in
one twin is changed in the other; tests/test_records_contract.py runs every rule on both.
"""

from __future__ import annotations

# Costs are sums of floats: a budget reached to within this is reached, not exceeded.
COST_TOLERANCE = 1e-9
