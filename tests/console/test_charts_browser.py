"""The Charts page in a real browser: Debian's headless Chromium driven by Playwright
against daphne (as in test_browser.py). With a day and a half of history written by
the scripts (claims and completions at past times, runtimes flushed as a worker does),
the page shows the last hour, follows new tasks live without a reload, and the range
switch shows 24 h and 7 d with their own buckets and totals."""

import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from taskqueue.broker import BucketCounts
from taskqueue.records import TaskError
from taskqueue.runtime import bucket_of
from tests.factories import LEASE, enqueue, make_task

PREFIX = f"c{uuid.uuid4().hex[:10]}"
VIEWPORT = {"width": 1280, "height": 1000}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.slow


def run_at(broker, now: int, *, done: int, failed: int = 0, waited_ms: int, seconds: float):
    """Tasks that became ready `waited_ms` before `now` and were claimed at `now`:
    `done` completed, `failed` dead; their runtimes flushed at `now`."""
    enqueue(broker, *(make_task(name="app.report") for _ in range(done + failed)),
            now=now - waited_ms)  # fmt: skip
    claimed = broker.claim("default", "w1", done + failed, lease_ms=LEASE, now=now)
    broker.complete("default", [(c.id, c.attempt, "null") for c in claimed[:done]], now=now)
    for c in claimed[done:]:
        error = TaskError("TimeoutError", "slow", "Traceback...")
        broker.fail("default", c.id, c.attempt, retry_delay_ms=None, error=error, now=now)
    one = BucketCounts.observation(bucket_of(seconds), int(seconds * 1000))
    runtimes = sum([one] * (done + failed), BucketCounts())
    broker.record_runtimes("default", {"app.report": runtimes}, now=now)


def total(page, kind: str) -> int:
    return int(page.locator(f'#history [data-total="{kind}"]').inner_text())


def test_the_range_switch_shows_each_span_and_the_chart_follows_new_tasks(
    console, server, broker, tmp_path
):
    now = broker.time_ms()
    hour = 3_600_000
    # the last hour: 10 minutes with tasks; the day before: every other hour; 3 days ago
    for m in range(10):
        run_at(broker, now - m * 240_000, done=3 + m % 4, failed=m % 3 == 0, waited_ms=40 * m,
               seconds=0.05 * (1 + m % 5))  # fmt: skip
    for h in range(2, 24, 2):
        run_at(broker, now - h * hour, done=20 + h, failed=h % 5 == 0, waited_ms=300 * h,
               seconds=0.3 + h / 10)  # fmt: skip
    run_at(broker, now - 72 * hour, done=100, waited_ms=60_000, seconds=12.0)
    last_hour = sum(3 + m % 4 for m in range(10))
    day = last_hour + sum(20 + h for h in range(2, 24, 2))

    page = console.open(server.url, "/charts/")
    history = page.locator("#history")
    expect(history).to_have_attribute("data-range", "1h")
    expect(page.locator("nav.range-switch a.active")).to_have_text("1 h")
    assert total(page, "completed") == last_hour
    expect(history.locator('[data-chart="wait"] polyline')).not_to_have_count(0)
    expect(history.locator("table.runtimes tbody tr")).to_have_count(1)
    expect(history.locator("table.runtimes")).to_contain_text("app.report")

    # live: new tasks reach the open page without a reload
    page.evaluate("window.notReloaded = true")
    run_at(broker, broker.time_ms(), done=7, waited_ms=10, seconds=0.02)
    expect(history.locator('[data-total="completed"]')).to_have_text(
        str(last_hour + 7), timeout=10_000
    )
    assert page.evaluate("window.notReloaded") is True

    # the range switch: 24 h, hour buckets
    page.locator("nav.range-switch a", has_text="24 h").click()
    expect(page).to_have_url(re.compile(r"/charts/\?range=24h$"))
    expect(history).to_have_attribute("data-range", "24h")
    expect(page.locator("nav.range-switch a.active")).to_have_text("24 h")
    assert total(page, "completed") == day + 7
    bars = history.locator('[data-chart="throughput"] svg g')
    assert 11 <= bars.count() <= 13  # 11 hours of the day before, and the last hour's 1-2
    expect(history.locator('[data-chart="throughput"] figcaption')).to_contain_text("per hour")
    shots = DOCS_SCREENSHOTS if os.environ.get("TASKQUEUE_SCREENSHOTS") == "docs" else tmp_path
    page.screenshot(path=shots / "charts.png", full_page=True)

    # 7 d: the task of 3 days ago too, and its runtime
    page.locator("nav.range-switch a", has_text="7 d").click()
    expect(history).to_have_attribute("data-range", "7d")
    assert total(page, "completed") == day + 7 + 100
    runtimes = history.locator("table.runtimes tbody tr")
    expect(runtimes).to_have_count(1)
    expect(runtimes.locator("td").nth(2)).to_have_text(str(day + 7 + 100 + _failed()))


def _failed() -> int:
    """How many of the seeded tasks failed (their runtimes count as attempts too)."""
    return sum(m % 3 == 0 for m in range(10)) + sum(h % 5 == 0 for h in range(2, 24, 2))
