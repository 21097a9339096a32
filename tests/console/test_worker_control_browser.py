"""Worker control in a real browser (issue 19): Debian's headless Chromium driven by
Playwright against daphne and a real `runworker`; an operator clicks Quiet on the
workers page, confirms, and sees the worker's state turn quiet (the worker obeys within
a second, the page shows it without a reload), then Stop, and the worker exits 0."""

import sqlite3
import time
import uuid

import pytest
from playwright.sync_api import expect

from taskqueue import inspect
from tests.support.waits import wait_for

from .servers import worker

PREFIX = f"w{uuid.uuid4().hex[:10]}"
VIEWPORT = {"width": 1400, "height": 900}

pytestmark = pytest.mark.slow


def test_an_operator_quiets_then_stops_a_worker_from_the_workers_page(
    console, server, env, tmp_path, broker
):
    runner = worker(env, tmp_path / "worker.log").start()
    try:
        entry = wait_for(
            lambda: next((w for w in inspect.workers() if w.pid == runner.proc.pid), None),
            timeout=30,
            message="the worker to register",
        )
        page = console.open(server.url, "/workers/")
        page.evaluate("window.notReloaded = true")
        row = page.locator(f'tr[id="worker-{entry.id}"]')
        expect(row.locator(".badge.state")).to_have_text("running")

        row.locator("button:text-is('Quiet')").click()
        clicked = time.monotonic()
        expect(page.locator("#messages")).to_contain_text("goes quiet")
        wait_for(lambda: inspect.workers()[0].state == "quiet", timeout=5, every=0.01)
        assert time.monotonic() - clicked < 1.5  # the worker obeyed within a second
        expect(row.locator(".badge.state")).to_have_text("quiet", timeout=15_000)
        expect(row.locator("button:text-is('Quiet')")).to_have_count(0)
        assert console.dialogs[0].startswith(f"Quiet worker {entry.name}? It takes no new tasks")
        assert runner.proc.poll() is None, "a quiet worker keeps running"
        page.screenshot(path=tmp_path / "workers-quiet.png", full_page=True)

        row.locator("button:text-is('Stop')").click()
        expect(page.locator("#messages")).to_contain_text("is stopping")
        assert runner.proc.wait(timeout=10) == 0, runner.log()
        expect(row).to_have_count(0, timeout=15_000)  # it left the registry
        assert page.evaluate("window.notReloaded") is True
        assert console.dialogs[1].startswith(f"Stop worker {entry.name}?")
    finally:
        runner.stop()
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:  # daphne's
        rows = db.execute("SELECT action, actor, source FROM taskqueue_auditevent ORDER BY id")
        assert rows.fetchall() == [
            ("quiet_worker", "admin", "console"),
            ("stop_worker", "admin", "console"),
        ]
