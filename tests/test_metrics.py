"""The operator's live numbers: a Prometheus endpoint when METRICS_PORT is set."""

from __future__ import annotations

from tests.harness import Harness, free_port
from tests.helpers import scrape_when


async def test_metrics_endpoint_serves_job_queue_segmind_credit_and_loop_numbers(
    harness: Harness,
) -> None:
    port = free_port()
    await harness.start_bot(METRICS_PORT=str(port))
    rec = await harness.discord.invoke("character", {"prompt": "x"}, user_id=1)
    await rec.wait_for(lambda r: bool(r.original and r.original.attachments))
    done = 'sheetbot_jobs_total{outcome="done"} 1.0'
    text = await scrape_when(f"http://127.0.0.1:{port}/metrics", done)
    for line in (
        'sheetbot_jobs_total{outcome="done"} 1.0',
        "sheetbot_queue_depth 0.0",
        "sheetbot_segmind_seconds_count 1.0",
        f"sheetbot_segmind_credits_remaining {harness.segmind.credits}",
        "sheetbot_interactions_acknowledged_late_total 0.0",
    ):
        assert line in text, line
    assert "sheetbot_event_loop_lag_seconds_count" in text


async def test_metrics_are_off_by_default(harness: Harness) -> None:
    bot = await harness.start_bot()
    assert "metrics on port" not in bot.logs
