"""Health and Redis at a glance in a real browser: Debian's headless Chromium driven by
Playwright against daphne (as in test_browser.py). A queue that no live worker serves
gets its warning on the open overview without a reload; the Redis panel shows the
session's Redis (no AOF, no save points: the persistence warning); while the socket
reconnects the page's data is dimmed, and no longer once it is live again."""

import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import make_task
from tests.support.records import register_worker

from .browsers import logged_in
from .servers import Daphne

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

PREFIX = f"h{uuid.uuid4().hex[:10]}"

pytestmark = pytest.mark.slow


def test_a_queue_no_live_worker_serves_gets_its_warning_live(console, server, broker, tmp_path):
    register_worker(broker, "w-browser", queues="default")
    page = console.open(server.url, "/")
    page.evaluate("window.notReloaded = true")
    health = page.locator("#health")
    expect(health).not_to_contain_text("no live worker serves it")

    broker.enqueue([make_task("emails")])
    warning = health.locator("li.health-unserved")
    expect(warning).to_contain_text(
        "Queue emails has pending tasks and no live worker serves it", timeout=10_000
    )
    expect(warning.locator("a")).to_have_attribute("href", "/queues/emails/")
    assert page.evaluate("window.notReloaded") is True  # pushed, not reloaded
    shots = DOCS_SCREENSHOTS if os.environ.get("TASKQUEUE_SCREENSHOTS") == "docs" else tmp_path
    page.screenshot(path=shots / "health.png", full_page=True)  # the README's, on request


def test_operators_see_the_redis_panel_with_its_persistence_warning(console, server):
    page = console.open(server.url, "/")
    panel = page.locator("#redis")
    expect(panel.locator("h2")).to_have_text("Redis")
    expect(panel.locator(".redis-policy")).to_have_text("noeviction")
    expect(panel.locator(".redis-persistence")).to_have_text("AOF off · RDB no save points")
    expect(panel.locator(".redis-clients")).to_have_text(re.compile(r"^\d+$"))
    expect(panel.locator(".redis-ops")).to_have_text(re.compile(r"^\d+$"))
    expect(panel.locator(".redis-warnings")).to_contain_text(
        "persistence is off (appendonly no and no save points)"
    )
    expect(panel.locator(".redis-warnings")).not_to_contain_text("maxmemory-policy")


def test_the_data_dims_while_the_socket_reconnects(browser, env, tmp_path):
    daphne = Daphne(env, tmp_path / "daphne.log").start()
    try:
        watched = logged_in(browser, daphne)
        page = watched.open(daphne.url, "/")
        main = page.locator("main")
        expect(page.locator("body")).not_to_have_class(re.compile("live-stale"))
        expect(main).to_have_css("opacity", "1")
        daphne.stop()
        expect(page.locator("#live")).to_have_text(re.compile("reconnecting"), timeout=10_000)
        expect(page.locator("body")).to_have_class(re.compile("live-stale"))
        expect(main).to_have_css("opacity", "0.5")
        expect(main).to_have_attribute("aria-busy", "true")
        daphne.start()
        expect(page.locator("#live")).to_have_text("live", timeout=30_000)
        expect(page.locator("body")).not_to_have_class(re.compile("live-stale"), timeout=5000)
        expect(main).to_have_css("opacity", "1")
        expect(main).not_to_have_attribute("aria-busy", "true")
        watched.page.context.close()
    finally:
        daphne.stop()
