"""The report: each metric against its budget, then the numbers that explain them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bench.photo import SIZE
from bench.probes import bucket_quantile, highest_bucket, percentile
from bench.run import Observed

KB, MB = 1000, 1000 * 1000  # decimal units: the stricter reading of the budgets


@dataclass(frozen=True)
class Row:
    metric: str
    measured: str
    budget: str
    verdict: str  # PASS, FAIL, or "" for numbers without a budget


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _under(value: float | None, limit: float, *, inclusive: bool = False) -> str:
    if value is None or math.isnan(value):
        return "FAIL"
    return "PASS" if (value <= limit if inclusive else value < limit) else "FAIL"


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def rows(o: Observed) -> list[Row]:
    n = len(o.jobs)
    acked = sum(not math.isnan(j.acked) for j in o.jobs)
    deferred = sum(j.ack_type == 5 for j in o.jobs)
    acks = _finite(j.ack_latency for j in o.jobs)
    ack_p99 = percentile(acks, 0.99)
    lag_p99 = bucket_quantile(o.lag_buckets, 0.99)
    if o.stalls_ms:
        stall = max(o.stalls_ms) / 1000
        inside_max, inside_verdict = (
            f"{stall * 1000:.0f} ms ('stalled' warning)",
            _under(stall, 0.1),
        )
    else:
        bound = highest_bucket(o.lag_buckets)
        inside_max = "n/a" if bound is None else f"<= {bound * 1000:g} ms (no 'stalled' warning)"
        inside_verdict = "PASS" if bound is not None else "FAIL"
    beat_p99 = percentile(o.heartbeat_lags, 0.99)
    beat_max = max(o.heartbeat_lags, default=None)
    peak = max(o.peak_rss_hwm, o.peak_rss_polled)
    sent = [j.segmind_bytes for j in o.jobs if j.segmind_bytes is not None]
    own = _finite(j.own_time for j in o.jobs)
    own_p50 = percentile(own, 0.5)
    delivered = sum(j.delivered for j in o.jobs)
    return [
        Row(
            "interactions acknowledged",
            f"{acked}/{n} ({deferred} deferred publicly)",
            "all",
            "PASS" if acked == n else "FAIL",
        ),
        Row("ack latency p50 (sent -> callback on the wire)", _ms(percentile(acks, 0.5)), "", ""),
        Row("ack latency p99", _ms(ack_p99), "< 100 ms", _under(ack_p99, 0.1)),
        Row(
            "event-loop lag p99, inside (lag monitor)",
            _ms(lag_p99),
            "< 20 ms",
            _under(lag_p99, 0.02),
        ),
        Row("event-loop lag max, inside", inside_max, "< 100 ms", inside_verdict),
        Row(
            f"event-loop lag p99, outside (heartbeat jitter, {len(o.heartbeat_lags)} beats)",
            _ms(beat_p99),
            "< 20 ms",
            _under(beat_p99, 0.02),
        ),
        Row("event-loop lag max, outside", _ms(beat_max), "< 100 ms", _under(beat_max, 0.1)),
        Row(
            "idle RSS after start-up",
            f"{o.idle_rss / MB:.1f} MB",
            "< 80 MB",
            _under(o.idle_rss, 80 * MB),
        ),
        Row(
            "peak RSS (budget with the content classifier loaded)",
            f"{peak / MB:.1f} MB",
            "< 300 MB",
            _under(peak, 300 * MB),
        ),
        *(_classify_row(o, kind) for kind in ("sheet", "pose")),
        Row(
            "bytes sent to Segmind per job (max)",
            f"{max(sent) / KB:.1f} KB" if sent else "n/a",
            "<= 300 KB",
            _under(max(sent) if sent else None, 300 * KB, inclusive=True),
        ),
        Row(
            "bot's own time per job p50 (download -> upload, minus queue and Segmind)",
            _ms(own_p50),
            "< 50 ms",
            _under(own_p50, 0.05),
        ),
        Row("bot's own time per job p99", _ms(percentile(own, 0.99)), "", ""),
        Row(
            "CPU seconds per job (bot process, burst total / N)",
            f"{o.cpu_seconds / n:.3f} s",
            "",
            "",
        ),
        Row(
            "sheets delivered",
            f"{delivered}/{n}" + (" (timed out)" if o.timed_out else ""),
            "all",
            "PASS" if delivered == n else "FAIL",
        ),
    ]


def figures(o: Observed) -> dict[str, float | None]:
    """The figures `bench.compare` sets side by side (seconds, bytes, counts)."""
    n = len(o.jobs)
    acks = _finite(j.ack_latency for j in o.jobs)
    sent = [j.segmind_bytes for j in o.jobs if j.segmind_bytes is not None]
    delivered = sum(j.delivered for j in o.jobs)
    return {
        "ack_p50": percentile(acks, 0.5),
        "ack_p99": percentile(acks, 0.99),
        "lag_p99": percentile(o.heartbeat_lags, 0.99),
        "lag_max": max(o.heartbeat_lags, default=None),
        "lag_inside_p99": bucket_quantile(o.lag_buckets, 0.99),
        "idle_rss": float(o.idle_rss),
        "peak_rss": float(max(o.peak_rss_hwm, o.peak_rss_polled)),
        "upload_per_job": percentile(sent, 0.5),
        "cpu_per_job": o.cpu_seconds / n,
        "segmind_per_job": o.segmind_requests / delivered if delivered else None,
        "delivered_share": delivered / n,
        "edits_per_job": o.message_edits / n,
    }


def _classify_row(o: Observed, kind: str) -> Row:
    """The classifier's own time per image, p50 from the bot's histogram (interpolated in its
    bucket), with the exact mean beside it."""
    buckets, total, count = o.classify.get(kind, ([], 0.0, 0.0))
    if not count:
        return Row(f"classify time per {kind} p50", "not classified (SAFETY_MODE off?)", "", "")
    p50 = bucket_quantile(buckets, 0.5)
    measured = f"{_ms(p50)} (mean {_ms(total / count)}, {count:.0f} {kind}s)"
    return Row(
        f"classify time per {kind} p50", measured, "<= 150 ms", _under(p50, 0.15, inclusive=True)
    )


def details(o: Observed) -> list[tuple[str, str]]:
    """Numbers that explain the table."""
    jobs = o.jobs

    def spread(values: Iterable[float]) -> str:
        finite = _finite(values)
        return f"p50 {_ms(percentile(finite, 0.5))}, p99 {_ms(percentile(finite, 0.99))}"

    uploads = [j.upload_bytes for j in jobs if j.upload_bytes is not None]
    sent = [j.segmind_bytes for j in jobs if j.segmind_bytes is not None]
    return [
        ("intake: download start -> stored and queued", spread(j.intake for j in jobs)),
        (
            "  of which the pose download (GET -> last byte)",
            spread(j.downloaded - j.download for j in jobs),
        ),
        (
            "  of which last byte -> queued (normalise, DB)",
            spread(j.queued_log - j.downloaded for j in jobs),
        ),
        ("dispatch: worker took it -> Segmind has the request", spread(j.dispatch for j in jobs)),
        ("delivery: Segmind answers -> Discord has the sheet", spread(j.delivery for j in jobs)),
        ("own time from wire times only (cross-check)", spread(j.own_time_tap_only for j in jobs)),
        ("queue wait", spread(j.queue_wait for j in jobs)),
        ("Segmind time (request sent -> answer starts)", spread(j.segmind_time for j in jobs)),
        ("ack latency as the fake's busy loop saw it", spread(j.ack_latency_fake for j in jobs)),
        (
            "heartbeat lag as the fake's busy loop saw it",
            f"p99 {_ms(percentile(o.heartbeat_lags_fake, 0.99))}, "
            f"max {_ms(max(o.heartbeat_lags_fake, default=None))}",
        ),
        (
            "peak RSS: kernel high-water mark / highest 20 ms sample",
            f"{o.peak_rss_hwm / MB:.1f} / {o.peak_rss_polled / MB:.1f} MB",
        ),
        ("RSS 1 s after the last sheet", f"{o.rss_after / MB:.1f} MB"),
        ("Segmind request size p50", f"{(percentile(sent, 0.5) or 0) / KB:.1f} KB"),
        (
            "phone photo",
            f"{SIZE[0]}x{SIZE[1]} JPEG, EXIF orientation 6, {o.photo_bytes / MB:.2f} MB",
        ),
        ("sheet uploaded per job (p50)", f"{(percentile(uploads, 0.5) or 0) / KB:.1f} KB"),
        ("burst: first to last interaction sent", _ms(o.burst_spread)),
        ("burst: first sent to last answered", f"{o.burst_seconds:.1f} s"),
        (
            "bot CPU over the burst",
            f"{o.cpu_seconds:.1f} s ({o.cpu_seconds / o.burst_seconds:.0%} of one core)",
        ),
        (
            "CPU of the fakes / of the wire tap over the burst",
            f"{o.harness_cpu:.1f} s / {o.tap_cpu:.1f} s",
        ),
        (
            "benchmark process event-loop lag",
            f"p99 {_ms(percentile(o.harness_lags, 0.99))}, "
            f"max {_ms(max(o.harness_lags, default=None))}",
        ),
        (
            "images the content classifier flagged (sheets / poses)",
            f"{o.flagged.get('sheet', 0):.0f} / {o.flagged.get('pose', 0):.0f}",
        ),
        ("bot warnings/errors logged during the burst", str(len(o.warnings))),
        ("fake Discord rule violations", str(len(o.violations))),
        ("bot exit code after SIGTERM", str(o.exit_code)),
    ]


def render(o: Observed) -> str:
    args = o.args
    out = ["## Machine", ""]
    out += [f"- {name}: {value}" for name, value in o.machine]
    out += [
        "",
        f"## Burst: N={args['n']}, Segmind delay {args['delay']:g} s, "
        f"MAX_CONCURRENT_JOBS={args['concurrency']}, heartbeat {args['heartbeat_ms']} ms"
        + (f", bot env {' '.join(args['env'])}" if args["env"] else ""),
        "",
        "| metric | measured | budget | result |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {r.metric} | {r.measured} | {r.budget or '-'} | {r.verdict or '-'} |" for r in rows(o)
    ]
    out += ["", "## Details", ""]
    out += [f"- {name}: {value}" for name, value in details(o)]
    missing = [j for j in o.jobs if not j.delivered]
    if missing:
        out += ["", f"## Not delivered ({len(missing)})", ""]
        out += [f"- user {j.user_id}: {j.outcome}" for j in missing[:10]]
    if o.warnings:
        out += ["", "## Bot warnings during the burst (first 10)", ""]
        out += [f"    {w[:200]}" for w in o.warnings[:10]]
    if o.violations:
        out += ["", "## Fake Discord rule violations (first 5)", ""]
        out += [f"    {v[:200]}" for v in o.violations[:5]]
    return "\n".join(out)
