"""The console in a real browser: Debian's headless Chromium driven by Playwright,
against daphne (and, where tasks must run, `manage.py runworker`) started here.

These tests never skip: without /usr/bin/chromium they fail (.ci/run installs it).
Every page is saved as a screenshot: under the test's temporary directory, or under
docs/screenshots/ (shown in the README) with `make screenshots`, so that `make test`
never changes a tracked file.
"""

import json
import os
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from demo import tasks as demo
from demo.tasks import fast
from taskqueue import inspect
from taskqueue.records import TaskError
from taskqueue.status import Status
from taskqueue.workflows import chain, workflow
from tests.support.records import make_dead
from tests.support.tasks import other, sample

from .browsers import logged_in
from .servers import Daphne, worker

PHONE = {"width": 390, "height": 844}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PREFIX = f"b{uuid.uuid4().hex[:10]}"

pytestmark = pytest.mark.slow


@pytest.fixture
def tq_prefix() -> str:
    """One prefix for the module: the daphne started once below reads the same keys
    (the keys are still deleted after each test)."""
    return PREFIX


# env, server and browser: tests/console/conftest.py's, for this module's PREFIX


@pytest.fixture
def console(browser, server):
    watched = logged_in(browser, server, viewport={"width": 1280, "height": 860})
    yield watched
    watched.page.context.close()
    assert not [e for e in watched.errors if "Content Security Policy" in e], watched.errors


def card_count(page: Page, queue: str, label: str):
    return page.locator(f"#queue-{queue} dt:text-is('{label}') + dd")


def test_login_then_the_overview_follows_enqueues_without_reloading(console, server):
    page = console.open(server.url, "/")
    page.evaluate("window.notReloaded = true")
    expect(card_count(page, "default", "Pending")).to_have_text("0")
    for i in range(3):
        sample.enqueue(i)
    expect(card_count(page, "default", "Pending")).to_have_text("3", timeout=2000)
    assert page.evaluate("window.notReloaded") is True


def test_cancel_a_pending_task(console, server):
    handle = sample.enqueue("to cancel")
    page = console.open(server.url, f"/tasks/{handle.id}/")
    page.click("button:text-is('Cancel')")
    expect(page.locator("#messages")).to_contain_text(f"Cancelled task {handle.id}.")
    expect(page.locator(f"#task-{handle.id} h1 .badge")).to_have_text("cancelled")
    assert console.dialogs == ["Cancel this task?"]
    assert inspect.get_task(handle.id).status == Status.CANCELLED


def test_requeue_a_dead_task_and_watch_it_complete(console, server, broker, env, tmp_path):
    task_id = make_dead(broker, fast.using(queue="default").enqueue(21))  # the worker knows it
    runner = worker(env, tmp_path / "worker.log").start()
    try:
        page = console.open(server.url, "/dead/")
        row = page.locator(f"#task-{task_id}")
        row.locator("button:text-is('Requeue')").click()
        expect(page.locator("#messages")).to_contain_text("is pending again")
        expect(row.locator(".badge.status")).to_have_text("completed", timeout=15_000)
    finally:
        runner.stop()
    assert inspect.get_task(task_id).status == Status.COMPLETED, runner.log()


PAYLOADS = [
    "<script>window.hacked = 'script'</script>",
    "<img src=/xss-probe onerror=\"window.hacked = 'img'\">",
    '<button hx-post="/bulk/" hx-trigger="load" hx-vals=\'{"action": "delete"}\'>x</button>',
]


def test_xss_payloads_render_as_text_and_fire_nothing(console, server, broker):
    handle = sample.enqueue(*PAYLOADS, note=PAYLOADS[2])
    page = console.open(server.url, f"/tasks/?q={handle.id}")
    (claimed,) = broker.claim("default", "<b>evil worker</b>", 1)
    broker.fail(claimed.queue, claimed.id, claimed.attempt, retry_delay_ms=None,
                error=TaskError("XSSError", PAYLOADS[1], PAYLOADS[0]))  # fmt: skip
    expect(page.locator(f"#task-{handle.id} td.error")).to_contain_text("<img src=/xss-probe")
    page = console.open(server.url, f"/tasks/{handle.id}/")
    args = page.locator("pre.json").first.inner_text()
    assert args == json.dumps(PAYLOADS, indent=2, ensure_ascii=False)  # as text, intact
    expect(page.locator("pre.traceback")).to_have_text(PAYLOADS[0])
    assert page.evaluate("window.hacked") is None
    assert not [r for r in console.requests if "xss-probe" in r or r.startswith("POST")]
    assert console.dialogs == []


