"""The Redis backend's Lua scripts (bot/state/redis/scripts/): they get every constant and state
set from Python when loaded, restate none, and ship with the package."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import redis.asyncio as redis

from bot.sheets.job import ACTIVE, DAY, SPENDING, WAITING, JobState
from bot.state.admission import COST_TOLERANCE
from bot.state.redis import lua
from bot.state.redis.line import MINUTE

ROOT = Path(__file__).parent.parent
SCRIPTS = ROOT / "bot" / "state" / "redis" / "scripts"


def scripts() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(SCRIPTS.glob("*.lua"))}


def test_no_script_restates_a_state_or_a_number_python_gives_it() -> None:
    numbers = {DAY, COST_TOLERANCE, MINUTE}
    for name, text in scripts().items():
        code = re.sub(r"--.*", "", text)  # comments may name what the code only uses
        for state in JobState:
            restated = rf"['\"]{state.value}['\"]|:{state.value}\b|\b{state.value}\s*=\s*true"
            assert not re.search(restated, code), (name, state)
        literals = {float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?", code)}
        assert not literals & numbers, (name, literals & numbers)


async def test_the_scripts_see_pythons_constants_and_state_sets(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        probe = lua.preamble(MINUTE=MINUTE) + (
            "return cjson.encode({DAY, COST_TOLERANCE, MINUTE, ACCEPTED, DONE,"
            " WAITING, ACTIVE, SPENDING})"
        )
        seen = json.loads(await client.eval(probe, 0))
    finally:
        await client.aclose()
    assert seen[:5] == [DAY, COST_TOLERANCE, MINUTE, "accepted", "done"]
    assert [sorted(states) for states in seen[5:]] == [
        sorted(state.value for state in states) for states in (WAITING, ACTIVE, SPENDING)
    ]


async def test_every_script_is_valid_lua(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        for name in scripts():
            if name != "library":
                await client.script_load(lua.source(name, MINUTE=MINUTE))
    finally:
        await client.aclose()


def test_an_installed_bot_has_every_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["bot"]
    found = {path for pattern in shipped for path in (ROOT / "bot").glob(pattern)}
    assert set(SCRIPTS.glob("*.lua")) <= found


async def test_a_time_a_script_returns_reads_back_as_the_same_double(redis_url: str) -> None:
    # Lua's tostring keeps 14 digits: a cooldown stored as now + 60 came back a tenth of a
    # millisecond early, and the contract test's `before + 60 <= until` failed now and then.
    at = 1796409717.330402 + 60
    client = redis.Redis.from_url(redis_url)
    try:
        probe = lua.preamble() + lua._file("library") + "return exact(tonumber(ARGV[2]))"
        seen = await client.eval(probe, 0, "test:", repr(at))
    finally:
        await client.aclose()
    assert float(seen) == at
