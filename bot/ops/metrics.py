"""Live numbers for the operator (Prometheus), and a watch on the event loop's health."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# A stall this long is worth a warning: Discord's deadlines are counted in seconds.
STALL_WARNING = 0.1


class Metrics:
    """The bot's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "sheetbot_jobs", "Jobs finished, by outcome", ["outcome"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "sheetbot_queue_depth", "Jobs waiting for a worker", registry=self.registry
        )
        self.segmind_seconds = Histogram(
            "sheetbot_segmind_seconds",
            "Time from sending a job to Segmind to its answer",
            buckets=(1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300),
            registry=self.registry,
        )
        self.credits_left = Gauge(
            "sheetbot_segmind_credits_remaining",
            "Segmind credits left, as last reported by Segmind",
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "sheetbot_event_loop_lag_seconds",
            "How late the event loop ran a timer",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.late_acks = Counter(
            "sheetbot_interactions_acknowledged_late",
            "Interactions acknowledged more than 2 seconds after Discord created them",
            registry=self.registry,
        )
        self.background_failures = Counter(
            "sheetbot_background_failures",
            "Failures of background work (each is logged and retried), by task",
            ["task"],
            registry=self.registry,
        )
        self.deliveries_postponed = Counter(
            "sheetbot_deliveries_postponed",
            "Drawn sheets that no route reached, kept and retried later",
            registry=self.registry,
        )
        self.classify_seconds = Histogram(
            "sheetbot_classify_seconds",
            "Time the content classifier took for one image, by kind (sheet or pose)",
            ["kind"],
            buckets=(0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.flagged_images = Counter(
            "sheetbot_flagged_images",
            "Images the content classifier flagged, by kind (sheet or pose)",
            ["kind"],
            registry=self.registry,
        )
        self._server: Any = None

    def watch_queue(self, depth: Callable[[], float]) -> None:
        """Read the queue depth whenever the metrics are scraped."""
        self.queue_depth.set_function(depth)

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics (a small thread, as prometheus_client does)."""
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        log.info("metrics on port %d (%s)", port, host)

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


async def watch_loop(metrics: Metrics, interval: float = 0.05) -> None:
    """Measure how late the loop wakes from short sleeps; warn on stalls."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(interval)
        lag = max(0.0, time.perf_counter() - before - interval)
        metrics.loop_lag.observe(lag)
        if lag > STALL_WARNING:
            log.warning("event loop stalled for %.0f ms", lag * 1000)
