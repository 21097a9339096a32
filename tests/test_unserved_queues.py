"""Tasks sent to a queue no live worker serves (issue 14): a WARNING once per queue on
enqueue, from a cached view of the worker registry; /health and the console overview
name the queues with pending tasks that no live worker serves."""

import logging
from types import SimpleNamespace

import pytest

from taskqueue import unserved
from taskqueue.errors import BrokerUnavailable
from taskqueue.unserved import EnqueueWatch, queues_without_worker
from tests.support.records import register_worker
from tests.support.tasks import add, send
from tests.support.web import Api, logged_in, make_user


def worker(*queues: str, lost: bool = False):
    return SimpleNamespace(queues=list(queues), lost=lost)


class Registry:
    """A worker registry read by an EnqueueWatch, with a clock the test moves."""

    def __init__(self, *workers):
        self.workers = list(workers)
        self.reads = 0
        self.now = 0.0
        self.error: Exception | None = None

    def read(self):
        self.reads += 1
        if self.error:
            raise self.error
        return self.workers

    def watch(self) -> EnqueueWatch:
        return EnqueueWatch(self.read, refresh_s=5.0, clock=lambda: self.now)


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.WARNING, logger="taskqueue")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "taskqueue"]


@pytest.fixture
def fresh_watch():
    unserved.reset()
    yield
    unserved.reset()


# -- the enqueue warning -------------------------------------------------------------------


def test_a_queue_no_live_worker_serves_is_warned_about_once(warnings):
    watch = Registry(worker("default"), worker("emails", lost=True)).watch()
    for _ in range(3):
        watch.enqueued(["emails", "default"])
    (message,) = warnings()
    assert message.startswith("queue emails has no live worker")


def test_each_unserved_queue_gets_its_own_warning(warnings):
    watch = Registry(worker("default")).watch()
    watch.enqueued(["emails"])
    watch.enqueued(["reports", "emails"])
    assert [m.split(" has")[0] for m in warnings()] == ["queue emails", "queue reports"]


def test_without_any_live_worker_one_different_warning_is_given(warnings):
    watch = Registry(worker("default", lost=True)).watch()
    watch.enqueued(["default"])
    watch.enqueued(["emails"])
    (message,) = warnings()
    assert message.startswith("no live worker: tasks sent to default wait")


def test_the_registry_is_read_at_most_once_per_refresh_interval():
    registry = Registry(worker("default"))
    watch = registry.watch()
    for step in range(10):  # 10 enqueues in 4.5 s
        registry.now = step * 0.5
        watch.enqueued(["default"])
    assert registry.reads == 1
    registry.now = 5.0
    watch.enqueued(["default"])
    assert registry.reads == 2


def test_a_worker_that_starts_later_is_seen_after_the_refresh_interval(warnings):
    registry = Registry(worker("default"))
    watch = registry.watch()
    watch.enqueued(["default"])
    registry.workers.append(worker("emails"))
    registry.now = 5.0
    watch.enqueued(["emails"])
    assert warnings() == []


def test_a_registry_that_cannot_be_read_never_fails_an_enqueue(warnings):
    registry = Registry()
    registry.error = BrokerUnavailable("Redis is down")
    watch = registry.watch()
    watch.enqueued(["emails"])  # does not raise
    registry.now = 1.0
    watch.enqueued(["emails"])
    assert registry.reads == 1 and warnings() == []  # no retry before the interval ends


def test_an_enqueue_never_waits_for_another_threads_check():
    registry = Registry(worker("default"))
    watch = registry.watch()
    with watch.lock:  # another thread is reading the registry
        watch.enqueued(["emails"])  # returns at once
    assert registry.reads == 0


def test_enqueue_warns_once_about_a_queue_no_registered_worker_serves(
    broker, warnings, fresh_watch
):
    register_worker(broker, "w-1", queues="default")
    add.enqueue(1, 2)
    send.enqueue("a@example.com")
    send.enqueue("b@example.com")
    (message,) = warnings()
    assert message.startswith("queue emails has no live worker")
    assert broker.counts("emails").pending == 2  # the tasks were sent all the same


# -- what is pending where no live worker looks ---------------------------------------------


def test_queues_with_pending_tasks_and_no_live_worker_are_listed_in_order():
    pending = {"default": 3, "emails": 2, "idle": 0, "reports": 1}
    workers = [worker("default"), worker("reports", lost=True)]
    assert queues_without_worker(pending, workers) == ["emails", "reports"]


@pytest.mark.django_db
def test_health_names_a_queue_with_pending_tasks_that_no_live_worker_serves(broker):
    register_worker(broker, "w-1", queues="default")
    send.enqueue("a@example.com")
    response = Api().get("health")
    assert response.status_code == 200  # the deployment runs other queues' tasks
    assert response.json()["unserved_queues"] == ["emails"]


@pytest.mark.django_db
def test_health_names_no_queue_when_every_pending_queue_is_served(broker):
    register_worker(broker, "w-1", queues="default,emails")
    send.enqueue("a@example.com")
    assert Api().get("health").json()["unserved_queues"] == []


BANNER = "has pending tasks and no live worker serves it"


@pytest.mark.django_db
def test_the_console_overview_warns_about_a_queue_no_live_worker_serves(broker):
    client = logged_in(make_user("vera", "view_console"))
    register_worker(broker, "w-1", queues="default")
    add.enqueue(1, 2)
    assert BANNER not in client.get("/").content.decode()
    send.enqueue("a@example.com")
    page = client.get("/").content.decode()
    assert f'Queue <a href="/queues/emails/">emails</a> {BANNER}' in page
    assert 'Queue <a href="/queues/default/">' not in page