PAGES = {
    "overview": "/",
    "queue": "/queues/default/?status=completed",
    "tasks": "/tasks/",
    "task": None,  # a dead letter's page
    "dead-letters": "/dead/",
    "scheduled": "/scheduled/",
    "periodic": "/periodic/",
    "workers": "/workers/",
}


def populate() -> None:
    """Demo tasks on three queues, for a worker to run: some complete, some retry,
    some die, one reports progress, some wait for later."""
    for i in range(12):
        demo.fast.enqueue(i)
        demo.fetch.using(queue="default").enqueue(0.05)
    for i in range(3):
        demo.always_fails.enqueue(["boom", "bad input", "no such row"][i])
        demo.flaky.enqueue(0.6)
        demo.send_welcome.enqueue(f"user{i}@example.com", password="hunter2", api_key="k")
    demo.slow.enqueue(30)
    demo.export.enqueue(400, 0.1)
    for delay in (45, 300, 3600):
        demo.fast.using(delay=delay).enqueue(7)


def screenshots_dir(tmp_path: Path) -> Path:
    """docs/screenshots/ when asked for (TASKQUEUE_SCREENSHOTS=docs), else a temporary one."""
    return DOCS_SCREENSHOTS if os.environ.get("TASKQUEUE_SCREENSHOTS") == "docs" else tmp_path


def test_every_page_in_a_screenshot(console, server, env, tmp_path):
    SCREENSHOTS = screenshots_dir(tmp_path / "screenshots")  # noqa: N806
    populate()
    runner = worker(env, tmp_path / "worker.log", "high,default,low").start()
    try:
        page = console.open(server.url, "/dead/")
        expect(page.locator("#dead-groups .count")).to_have_text("3", timeout=20_000)
        dead_id = inspect.dead_letters(inspect.TaskFilter()).items[0].id
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, path in PAGES.items():
            page = console.open(server.url, path or f"/tasks/{dead_id}/")
            page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
        running = inspect.list_tasks("low", "processing").items[0].id
        page = console.open(server.url, f"/tasks/{running}/")
        expect(page.locator("progress")).to_be_visible(timeout=10_000)
        page.screenshot(path=SCREENSHOTS / "task-running.png", full_page=True)
        phone = logged_in(page.context.browser, server, viewport=PHONE, device_scale_factor=2)
        phone.open(server.url, "/").screenshot(path=SCREENSHOTS / "overview-phone.png")
        phone.page.context.close()
    finally:
        runner.stop()
    assert not console.errors, console.errors
    shots = [SCREENSHOTS / f"{name}.png" for name in [*PAGES, "task-running", "overview-phone"]]
    assert all(shot.stat().st_size > 10_000 for shot in shots)


def test_a_page_reconnects_after_the_server_restarts(browser, env, tmp_path):
    daphne = Daphne(env, tmp_path / "daphne.log").start()
    try:
        watched = logged_in(browser, daphne)
        page = watched.open(daphne.url, "/")
        daphne.stop()
        expect(page.locator("#live")).to_have_text(re.compile("reconnecting"), timeout=10_000)
        daphne.start()
        expect(page.locator("#live")).to_have_text("live", timeout=30_000)
        sample.enqueue("after the restart")
        expect(card_count(page, "default", "Pending")).to_have_text("1", timeout=5000)
        watched.page.context.close()
    finally:
        daphne.stop()


# -- workflows ------------------------------------------------------------------------


def finish_next(broker, queue: str = "default") -> str:
    """Claim the queue's next task and complete it, then apply the outbox (as a worker
    does): its children start."""
    (claimed,) = broker.claim(queue, "browser-test", 1)
    broker.complete(queue, [(claimed.id, claimed.attempt, json.dumps("ok"))])
    broker.advance([queue])
    return claimed.id


def kill_next(broker, queue: str = "default") -> str:
    (claimed,) = broker.claim(queue, "browser-test", 1)
    broker.fail(queue, claimed.id, claimed.attempt, retry_delay_ms=None,
                error=TaskError("ValueError", "boom", ""))  # fmt: skip
    broker.advance([queue])
    return claimed.id


def test_a_workflow_graph_follows_its_tasks_live(console, server, broker):
    handle = chain(sample.s(1), sample.s(), sample.s()).enqueue(name="live chain")
    page = console.open(server.url, f"/workflows/{handle.id}/")
    page.evaluate("window.notReloaded = true")
    graph = page.locator(f"#workflow-graph-{handle.id}")
    expect(graph.locator('[data-key="0"]')).to_have_attribute("data-status", "pending")
    expect(graph.locator('[data-key="1"]')).to_have_attribute("data-status", "waiting")
    finish_next(broker)
    expect(graph.locator('[data-key="0"]')).to_have_attribute("data-status", "completed",
                                                               timeout=10_000)  # fmt: skip
    expect(graph.locator('[data-key="1"]')).to_have_attribute("data-status", "pending")
    expect(page.locator(f"#workflow-summary-{handle.id}")).to_contain_text("1 of 3 completed")
    kill_next(broker)
    expect(graph.locator('[data-key="1"]')).to_have_attribute("data-status", "dead",
                                                               timeout=10_000)  # fmt: skip
    expect(graph.locator('[data-key="2"]')).to_contain_text("blocked")
    expect(page.locator(f"#workflow-dead-{handle.id}")).to_contain_text("blocked by dead parent 1")
    assert page.evaluate("window.notReloaded") is True
    assert not console.errors, console.errors


