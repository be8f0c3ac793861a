"""Watching the bot from outside: /proc, its Prometheus endpoint, and simple statistics."""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class ProcessWatch:
    """Memory and CPU of one process, read from /proc/<pid>."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []  # (monotonic time, RSS bytes)

    def _status(self, key: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
        raise KeyError(key)

    def rss(self) -> int:
        """Resident set size now, in bytes."""
        return self._status("VmRSS")

    def high_water(self) -> int:
        """The largest RSS the process has had since it started (VmHWM), in bytes."""
        return self._status("VmHWM")

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far, all threads."""
        with open(f"/proc/{self.pid}/stat") as stat:
            text = stat.read()
        fields = text[text.rindex(")") + 2 :].split()  # skip "pid (comm) "
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) / CLOCK_TICKS

    async def poll(self, interval: float = 0.02) -> None:
        """Sample RSS until cancelled (or the process is gone)."""
        while True:
            try:
                self.samples.append((time.monotonic(), self.rss()))
            except (OSError, KeyError):
                return
            await asyncio.sleep(interval)


@dataclass
class LoopWatch:
    """How late this process's own event loop runs short timers (the harness's lag)."""

    interval: float = 0.01
    lags: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.perf_counter() - before - self.interval))


# Prometheus ------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")


async def scrape(url: str) -> str:
    """The text of a /metrics page."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as response:
        response.raise_for_status()
        return await response.text()


def histogram(text: str, name: str, label: str = "") -> list[tuple[float, float]]:
    """A histogram's cumulative buckets [(upper bound, count)], +Inf last; of the series
    whose labels hold `label` (e.g. 'kind="sheet"') if given."""
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] != f"{name}_bucket":
            continue
        if label not in (match["labels"] or ""):
            continue
        le = re.search(r'le="([^"]+)"', match["labels"] or "")
        if le:
            buckets.append((float(le[1]), float(match["value"])))
    return sorted(buckets)


def value(text: str, name: str, label: str = "") -> float:
    """A sample's value, summed over the series whose labels hold `label` (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] == name and label in (match["labels"] or ""):
            total += float(match["value"])
    return total


def sum_and_count(text: str, name: str, label: str = "") -> tuple[float, float]:
    """A histogram's sum and count (of the series whose labels hold `label`)."""
    return value(text, f"{name}_sum", label), value(text, f"{name}_count", label)


def bucket_delta(
    after: list[tuple[float, float]], before: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The observations made between two scrapes of the same histogram."""
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Like PromQL's histogram_quantile: linear interpolation inside the bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # the highest finite bound, as Prometheus answers
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def highest_bucket(buckets: list[tuple[float, float]]) -> float | None:
    """The smallest bucket bound that every observation is under: an upper bound for the max."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    return next(bound for bound, count in buckets if count >= buckets[-1][1])


# Statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) with linear interpolation between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
