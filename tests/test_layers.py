"""The layers in the tree, imports pointing one way (STYLE.md, README "Layout"):

entry (bot.__main__, bot.ops.cli, bot.ops.state_commands) → cogs → bot.discord → bot.state →
bot.sheets → bot.segmind → the basics (settings, metrics, background tasks, redaction).

The domain (bot.sheets) imports no discord, sqlite3/aiosqlite or redis; the state imports no
discord; the Segmind client imports nothing of the bot but the basics.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BASICS = ("bot.ops.settings", "bot.ops.metrics", "bot.ops.background", "bot.ops.redaction")
ENTRY = ("bot.__main__", "bot.ops.cli", "bot.ops.state_commands")
# Lowest first: a module may import its own layer and the layers before it.
LAYERS = ("basics", "bot.segmind", "bot.sheets", "bot.state", "bot.discord", "cogs", "entry")
FORBIDDEN = {
    "bot.segmind": {"discord"},
    "bot.sheets": {"discord", "sqlite3", "aiosqlite", "redis"},
    "bot.state": {"discord"},
    "basics": {"discord", "sqlite3", "aiosqlite", "redis"},
}


def layer(module: str) -> str | None:
    """The layer a module of this project belongs to (None: not the project's)."""
    if module in ENTRY:
        return "entry"
    if module in BASICS:
        return "basics"
    for name in LAYERS:
        if module == name or module.startswith(name + "."):
            return name
    if module == "bot" or module.startswith("bot."):
        return "unplaced"
    return None


def imports(source: str, module: str) -> set[str]:
    """Every module a source imports, relative imports resolved."""
    found: set[str] = set()
    package = module if is_package(module) else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(
                f"{base}.{alias.name}" for alias in node.names if is_module(f"{base}.{alias.name}")
            )
    return found


def is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").is_file()


def is_module(name: str) -> bool:
    """Whether a dotted name is a module or package of this project (not a name inside one)."""
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(module: str, source: str) -> list[str]:
    """What a module imports that its layer may not."""
    own = layer(module)
    assert own is not None and own != "unplaced", f"{module} is in no layer"
    wrong = []
    for target in sorted(imports(source, module)):
        top = target.split(".")[0]
        if top in FORBIDDEN.get(own, set()):
            wrong.append(f"{module} ({own}) imports {target}")
            continue
        theirs = layer(target)
        if theirs is None:
            continue
        if theirs == "unplaced":
            if (ROOT / target.replace(".", "/")).is_dir():
                continue  # a package that only holds layers (`from bot.ops import ...`)
            wrong.append(f"{module} imports {target}, which is in no layer")
        elif LAYERS.index(theirs) > LAYERS.index(own):
            wrong.append(f"{module} ({own}) imports {target} ({theirs}), a layer above it")
    return wrong


def project_modules() -> list[tuple[str, Path]]:
    """Every module of the bot and its cogs, but the packages that only hold layers."""
    found = []
    for top in ("bot", "cogs"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            module = ".".join(parts)
            if layer(module) == "unplaced" and path.name == "__init__.py" and not path.read_text():
                continue  # an empty package of layers (bot, bot.ops)
            found.append((module, path))
    return found


@pytest.mark.parametrize(("module", "path"), project_modules(), ids=lambda v: str(v))
def test_each_module_imports_only_its_own_layer_and_those_below(module: str, path: Path) -> None:
    assert violations(module, path.read_text()) == []


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        ("bot.sheets.jobs", "import discord", "imports discord"),
        ("bot.sheets.jobs", "from bot.discord.delivery import Courier", "a layer above it"),
        ("bot.state.sqlite.store", "from bot.discord import answers", "a layer above it"),
        ("bot.state.redis.store", "from ...discord.answers import NOBODY", "a layer above it"),
        ("bot.segmind.client", "from bot.sheets.job import Job", "a layer above it"),
        ("bot.sheets.books", "import aiosqlite", "imports aiosqlite"),
        ("bot.ops.metrics", "from bot.sheets.job import Job", "a layer above it"),
    ],
)
def test_an_import_against_the_layers_is_caught(module: str, source: str, complaint: str) -> None:
    found = violations(module, source)
    assert found and all(complaint in line for line in found), found


def test_every_module_of_the_bot_is_in_a_layer() -> None:
    unplaced = [m for m, _ in project_modules() if layer(m) == "unplaced"]
    assert unplaced == []


def test_a_bot_on_sqlite_never_loads_redis() -> None:
    # The Redis client and its scripts are ~6 MB of a SQLite bot's idle memory (budget 70 MB).
    probe = "import sys, bot.ops.cli; print(sorted(m for m in sys.modules if 'redis' in m))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