def test_requeue_a_dead_task_of_a_workflow_from_its_page(console, server, broker):
    handle = chain(sample.s(1), sample.s()).enqueue(name="requeue me")
    dead = kill_next(broker)
    page = console.open(server.url, f"/workflows/{handle.id}/")
    page.click(f"#workflow-dead-{handle.id} button:text-is('Requeue')")
    expect(page.locator("#messages")).to_contain_text(f"(task {dead}): it is pending again.")
    node = page.locator(f'#workflow-graph-{handle.id} [data-key="0"]')
    expect(node).to_have_attribute("data-status", "pending")
    expect(page.locator(f"#workflow-dead-{handle.id}")).to_be_empty()
    assert inspect.get_workflow(handle.id).status == "running"
    assert not console.errors, console.errors


def test_cancel_a_workflow_from_its_page(console, server, broker):
    handle = chain(sample.s(1), sample.s(), sample.s()).enqueue(name="nightly")
    page = console.open(server.url, f"/workflows/{handle.id}/")
    page.click("button:text-is('Cancel workflow')")
    expect(page.locator("#messages")).to_contain_text("Cancelled workflow nightly: 3 tasks")
    summary = page.locator(f"#workflow-summary-{handle.id} .badge.status")
    expect(summary).to_have_text("cancelled")
    expect(page.locator("button:text-is('Cancel workflow')")).to_have_count(0)
    node = page.locator(f'#workflow-graph-{handle.id} [data-key="2"]')
    expect(node).to_have_attribute("data-status", "cancelled")
    assert console.dialogs == [
        "Cancel workflow nightly? Its tasks that have not run are cancelled; a running one "
        "is asked to stop."
    ]
    assert inspect.get_workflow(handle.id).status == "cancelled"


def test_a_workflow_page_in_a_screenshot(console, server, broker, tmp_path):
    """docs/screenshots/workflow.png with `make screenshots`: a fan-out of 40 tasks
    (summarised), some done, some running, two dead, and what they block."""
    renders = {f"render-{i}": sample.s(i) for i in range(40)}
    nodes = {"extract": sample.s("day"), **renders, "report": other.s(), "mail": other.s()}
    edges = [("extract", key) for key in renders] + [(key, "report") for key in renders]
    handle = workflow(nodes, [*edges, ("report", "mail")], name="nightly report")
    finish_next(broker)
    for _ in range(25):
        finish_next(broker)
    kill_next(broker)
    kill_next(broker)
    broker.claim("default", "browser-test", 5)
    page = console.open(server.url, f"/workflows/{handle.id}/")
    expect(page.locator(f"#workflow-graph-{handle.id} .box.s-dead")).to_have_count(2)
    shot = screenshots_dir(tmp_path / "screenshots") / "workflow.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 10_000


WF_NAME = "<script>window.hacked = 'name'</script>"
WF_KEY = 'it\'s "<img src=/xss-probe onerror="window.hacked = \'key\'">"'


def test_workflow_names_and_node_keys_render_as_text_and_fire_nothing(console, server, broker):
    handle = workflow({WF_KEY: sample.s(1), "after": sample.s()}, [(WF_KEY, "after")],
                      name=WF_NAME)  # fmt: skip
    kill_next(broker)
    page = console.open(server.url, "/workflows/")
    expect(page.locator(f"#workflow-{handle.id} td.task a").first).to_have_text(WF_NAME)
    page = console.open(server.url, f"/workflows/{handle.id}/")
    expect(page.locator("h1")).to_have_text(WF_NAME)
    box = page.locator(f"#workflow-graph-{handle.id} .box.s-dead")
    expect(box).to_have_attribute("data-key", WF_KEY)
    expect(page.locator(f"#workflow-dead-{handle.id} td code").first).to_have_text(WF_KEY)
    page = console.open(server.url, f"/tasks/{handle['after'].id}/")
    expect(page.locator(".wf-waits code")).to_have_text(WF_KEY)
    assert page.evaluate("window.hacked") is None
    assert not [r for r in console.requests if "xss-probe" in r or r.startswith("POST")]
    assert console.dialogs == []
