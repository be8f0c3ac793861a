"""The Lua scripts that make each step of the Redis store and line atomic across processes.

Each is a file `scripts/NAME.lua`, loaded behind a preamble built here from Python's own
constants and state sets, then `scripts/library.lua`: no number or state is restated in Lua.
Every script gets the key prefix as ARGV[1]. Keys are built inside the scripts, so the store
needs one Redis server (with replicas if wanted), not Redis Cluster.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

import redis.asyncio as redis
from redis.commands.core import AsyncScript

from bot.sheets.job import ACTIVE, DAY, DRAWN_FOR_MEMBER, SPENDING, WAITING, JobState
from bot.state.admission import COST_TOLERANCE

# What every script may use besides its own constants: each state by its name, and these.
CONSTANTS: dict[str, float | str] = {
    "DAY": DAY,
    "COST_TOLERANCE": COST_TOLERANCE,
    **{state.name: state.value for state in JobState},
}
STATE_SETS = {
    "WAITING": WAITING,
    "ACTIVE": ACTIVE,
    "SPENDING": SPENDING,
    "DRAWN_FOR_MEMBER": DRAWN_FOR_MEMBER,
}


def register(client: redis.Redis, name: str, **constants: float) -> AsyncScript:
    """The script `scripts/NAME.lua` registered with Redis (sent once, then run by its hash)."""
    return client.register_script(source(name, **constants))


def source(name: str, **constants: float) -> str:
    """The whole text of a script: the preamble, the library, then the script itself."""
    return preamble(**constants) + _file("library") + _file(name)


def preamble(**constants: float) -> str:
    """Lua locals for the shared constants, the state sets (as sets) and a script's own."""
    lines = ["-- Made from Python's values by bot.state.redis.lua when the script is loaded."]
    for name, value in {**CONSTANTS, **constants}.items():
        lines.append(f"local {_name(name)} = {_value(value)}")
    for name, states in STATE_SETS.items():
        members = ", ".join(f"[{_value(state.value)}] = true" for state in states)
        lines.append(f"local {_name(name)} = {{{members}}}")
    return "\n".join(lines) + "\n"


@cache
def _file(name: str) -> str:
    return files("bot.state.redis").joinpath("scripts", f"{name}.lua").read_text(encoding="utf-8")


def _name(name: str) -> str:
    assert name.isidentifier() and name.isupper(), name
    return name


def _value(value: float | str) -> str:
    # Lua reads a float's repr back as the same double, and an ASCII JSON string as the string.
    if isinstance(value, str):
        assert value.isascii(), value
        return json.dumps(value)
    return repr(float(value))
