"""The benchmarks themselves keep working (tiny bursts; the budgets are judged by `make bench`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


async def run_module(*args: str, timeout: float) -> tuple[int, str]:
    """`python -m ARGS` from the repository; its exit code and everything it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_a_small_burst_runs_and_reports_every_sheet_delivered() -> None:
    code, report = await run_module(
        *("bench", "--n", "4", "--delay", "0.2", "--concurrency", "2", "--idle", "0.5"),
        timeout=120,
    )
    assert code == 0, report
    assert "| sheets delivered | 4/4 | all | PASS |" in report
    assert "| interactions acknowledged | 4/4" in report
    assert "fake Discord rule violations: 0" in report
    # Every pose and every sheet went through the content classifier; none was flagged.
    assert "(mean " in report and "4 sheets)" in report and "4 poses)" in report, report
    assert "images the content classifier flagged (sheets / poses): 0 / 0" in report


async def test_the_scale_benchmark_runs_two_shard_processes_on_redis_and_passes() -> None:
    # Each sheet takes Segmind long enough that the second worker to get a slot always starts
    # before the first one's answer came, however slowly a loaded machine runs the bots: the
    # report must show the limit reached, never passed.
    code, report = await run_module(
        *("bench.scale", "--processes", "2", "--n", "4", "--delay", "1.5"),
        *("--concurrency", "2"),
        timeout=60,
    )
    assert code == 0, report
    assert "| 2 (limit 2) |" in report and report.rstrip().endswith("| PASS |"), report


async def test_the_comparison_runs_the_naive_bot_the_previous_commit_and_the_working_tree() -> None:
    # The smoke of `make bench` (not its budgets): every variant starts, answers and is tabled.
    code, report = await run_module("bench.compare", "--quick", "--against", "HEAD", timeout=120)
    assert code == 0, report
    burst = report[report.index("| burst |") :]
    assert burst.startswith(
        "| burst | naive (median of 1) | ref (median of 1) | now (median of 1) |"
    )
    assert "| share of sheets delivered | 1.00 | 1.00 | 1.00 |" in burst, report
    assert "| Segmind requests per sheet | 1.00 | 1.00 | 1.00 |" in burst, report
    steady = report[report.index("| steady |") :]
    assert "| share of sheets delivered | 1.00 |" in steady, report
    assert "| 'stored at last' log lines | 0.00 |" in steady, report
