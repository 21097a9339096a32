"""Issue 19, items 5 and 9, in a real browser: Debian's headless Chromium driven by
Playwright against daphne (and a real `runworker` for item 5).

- Progress and cancel reach the console within a second: a running task reports
  {"step": n} every 0.2 s; its open page shows each sampled step within 1.5 s of the
  report (the worker flushes progress every 0.5 s, the relay pushes it), without a
  reload; Cancel, confirmed, turns the page's status to cancelled within seconds.
- Static files never fail: every console page loaded three times over (33 loads) in
  Chromium; every /static/ response is 200 or 304, no asset request fails, and the page
  logs no error (a failed asset is a console error)."""

import json
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from taskqueue import inspect
from taskqueue.status import Status
from tests.factories import make_task
from tests.support.waits import wait_for
from tests.taskapp import browser_progress_tasks

from .servers import worker

PREFIX = f"p{uuid.uuid4().hex[:10]}"
VIEWPORT = {"width": 1400, "height": 900}
IMPORTS = json.dumps({"IMPORTS": ["tests.taskapp.browser_progress_tasks"]})
EXTRA_ENV = {"TASKQUEUE_EXTRA": IMPORTS}
ASSETS = {"/static/taskqueue/console.css", "/static/taskqueue/console.js",
          "/static/vendor/htmx-2.0.11.min.js", "/static/vendor/htmx-ext-ws-2.0.4.min.js",
          "/static/vendor/idiomorph-0.8.0.min.js"}  # fmt: skip
PAGES = ["/", "/queues/default/", "/tasks/", "/tasks/{id}/", "/scheduled/", "/dead/",
         "/periodic/", "/workers/", "/workflows/", "/charts/", "/catalogue/"]  # fmt: skip
ROUNDS = 3

pytestmark = pytest.mark.slow


@pytest.fixture
def evidence(redis_client):
    """The notes the task left (tests/taskapp/tasks.py: note())."""
    return lambda: redis_client.lrange(f"{PREFIX}:evidence", 0, -1)


def at_least(step: int) -> re.Pattern:
    """The progress JSON showing step `step` or a later one."""
    later = "|".join(str(n) for n in range(step, 151))
    return re.compile(rf'"step": (?:{later})\b')


def test_progress_and_cancel_reach_the_task_page_within_a_second(
    console, server, env, tmp_path, broker, evidence
):
    runner = worker(env, tmp_path / "worker.log").start()
    try:
        wait_for(
            lambda: any(w.pid == runner.proc.pid for w in inspect.workers()),
            timeout=30,
            message="the worker to register",
        )
        handle = browser_progress_tasks.reports_steps.enqueue("p")
        page = console.open(server.url, f"/tasks/{handle.id}/")
        page.evaluate("window.notReloaded = true")
        progress = page.locator(f'[id="running-{handle.id}"] code')
        expect(progress).to_have_text(at_least(1), timeout=15_000)

        def reported(step: int) -> float:
            """When the task reported `step` (its note, written right after)."""
            line = wait_for(
                lambda: next((n for n in evidence() if n.startswith(f"p:{step}:")), None),
                timeout=10,
                every=0.01,
                message=f"the task to report step {step}",
            )
            return float(line.rsplit(":", 1)[1])

        for _ in range(3):  # three samples, each a report still to come
            step = len(evidence()) + 2
            at = reported(step)
            expect(progress).to_have_text(
                at_least(step), timeout=max(100, (at + 1.5 - time.time()) * 1000)
            )
            took = time.time() - at
            assert took < 1.5, f"step {step} showed {took:.2f} s after its report"

        badge = page.locator(f'[id="task-{handle.id}"] h1 .badge.status')
        expect(badge).to_have_text("processing")
        page.locator(f'[id="task-{handle.id}"] button:text-is("Cancel")').click()
        expect(badge).to_have_text("cancelled", timeout=5_000)
        assert console.dialogs == ["Cancel this task?"]
        assert handle.record().status == Status.CANCELLED
        expect(page.locator(f'[id="running-{handle.id}"]')).to_be_empty()  # no longer running
        assert page.evaluate("window.notReloaded") is True  # pushed, not reloaded
    finally:
        runner.stop()


def test_static_files_never_fail_over_every_console_page(console, server, broker):
    task = make_task()
    broker.enqueue([task])
    page = console.page
    statics: list[tuple[str, int]] = []
    failed: list[str] = []

    def on_response(response) -> None:
        if "/static/" in response.url:
            statics.append((response.url.removeprefix(server.url), response.status))

    page.on("response", on_response)
    page.on("requestfailed", lambda r: "/static/" in r.url and failed.append(
        f"{r.url} {r.failure}"))  # fmt: skip
    cdp = page.context.new_cdp_session(page)
    loads = 0
    for round_ in range(ROUNDS):
        # the first rounds fetch every asset from daphne; the last one uses the cache
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": round_ < ROUNDS - 1})
        for path in PAGES:
            before = len(statics)
            page.goto(server.url + path.format(id=task.id))
            expect(page.locator("h1").first).to_be_visible()
            if path != "/catalogue/":  # the catalogue is not live
                expect(page.locator("#live")).to_have_text("live", timeout=10_000)
            loads += 1
            seen = {url for url, _ in statics[before:]}
            assert seen == ASSETS, f"{path}: {sorted(seen)}"  # every asset, every load
    assert loads == ROUNDS * len(PAGES)
    assert not failed, failed
    bad = [(url, status) for url, status in statics if status not in (200, 304)]
    assert not bad, bad
    assert len(statics) == ROUNDS * len(PAGES) * len(ASSETS)
    assert not [e for e in console.errors if "Failed to load" in e], console.errors
