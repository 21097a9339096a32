"""In Chromium (issue 19, item 2): the purge's confirmation says how many tasks it will
delete, tasks keep arriving while the panel is open, and the result and the audit say
exactly the number the operator confirmed; the tasks that arrived stay pending."""

import sqlite3
import threading
import uuid

import pytest
from playwright.sync_api import expect

from taskqueue import inspect
from tests.support.tasks import sample

from .browsers import logged_in

PREFIX = f"x{uuid.uuid4().hex[:10]}"

pytestmark = pytest.mark.slow


@pytest.fixture
def console(browser, server):
    watched = logged_in(browser, server, viewport={"width": 1280, "height": 860})
    yield watched
    watched.page.context.close()


class Traffic:
    """Enqueues a task every few milliseconds until stopped: the demo's load, small."""

    def __init__(self):
        self.stop, self.ids = threading.Event(), []
        self.grew = threading.Condition()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.005):
            task_id = sample.enqueue("late").id
            with self.grew:
                self.ids.append(task_id)
                self.grew.notify_all()

    def wait_for_more(self, n: int, timeout: float = 10.0) -> None:
        """Until n more tasks have arrived than now."""
        with self.grew:
            target = len(self.ids) + n
            assert self.grew.wait_for(lambda: len(self.ids) >= target, timeout)

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


def audit_events(env: dict) -> list[tuple]:
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT count, filter, detail FROM taskqueue_auditevent WHERE action = 'purge_queue'"
        )
        return rows.fetchall()


def test_the_purge_deletes_the_number_its_dialog_showed_while_tasks_keep_arriving(
    console, server, broker, env
):
    broker.set_paused("default", True)
    counted = [sample.enqueue(i).id for i in range(23)]
    page = console.open(server.url, "/queues/default/")
    with Traffic() as traffic:
        traffic.wait_for_more(5)  # arriving before the count: counted too
        page.click("button:text-is('Purge pending…')")
        panel = page.locator("#purge-confirm")
        expect(panel).to_contain_text("pending tasks of default?")
        shown = int(panel.locator("strong").inner_text().split()[2])  # "Delete these N ..."
        assert shown >= 28
        traffic.wait_for_more(20)  # more arrive while the operator reads the dialog
        panel.locator(f"button:text-is('Yes, delete {shown}')").click()
        message = page.locator("#messages")
        expect(message).to_contain_text(f"Deleted {shown} pending tasks of default, the ones you")
    enqueued = 23 + len(traffic.ids)
    assert not any(broker.get("default", i) for i in counted)
    assert inspect.queue_counts("default").pending == enqueued - shown >= 20  # arrivals stay
    ((count, bound, detail),) = audit_events(env)
    assert count == shown and f'"confirmed": {shown}' in bound
    assert detail == '{"not_pending": {}}'
    expect(panel).to_be_empty()
