"""Live updates never fight the operator (issue 19, items 1 and 3), in Debian's headless
Chromium against daphne and `runworker`, while a producer enqueues 500 tasks/s.

A scripted operator presses tabs for 120 ms, moves the keyboard focus through the
header's buttons and ticks rows while the queue's header and rows are pushed several
times a second: every click lands, the focus stays where it was put, ticked rows stay
ticked (one whose task completed says what it was when ticked). On a paused queue,
new pending tasks are offered by a "N new — show" bar that adds them in place."""

import threading
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from demo.tasks import fast
from taskqueue import enqueue_many, inspect
from tests.support.tasks import sample
from tests.support.waits import wait_for

from .browsers import logged_in
from .servers import worker

PREFIX = f"i{uuid.uuid4().hex[:10]}"
RATE = 500  # tasks/s the producer enqueues
PRESS_MS = 120  # how long a click holds the mouse button down
COUNT_PUSHES = """() => { window.pushes = 0;
  document.addEventListener("htmx:wsAfterMessage", () => { window.pushes += 1; }); }"""

pytestmark = pytest.mark.slow


@pytest.fixture
def console(browser, server):
    watched = logged_in(browser, server, viewport={"width": 1280, "height": 900})
    watched.page.add_init_script(f"({COUNT_PUSHES})()")
    yield watched
    watched.page.context.close()
    # Left out: a stylesheet or script served with a 500 (issue 19's item 9, static
    # files under daphne, handled apart), and rows pushed while a tab switch was under
    # way (the page watched them when the push left; htmx drops them).
    benign = ("the server responded with a status of 500", "oobErrorNoTarget", "no target for")
    assert not [e for e in watched.errors if not any(b in e for b in benign)], watched.errors


class Producer(threading.Thread):
    """Enqueues demo.tasks.fast into `default` at RATE tasks/s (in round trips of 25),
    until stopped."""

    def __init__(self):
        super().__init__(name="producer", daemon=True)
        self.stopped = threading.Event()
        self.backlog = threading.Event()  # a first page's worth and more is enqueued
        self.sent = 0

    def run(self) -> None:
        batch, started = 25, time.monotonic()
        while not self.stopped.is_set():
            enqueue_many([fast.using(queue="default").prepare(self.sent + i) for i in range(batch)])
            self.sent += batch
            if self.sent >= 200:
                self.backlog.set()
            self.stopped.wait(max(0.0, started + self.sent / RATE - time.monotonic()))

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


@pytest.fixture
def traffic():
    producer = Producer()
    producer.start()
    assert producer.backlog.wait(timeout=10), "the producer did not start"
    yield producer
    producer.stop()


def wait_for_pushes(page: Page, n: int, timeout: float = 10_000) -> None:
    """Wait until `n` more pushed messages have been swapped into the page."""
    start = page.evaluate("window.pushes")
    page.wait_for_function("n => window.pushes >= n", arg=start + n, timeout=timeout)


