"""A hot queue split into sub-queues (TASKQUEUE["SHARDS"]): tasks spread over them,
each on its own cluster slot, and every read, action and search sees one queue."""

import pytest
from redis.crc import key_slot

import taskqueue
from taskqueue import inspect, services
from taskqueue.audit import Actor
from taskqueue.client import get_broker
from taskqueue.inspect import TaskFilter
from taskqueue.records import TaskError
from taskqueue.status import Status

from .factories import enqueue, make_task

SUBS = [f"emails#{n}" for n in range(4)]
OPERATOR = Actor("olga", "console")


@pytest.fixture
def sharded(settings, tq_settings):
    settings.TASKQUEUE = tq_settings | {"QUEUES": ["emails"], "SHARDS": {"emails": 4}}
    return get_broker()


def pending_per_sub(broker) -> list[int]:
    return [broker.client.zcard(broker.keys.queue(name).pending) for name in SUBS]


def test_new_tasks_are_spread_evenly_over_the_sub_queues(sharded):
    enqueue(sharded, *[make_task("emails") for _ in range(40)])
    assert pending_per_sub(sharded) == [10, 10, 10, 10]


def test_each_sub_queue_is_on_a_slot_of_its_own(sharded):
    slots = {key_slot(sharded.keys.queue(name).pending.encode()) for name in SUBS}
    assert len(slots) == 4
    for name in SUBS:
        assert len({key_slot(k.encode()) for k in sharded.keys.queue(name).all()}) == 1


def test_records_counts_and_the_queue_list_name_the_queue_not_its_sub_queues(sharded):
    ids = enqueue(sharded, *[make_task("emails") for _ in range(8)])
    assert sharded.known_queues() == ["emails"]
    assert {sharded.find(task_id).queue for task_id in ids} == {"emails"}
    assert sharded.get("emails", ids[5]).id == ids[5]
    counts = sharded.counts("emails")
    assert (counts.pending, counts.stats.enqueued) == (8, 8)


def test_an_idempotency_key_makes_one_task_whichever_process_enqueues(sharded):
    first = enqueue(sharded, make_task("emails", idempotency_key="welcome-ada"))
    again = [enqueue(sharded, make_task("emails", idempotency_key="welcome-ada")) for _ in range(5)]
    assert all(ids == first for ids in again)
    assert sum(pending_per_sub(sharded)) == 1


def test_pending_lists_every_sub_queue_priorities_first_across_pages(sharded):
    low = enqueue(sharded, *[make_task("emails", priority=2) for _ in range(9)])
    high = enqueue(sharded, *[make_task("emails", priority=9) for _ in range(9)])
    listed, cursor = [], None
    while True:
        page = sharded.list_tasks("emails", Status.PENDING, cursor=cursor, limit=4)
        listed += [r.id for r in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert set(listed[:9]) == set(high) and set(listed[9:]) == set(low)
    assert len(listed) == len(set(listed)) == 18


def test_claims_round_robin_over_the_sub_queues_reach_every_task(sharded):
    ids = set(enqueue(sharded, *[make_task("emails") for _ in range(12)]))
    claimed = []
    for name in sharded.shards.claim_order(["emails"]) * 2:
        claimed += sharded.claim(name, "w", 2)
    assert {c.id for c in claimed} == ids
    assert {c.queue for c in claimed} == set(SUBS)  # the worker reports to the sub-queue


@pytest.mark.django_db
def test_operator_actions_find_the_sub_queue_of_each_task(sharded):
    waiting = enqueue(sharded, *[make_task("emails") for _ in range(6)])
    assert services.cancel(OPERATOR, waiting[0]) == "cancelled"
    result = services.bulk(OPERATOR, "retry", [waiting[0]])
    assert result.done == [waiting[0]]
    assert services.pause(OPERATOR, "emails") is False
    assert all(sharded.claim(name, "w", 10) == [] for name in SUBS)
    assert sharded.counts("emails").paused
    services.resume(OPERATOR, "emails")
    assert services.purge_queue(OPERATOR, "emails") == 6
    assert sharded.counts("emails").pending == 0


@pytest.mark.django_db
def test_dead_letters_of_every_sub_queue_are_searched_and_requeued(sharded):
    ids = enqueue(sharded, *[make_task("emails", max_retries=0) for _ in range(4)])
    for name in SUBS:
        (c,) = sharded.claim(name, "w", 1)
        error = TaskError("SMTPError", "m", "")
        sharded.fail(name, c.id, c.attempt, retry_delay_ms=None, error=error)
    page = inspect.dead_letters(TaskFilter(queue="emails"), limit=10)
    assert {r.id for r in page.items} == set(ids)
    assert inspect.dead_groups("emails") == {"SMTPError": 4}
    flt = TaskFilter(queue="emails", exception="SMTPError")
    assert services.requeue_dead(OPERATOR, flt=flt) == 4
    assert sharded.counts("emails").pending == 4


def test_a_handle_waits_on_the_sub_queue_its_task_is_in(sharded):
    (task_id,) = enqueue(sharded, make_task("emails"))
    name = sharded.home("emails", task_id)
    (c,) = sharded.claim(name, "w", 1)
    sharded.complete(name, [(c.id, c.attempt, "42")])
    assert taskqueue.TaskHandle(task_id, "emails").result(timeout=5) == 42


def test_followed_events_name_the_queue(sharded):
    _, cursors = inspect.follow_events({})
    enqueue(sharded, *[make_task("emails") for _ in range(4)])
    seen = []
    while len(seen) < 4:
        events, cursors = inspect.follow_events(cursors, block_ms=1000)
        assert events, "the events arrived"
        seen += events
    assert {e.queue for e in seen} == {"emails"} and set(cursors) == set(SUBS)
