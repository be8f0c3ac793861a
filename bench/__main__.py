"""`python -m bench [--n N] [--delay S] [--concurrency C] ...`: run the burst benchmark once.

Prints the machine, then a Markdown report with each budget's PASS/FAIL. The exit code is 0
whatever the verdicts (it is a report), 1 only if the run itself broke.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict

from bench.processes import RunBroke
from bench.report import render
from bench.run import machine, parse_args, run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name, value in machine():
        print(f"{name}: {value}")
    try:
        observed = asyncio.run(run(args))
    except RunBroke as exc:
        print(f"\nThe benchmark could not run: {exc}", file=sys.stderr)
        return 1
    print()
    print(render(observed))
    if args.json is not None:
        raw = asdict(observed)
        for job, as_dict in zip(observed.jobs, raw["jobs"], strict=True):
            as_dict.update(own_time=job.own_time, ack_latency=job.ack_latency)
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
