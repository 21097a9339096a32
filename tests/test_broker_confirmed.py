"""Bulk actions on exactly what the operator confirmed (broker/confirm_ops.py, issue 19
item 2), on a real Redis: tasks noted under a confirmation token are the only ones a
purge or a DLQ action touches; what arrives between the count and the action is left."""

import pytest

from taskqueue.broker.confirm_ops import CONFIRM_TTL_MS
from taskqueue.status import Status

from .factories import enqueue, fail, make_task, start

TOKEN = "0123456789abcdef" * 2


def test_a_confirmed_purge_deletes_the_tasks_counted_and_none_that_arrived_since(broker):
    counted = enqueue(broker, *(make_task() for _ in range(23)))
    assert broker.note_pending("default", TOKEN) == (23, 23)
    arrived = enqueue(broker, make_task(), make_task(priority=9))  # ahead in line, too
    purged = broker.purge_confirmed("default", TOKEN, batch=5)
    assert purged == (23, {})
    assert [e.id for e in broker.entries("default", Status.PENDING)] == arrived[::-1]
    assert all(broker.get("default", i) is None for i in counted)
    assert broker.confirmed("default", TOKEN) == 0  # used up: a second purge finds none


def test_a_counted_task_that_left_pending_meanwhile_is_not_deleted_but_reported(broker):
    counted = enqueue(broker, *(make_task() for _ in range(4)))
    broker.note_pending("default", TOKEN)
    running, attempt = start(broker)  # the head of the line: counted[0]
    broker.complete("default", [(running, attempt, "1")])
    broker.cancel("default", counted[1])
    assert broker.purge_confirmed("default", TOKEN) == (2, {"completed": 1, "cancelled": 1})
    assert broker.get("default", running).status == Status.COMPLETED


def test_a_purge_without_a_token_still_deletes_every_pending_task(broker):
    enqueue(broker, *(make_task() for _ in range(7)))
    assert broker.purge_pending("default", batch=3) == 7
    assert broker.counts("default").pending == 0


def test_noting_is_capped_at_the_head_of_the_line_and_expires(broker, redis_client):
    ids = enqueue(broker, *(make_task() for _ in range(5)))
    assert broker.note_pending("default", TOKEN, limit=3) == (3, 5)
    key = broker.keys.queue("default").confirmation(TOKEN)
    assert 0 < redis_client.pttl(key) <= CONFIRM_TTL_MS
    assert broker.purge_confirmed("default", TOKEN) == (3, {})
    assert [e.id for e in broker.entries("default", Status.PENDING)] == ids[3:]


def test_nothing_pending_notes_nothing(broker):
    assert broker.note_pending("default", TOKEN) == (0, 0)
    assert broker.confirmed("default", TOKEN) == 0


def dead(broker, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        task_id, attempt = start(broker, make_task(max_retries=0))
        fail(broker, task_id, attempt, delay=None)
        ids.append(task_id)
    return ids


def test_noted_ids_are_taken_once(broker):
    ids = dead(broker, 3)
    broker.note_ids("default", TOKEN, ids)
    assert broker.confirmed("default", TOKEN) == 3
    assert sorted(
        broker.take_ids("default", TOKEN, count=2) + broker.take_ids("default", TOKEN)
    ) == sorted(ids)
    assert broker.take_ids("default", TOKEN) == []


@pytest.mark.parametrize("action", ["requeue", "delete"])
def test_a_dlq_action_limited_to_dead_leaves_a_task_that_is_no_longer_dead(broker, action):
    (was_dead,) = dead(broker, 1)
    broker.requeue("default", [was_dead])  # someone else requeued it ...
    broker.cancel("default", was_dead)  # ... and cancelled it: 'cancelled', not 'dead'
    moved = getattr(broker, action)("default", [was_dead], only=("dead",))
    assert moved == [("cancelled", False)]
    assert broker.get("default", was_dead).status == Status.CANCELLED


def test_only_refuses_statuses_the_action_cannot_take(broker):
    with pytest.raises(ValueError, match="only"):
        broker.requeue("default", ["x"], only=("pending",))


@pytest.fixture
def sharded(settings, tq_settings):
    from taskqueue.client import get_broker

    settings.TASKQUEUE = tq_settings | {"QUEUES": ["emails"], "SHARDS": {"emails": 4}}
    return get_broker()


def test_a_confirmed_purge_of_a_sharded_queue_takes_each_sub_queues_noted_tasks(sharded):
    enqueue(sharded, *(make_task("emails") for _ in range(8)))
    assert sharded.note_pending("emails", TOKEN) == (8, 8)
    assert sharded.confirmed("emails", TOKEN) == 8
    enqueue(sharded, *(make_task("emails") for _ in range(4)))
    assert sharded.purge_confirmed("emails", TOKEN, batch=1) == (8, {})
    assert sharded.counts("emails").pending == 4