def active(page: Page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


@pytest.fixture
def running(env, tmp_path):
    """A worker serving `default`."""
    runner = worker(env, tmp_path / "worker.log").start()
    yield runner
    runner.stop()


def test_every_press_lands_and_the_focus_stays_under_500_tasks_a_second(console, server,
                                                                         traffic):  # fmt: skip
    page = console.open(server.url, "/queues/default/")
    listing = page.locator("#listing")
    expect(page.locator("#listing tbody tr[id^=task-]")).to_have_count(50)
    wait_for_pushes(page, 2)  # the header moves with the backlog

    # Every press of a tab (120 ms down) lands, however often the header is pushed.
    pushes = page.evaluate("window.pushes")
    for _ in range(6):
        for tab, status in (("Completed", "completed"), ("Pending", "pending")):
            page.locator(f"nav.tabs a.tab-{status}").click(delay=PRESS_MS)
            expect(listing).to_have_attribute("data-status", status, timeout=3000)
            assert tab in page.locator(f"nav.tabs a.tab-{status}").inner_text()
    assert page.evaluate("window.pushes") > pushes + 4, "the header was not pushed meanwhile"

    # The keyboard focus stays on the button (or tab) it was moved to.
    page.locator("button:text-is('Pause')").focus()
    for expected in ("Pause", "Purge pending", "Pending"):
        wait_for_pushes(page, 3)
        assert active(page).startswith(expected), active(page)
        page.keyboard.press("Tab")
    assert active(page).startswith("Scheduled")


def test_ticked_rows_stay_ticked_as_their_tasks_complete_under_500_tasks_a_second(
    console, server, traffic, running, broker, tmp_path
):
    # Select all on the task list: the 50 stay ticked while their rows are pushed.
    page = console.open(server.url, "/tasks/")
    page.locator("input[data-select-all]").click(delay=PRESS_MS)
    boxes = page.locator("#listing input[name=ids]:checked")
    expect(boxes).to_have_count(50)
    notes = page.locator("#listing .ticked-note")
    expect(notes).to_have_count(50, timeout=20_000)  # every row's task moved on, pushed
    expect(boxes).to_have_count(50)
    expect(notes.first).to_have_text("was pending when ticked")

    # A ticked row whose task someone deletes stays, ticked, and says so.
    row = page.locator("#listing tbody tr[id^=task-]").first
    gone = row.get_attribute("id").removeprefix("task-")
    assert broker.delete("default", [gone]) == [("completed", True)]
    expect(row.locator(".ticked-note")).to_have_text("no longer exists")
    expect(row).to_have_class("status-completed gone")
    expect(boxes).to_have_count(50)

    # On a queue's page, paused while its backlog grows: ticked rows stay ticked when
    # the queue resumes and their tasks (the oldest: the first to run) complete.
    broker.set_paused("default", True)
    wait_for(lambda: inspect.queue_counts("default").pending >= 100, message="a backlog")
    page = console.open(server.url, "/queues/default/")
    rows = page.locator("#listing tbody tr[id^=task-]")
    expect(rows).to_have_count(50)
    for i in range(5):
        rows.nth(i).locator("input[name=ids]").click(delay=PRESS_MS)
    ticked = page.locator("#listing input[name=ids]:checked")
    expect(ticked).to_have_count(5)
    broker.set_paused("default", False)
    for i in range(5):
        expect(rows.nth(i)).to_have_class("status-completed", timeout=10_000)
    wait_for_pushes(page, 3)
    expect(ticked).to_have_count(5)
    for i in range(5):
        expect(rows.nth(i).locator("input[name=ids]")).to_be_checked()
        expect(rows.nth(i).locator(".ticked-note")).to_have_text("was pending when ticked")
    expect(rows.nth(5).locator(".ticked-note")).to_have_count(0)  # not ticked: no note
    page.screenshot(path=tmp_path / "ticked-under-load.png", full_page=True)


def test_a_paused_queue_offers_its_new_pending_tasks_in_place(console, server, broker, tmp_path):
    broker.set_paused("low", True)
    first = sample.using(queue="low").enqueue("first").id
    page = console.open(server.url, "/queues/low/")
    rows = page.locator("#listing tbody tr[id^=task-]")
    expect(rows).to_have_count(1)
    rows.first.locator("input[name=ids]").check()
    page.evaluate("window.notReloaded = true")
    bar = page.locator("#new-rows")
    expect(bar).to_be_hidden()
    place = rows.first.bounding_box()["y"]

    added = [sample.using(queue="low").enqueue(i).id for i in range(20)]
    expect(page.locator("nav.tabs a.tab-pending .count")).to_have_text("21", timeout=5000)
    expect(bar.get_by_role("button")).to_have_text("20 new \u2014 show")
    expect(rows).to_have_count(1)  # nothing moves under the operator until asked
    assert rows.first.bounding_box()["y"] == place
    page.screenshot(path=tmp_path / "new-rows.png")

    bar.get_by_role("button").click()
    expect(rows).to_have_count(21)
    expect(bar).to_be_hidden()
    assert rows.first.get_attribute("id") == f"task-{first}"
    assert rows.first.bounding_box()["y"] == place  # the same row in the same place
    expect(rows.first.locator("input[name=ids]")).to_be_checked()  # the operator's place
    assert rows.last.get_attribute("id") == f"task-{added[-1]}"
    assert page.evaluate("window.notReloaded") is True
