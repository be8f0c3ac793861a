"""`python -m bench [--n N] [--delay S] [--concurrency C] ...`: run the burst benchmark once;
`python -m bench --rate R [--seconds S]`: the steady-load mode. `--naive` / `--bot-dir DIR` run
another bot the same way (`python -m bench.compare` sets them side by side).

Prints the machine, then a Markdown report with each budget's PASS/FAIL. The exit code is 0
whatever the verdicts (it is a report), 1 only if the run itself broke.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict

from bench.processes import RunBroke
from bench.report import figures, render
from bench.run import Observed, machine, parse_args, run
from bench.steady import SteadyObserved, render_steady, steady_figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name, value in machine(args):
        print(f"{name}: {value}")
    try:
        observed = asyncio.run(run(args))
    except RunBroke as exc:
        print(f"\nThe benchmark could not run: {exc}", file=sys.stderr)
        return 1
    print()
    if isinstance(observed, SteadyObserved):
        print(render_steady(observed))
        if args.json is not None:
            raw = {"figures": steady_figures(observed), **asdict(observed)}
            args.json.write_text(json.dumps(raw, indent=1, default=str))
        return 0
    assert isinstance(observed, Observed)
    print(render(observed))
    if args.json is not None:
        raw = asdict(observed)
        for job, as_dict in zip(observed.jobs, raw["jobs"], strict=True):
            as_dict.update(own_time=job.own_time, ack_latency=job.ack_latency)
        raw["figures"] = figures(observed)
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
