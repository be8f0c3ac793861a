"""Same-run comparison: the naive bot, the project at a git ref, and the working tree.

`python -m bench.compare [--against REF] [--rounds 3] [--quick]` (what `make bench` runs).

Each round runs every variant once per mode, in an order that rotates from round to round
(naive, ref, now; then ref, now, naive; ...), so a machine that gets busier or quieter during
the run weighs on every variant alike. The ref is checked out into a temporary worktree
(`git worktree add --detach`) and its bot runs from there against the same fakes. Prints each
figure's median per variant, the ratios, and each budget of issue 21 with PASS or FAIL.

Modes: a burst of 100 phone photos (Segmind 2 s, MAX_CONCURRENT_JOBS=8); steady load at
50/s for 20 s (half no pose, half a 512-px PNG; Segmind 0.5 s; 64 workers); a burst of 200
(peak RSS, place announcements; the working tree only); then the capacity of the working tree,
stepping the rate up until ack p99 reaches 100 ms or a sheet is late.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import REPO, RunBroke
from bench.report import figures
from bench.run import Observed, machine, parse_args, run
from bench.steady import SteadyObserved, steady_figures

VARIANTS = ("naive", "ref", "now")
MB = 1e6


@dataclass(frozen=True)
class Mode:
    name: str
    flags: tuple[str, ...]
    variants: tuple[str, ...] = VARIANTS


FULL = (
    Mode("burst", ("--n", "100", "--delay", "2", "--concurrency", "8")),
    Mode(
        "steady",
        ("--rate", "50", "--seconds", "20", "--delay", "0.5", "--concurrency", "64"),
    ),
    Mode("burst200", ("--n", "200", "--delay", "2", "--concurrency", "8"), ("now",)),
)
QUICK = (
    Mode("burst", ("--n", "3", "--delay", "0.1", "--concurrency", "2", "--idle", "0.3")),
    Mode(
        "steady",
        ("--rate", "4", "--seconds", "1", "--delay", "0.1", "--concurrency", "4", "--idle", "0.3"),
        ("now",),
    ),
)
CAPACITY_RATES = (25, 50, 75, 100, 125, 150, 200)
CAPACITY_FLAGS = ("--delay", "0.5", "--concurrency", "64", "--drain", "60")


@dataclass
class Results:
    """Figures of every run: (mode, variant) -> one dict per round."""

    runs: dict[tuple[str, str], list[dict[str, float | None]]] = field(default_factory=dict)
    capacity: list[tuple[float, dict[str, float | None]]] = field(default_factory=list)
    broke: list[str] = field(default_factory=list)

    def median(self, mode: str, variant: str, figure: str) -> float | None:
        values = [
            value
            for run in self.runs.get((mode, variant), [])
            if (value := run.get(figure)) is not None and not math.isnan(value)
        ]
        return statistics.median(values) if values else None


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument(
        "--against", help="the git ref to compare with (default: the last tag, else HEAD~1)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every variant (3)")
    parser.add_argument("--quick", action="store_true", help="tiny runs: a smoke test (CI)")
    parser.add_argument(
        "--no-capacity", action="store_true", help="skip stepping the working tree's capacity"
    )
    parser.add_argument(
        "--capacity-seconds", type=float, default=20.0, help="seconds at each rate (20)"
    )
    parser.add_argument(
        "--modes", help="only these modes, comma-separated (burst, steady, burst200)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for every variant's bot (repeatable), e.g. SAFETY_MODE=off",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.quick:
        args.rounds = 1
    return args


def default_ref() -> str:
    tag = subprocess.run(
        ["git", "describe", "--tags", "--abbrev=0"], cwd=REPO, capture_output=True, text=True
    )
    return tag.stdout.strip() if tag.returncode == 0 and tag.stdout.strip() else "HEAD~1"


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[tuple[Path, str]]:
    """The ref in a temporary worktree (removed afterwards), and its commit."""
    commit = _git("rev-parse", "--short", ref + "^{commit}")
    with tempfile.TemporaryDirectory(prefix="sheetbot-ref-") as parent:
        where = Path(parent) / "ref"
        _git("worktree", "add", "--detach", "--quiet", str(where), commit)
        try:
            yield where, commit
        finally:
            _git("worktree", "remove", "--force", str(where))


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RunBroke(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _env(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(flag for pair in args.env for flag in ("--env", pair))


def one_run(flags: tuple[str, ...], variant: str, ref_dir: Path) -> dict[str, float | None]:
    """One benchmark run of one variant, in this process; its figures."""
    extra = {"naive": ("--naive",), "ref": ("--bot-dir", str(ref_dir)), "now": ()}[variant]
    args = parse_args([*flags, *extra])
    load = os.getloadavg()[0]  # other work on the machine, said beside every figure
    observed = asyncio.run(run(args))
    if isinstance(observed, SteadyObserved):
        return {**steady_figures(observed), "load": load}
    assert isinstance(observed, Observed)
    return {**figures(observed), "load": load}


def measure(args: argparse.Namespace, ref_dir: Path) -> Results:
    results = Results()
    modes: tuple[Mode, ...] = QUICK if args.quick else FULL
    if args.modes:
        wanted = set(args.modes.split(","))
        modes = tuple(mode for mode in modes if mode.name in wanted)
    for round_ in range(args.rounds):
        for mode in modes:
            order = [VARIANTS[(i + round_) % 3] for i in range(3)]
            for variant in (v for v in order if v in mode.variants):
                print(f"\n### round {round_ + 1}, {mode.name}, {variant}", flush=True)
                try:
                    found = one_run((*mode.flags, *_env(args)), variant, ref_dir)
                except RunBroke as exc:
                    results.broke.append(f"{mode.name} {variant}: {str(exc)[:500]}")
                    print(f"  could not run: {exc}", flush=True)
                    continue
                results.runs.setdefault((mode.name, variant), []).append(found)
                print(f"  {_short(found)}", flush=True)
    if not (args.quick or args.no_capacity):
        for rate in CAPACITY_RATES:
            print(f"\n### capacity, now, {rate}/s", flush=True)
            flags = ("--rate", str(rate), "--seconds", f"{args.capacity_seconds:g}")
            try:
                found = one_run((*flags, *CAPACITY_FLAGS, *_env(args)), "now", ref_dir)
            except RunBroke as exc:
                results.broke.append(f"capacity {rate}/s: {str(exc)[:500]}")
                break
            results.capacity.append((rate, found))
            print(f"  {_short(found)}", flush=True)
            if not _sustained(found):
                break
    return results


def _short(found: dict[str, float | None]) -> str:
    return ", ".join(f"{k}={_value(k, v)}" for k, v in found.items())


def _sustained(found: dict[str, float | None]) -> bool:
    """Ack p99 under 100 ms and every sheet delivered within 30 s of the last request."""
    ack, late = found.get("ack_p99"), found.get("last_delivery_after")
    return (
        ack is not None
        and ack < 0.1
        and found.get("delivered_share") == 1
        and late is not None
        and late <= 30
    )


def _value(name: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if name.startswith(("ack", "lag")):
        return f"{value * 1000:.1f} ms"
    if name.endswith("rss"):
        return f"{value / MB:.1f} MB"
    if name == "upload_per_job":
        return f"{value / 1000:.1f} KB"
    if name == "cpu_per_job":
        return f"{value:.4f} s"
    if name == "last_delivery_after":
        return f"{value:.1f} s"
    return f"{value:.2f}"


FIGURES = {
    "ack_p50": "ack p50",
    "ack_p99": "ack p99",
    "lag_p99": "loop lag p99 (heartbeat jitter)",
    "lag_max": "loop lag max (heartbeat jitter)",
    "lag_inside_p99": "loop lag p99 (bot's own monitor)",
    "idle_rss": "idle RSS",
    "peak_rss": "peak RSS",
    "upload_per_job": "upload to Segmind per job (p50)",
    "cpu_per_job": "bot CPU seconds per job",
    "segmind_per_job": "Segmind requests per sheet",
    "edits_per_job": "message edits per job",
    "discord_per_job": "Discord requests per job",
    "delivered_share": "share of sheets delivered",
    "last_delivery_after": "last sheet after the last request",
    "stored_at_last": "'stored at last' log lines",
    "load": "load average (1 min) at the start",
}


def table(results: Results, mode: str) -> list[str]:
    variants = [v for v in VARIANTS if (mode, v) in results.runs]
    if not variants:
        return []
    rounds = {v: len(results.runs[(mode, v)]) for v in variants}
    head = " | ".join(f"{v} (median of {rounds[v]})" for v in variants)
    ratios = [f"now / {v}" for v in variants if v != "now" and "now" in variants]
    out = [f"| {mode} | {' | '.join([head, *ratios])} |"]
    out.append("|---" * (1 + len(variants) + len(ratios)) + "|")
    names = [
        n for n in FIGURES if any(n in run for v in variants for run in results.runs[(mode, v)])
    ]
    for name in names:
        cells = [_value(name, results.median(mode, v, name)) for v in variants]
        now = results.median(mode, "now", name)
        for v in variants:
            if v == "now" or "now" not in variants:
                continue
            other = results.median(mode, v, name)
            cells.append(f"{now / other:.2f}x" if now is not None and other else "-")
        out.append(f"| {FIGURES[name]} | {' | '.join(cells)} |")
    return out


def budgets(results: Results) -> list[tuple[str, str, str]]:
    """(budget, measured, PASS/FAIL) for each budget of issue 21 that this run measured."""
    m = results.median
    out: list[tuple[str, str, str]] = []

    def check(name: str, measured: float | None, limit: float | None, shown: str) -> None:
        if measured is None or limit is None:
            out.append((name, "not measured", "FAIL"))
            return
        out.append((name, shown, "PASS" if measured <= limit else "FAIL"))

    if ("burst", "now") in results.runs:
        now, naive, ref = (m("burst", v, "ack_p99") for v in ("now", "naive", "ref"))
        if naive is not None:
            check(
                "burst of 100: ack p99 <= 0.5x the naive bot's",
                now,
                0.5 * naive,
                f"{_value('ack_p99', now)} vs {_value('ack_p99', naive)} "
                f"({(now or 0) / naive:.2f}x)",
            )
        if ref is not None:
            check(
                "burst of 100: ack p99 <= the ref's",
                now,
                ref,
                f"{_value('ack_p99', now)} vs {_value('ack_p99', ref)}",
            )
        cpu = m("burst", "now", "cpu_per_job")
        check("burst of 100: bot CPU <= 0.02 s per job", cpu, 0.02, _value("cpu_per_job", cpu))
        idle = m("burst", "now", "idle_rss")
        check("idle RSS <= 70 MB", idle, 70 * MB, _value("idle_rss", idle))
        once = m("burst", "now", "segmind_per_job")
        check(
            "exactly one Segmind request per job (burst)",
            abs((once or 0) - 1),
            0,
            _value("segmind_per_job", once),
        )
    if ("steady", "now") in results.runs:
        ack = m("steady", "now", "ack_p99")
        check("steady 50/s: ack p99 <= 50 ms", ack, 0.05, _value("ack_p99", ack))
        lag = m("steady", "now", "lag_p99")
        check("steady 50/s: loop lag p99 <= 20 ms", lag, 0.02, _value("lag_p99", lag))
        runs = results.runs[("steady", "now")]
        late = [r.get("last_delivery_after") for r in runs]
        worst = max((x for x in late if x is not None), default=None)
        all_in = all(
            r.get("delivered_share") == 1 and x is not None for r, x in zip(runs, late, strict=True)
        )
        check(
            "steady 50/s: every sheet delivered within 30 s of the last request (every round)",
            worst if all_in else None,
            30,
            f"latest {_value('last_delivery_after', worst)}",
        )
        once = m("steady", "now", "segmind_per_job")
        check(
            "exactly one Segmind request per job (steady)",
            abs((once or 0) - 1),
            0,
            _value("segmind_per_job", once),
        )
    if ("burst200", "now") in results.runs:
        peak = m("burst200", "now", "peak_rss")
        check("burst of 200: peak RSS <= 150 MB", peak, 150 * MB, _value("peak_rss", peak))
        edits = m("burst200", "now", "edits_per_job")
        # Each member: queued, a place told each time it fell to 3/4 (log base 4/3 of 200,
        # about 18 times), drawing, the sheet. Every place at every step would be ~100.
        check(
            "burst of 200: places batched (message edits per job <= 25)",
            edits,
            25,
            _value("edits_per_job", edits),
        )
    if results.capacity:
        held = [rate for rate, found in results.capacity if _sustained(found)]
        best = max(held, default=0)
        check("capacity of one process >= 100/s", -best, -100, f"{best:g}/s")
    return out


def render(results: Results, ref: str, commit: str, quick: bool) -> str:
    out = ["## Machine", ""]
    out += [f"- {name}: {value}" for name, value in machine()]
    out += [f"- Compared with: {ref} ({commit})", ""]
    for mode in ("burst", "steady", "burst200"):
        rows = table(results, mode)
        if rows:
            out += [*rows, ""]
    if results.capacity:
        out += ["| capacity step (now) | ack p50 | ack p99 | loop lag p99 | delivered | "
                "last sheet after | sustained |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for rate, found in results.capacity:
            out.append(
                f"| {rate:g}/s | {_value('ack_p50', found.get('ack_p50'))} | "
                f"{_value('ack_p99', found.get('ack_p99'))} | "
                f"{_value('lag_p99', found.get('lag_p99'))} | "
                f"{_value('delivered_share', found.get('delivered_share'))} | "
                f"{_value('last_delivery_after', found.get('last_delivery_after'))} | "
                f"{'yes' if _sustained(found) else 'no'} |"
            )
        out.append("")
    if not quick:
        out += ["| budget | measured | result |", "|---|---|---|"]
        out += [f"| {name} | {shown} | {verdict} |" for name, shown, verdict in budgets(results)]
    if results.broke:
        out += ["", "Runs that could not run:"] + [f"- {line}" for line in results.broke]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    ref = args.against or default_ref()
    try:
        with checkout(ref) as (ref_dir, commit):
            print(f"Comparing the working tree with {ref} ({commit}), {args.rounds} round(s)")
            results = measure(args, ref_dir)
    except RunBroke as exc:
        print(f"The comparison could not run: {exc}", file=sys.stderr)
        return 1
    print()
    print(render(results, ref, commit, args.quick))
    return 1 if results.broke else 0


if __name__ == "__main__":
    sys.exit(main())
