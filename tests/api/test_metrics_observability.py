"""The /metrics series the Grafana dashboard and the alerting rules need beyond the
counts (issue 20): wait percentiles per queue, flow-control holds, workers by state,
busy and idle slots, live workers per queue."""

import pytest

from taskqueue.limits import Limit, Rate
from tests.support.records import register_worker
from tests.support.scrape import samples
from tests.support.tasks import echo

pytestmark = pytest.mark.django_db
Q = ("queue", "default")


def test_wait_percentiles_come_from_the_tasks_the_queue_started(reader, broker):
    echo.enqueue(1), echo.enqueue(2)
    assert len(broker.claim("default", "w1", 2)) == 2
    got = samples(reader.get("metrics"))
    assert got[("taskqueue_queue_started_recent", (Q,))] == 2
    for q in ("0.5", "0.95", "0.99"):
        wait = got[("taskqueue_queue_wait_seconds", (("quantile", q), Q))]
        assert 0 <= wait <= 5  # just enqueued: the first buckets


def test_a_queue_that_started_nothing_has_no_wait_percentiles(reader, broker):
    echo.enqueue(1)
    got = samples(reader.get("metrics"))
    assert got[("taskqueue_queue_started_recent", (Q,))] == 0
    assert not [k for k in got if k[0] == "taskqueue_queue_wait_seconds"]


def test_tasks_held_by_a_rate_limit_count_under_its_kind_and_it_is_throttled(reader, broker):
    broker.declare_limits("default", Limit(), [("tests.api.echo", Limit(Rate(1, 60_000)))])
    for i in range(4):
        echo.enqueue(i)
    assert len(broker.claim("default", "w1", 4)) == 1
    got = samples(reader.get("metrics"))
    assert got[("taskqueue_limit_held_tasks", (Q, ("scope", "task")))] == 3
    assert got[("taskqueue_limit_held_tasks", (Q, ("scope", "queue")))] == 0
    assert got[("taskqueue_limit_throttled", (Q, ("scope", "task")))] == 1
    assert got[("taskqueue_limit_throttled", (Q, ("scope", "tenant")))] == 0


def test_live_workers_are_counted_by_state_and_by_busy_and_idle_slots(reader, broker):
    register_worker(broker, "w-1", in_flight=3, concurrency=4)
    register_worker(broker, "w-2", state="quiet", in_flight=1, concurrency=2)
    register_worker(broker, "w-3", silent_for_s=120, in_flight=5, concurrency=8)  # lost
    got = samples(reader.get("metrics"))
    states = {k[1][0][1]: v for k, v in got.items() if k[0] == "taskqueue_worker_states"}
    assert states == {"running": 1, "quiet": 1, "stopping": 0}
    assert got[("taskqueue_worker_slots", (("state", "busy"),))] == 4
    assert got[("taskqueue_worker_slots", (("state", "idle"),))] == 2


def test_each_queue_counts_the_live_workers_that_serve_it(reader, broker, settings):
    settings.TASKQUEUE = settings.TASKQUEUE | {"QUEUES": ["default", "emails"]}
    register_worker(broker, "w-1", queues="default,emails")
    register_worker(broker, "w-2", queues="emails")
    register_worker(broker, "w-3", queues="default", silent_for_s=120)  # lost
    got = samples(reader.get("metrics"))
    assert got[("taskqueue_queue_workers", (Q,))] == 1
    assert got[("taskqueue_queue_workers", (("queue", "emails"),))] == 2
