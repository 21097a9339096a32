"""Operator actions on the broker: cancel, requeue, delete, purge, pause."""

import pytest

from taskqueue.broker.outcomes import Ack
from taskqueue.errors import InvalidTransition, TaskDoesNotExist
from taskqueue.status import Status

from .factories import enqueue, fail, make_task, start


@pytest.mark.parametrize("delay_ms", [0, 60_000], ids=["pending", "scheduled"])
def test_cancel_takes_a_waiting_task_out_at_once(broker, delay_ms):
    (task_id,) = enqueue(broker, make_task(delay_ms=delay_ms))
    before = "scheduled" if delay_ms else "pending"
    assert broker.cancel("default", task_id) == ("cancelled", before)
    assert broker.get("default", task_id).status == Status.CANCELLED
    assert broker.claim("default", "w", 10) == []
    assert broker.promote("default", now=2**50)[0] == 0
    counts = broker.counts("default")
    assert (counts.pending, counts.scheduled, counts.cancelled) == (0, 0, 1)


def test_cancel_of_a_running_task_is_a_request_the_worker_confirms(broker):
    task_id, attempt = start(broker, make_task())
    assert broker.cancel("default", task_id) == ("requested", "processing")
    assert broker.get("default", task_id).cancel_requested
    assert broker.finish_cancelled("default", task_id, attempt) is Ack.RECORDED
    record = broker.get("default", task_id)
    assert (record.status, record.history[0].outcome) == (Status.CANCELLED, "cancelled")
    assert broker.counts("default").processing == 0


def test_cancel_of_a_completed_task_is_an_invalid_transition_naming_the_status(broker):
    task_id, attempt = start(broker, make_task())
    broker.complete("default", [(task_id, attempt, "1")])
    with pytest.raises(InvalidTransition, match="it is completed") as info:
        broker.cancel("default", task_id)
    assert info.value.status == "completed"
    assert broker.get("default", task_id).status == Status.COMPLETED


def test_cancel_of_an_unknown_task_says_it_does_not_exist(broker):
    with pytest.raises(TaskDoesNotExist):
        broker.cancel("default", "nope")


def test_requeue_sends_a_dead_task_back_with_fresh_retries(broker):
    task_id, attempt = start(broker, make_task(max_retries=0))
    fail(broker, task_id, attempt, delay=None)
    assert broker.requeue("default", [task_id]) == [("dead", True)]
    record = broker.get("default", task_id)
    assert (record.status, record.failures, record.attempts) == (Status.PENDING, 0, 1)
    assert broker.dead_errors("default") == {}
    assert broker.counts("default").dead == 0
    (c,) = broker.claim("default", "w", 1)
    assert (c.id, c.attempt, c.failures) == (task_id, 2, 0)


def test_requeue_twice_makes_one_task(broker):
    task_id, attempt = start(broker, make_task(max_retries=0))
    fail(broker, task_id, attempt, delay=None)
    assert broker.requeue("default", [task_id]) == [("dead", True)]
    assert broker.requeue("default", [task_id]) == [("pending", False)]
    assert broker.counts("default").pending == 1


def test_requeue_leaves_tasks_in_other_statuses_alone(broker):
    (pending,) = enqueue(broker, make_task())
    assert broker.requeue("default", [pending, "missing"]) == [
        ("pending", False),
        ("missing", False),
    ]
    assert broker.counts("default").stats.requeued == 0


def test_requeue_of_a_cancelled_task_makes_it_pending(broker):
    (task_id,) = enqueue(broker, make_task())
    broker.cancel("default", task_id)
    assert broker.requeue("default", [task_id]) == [("cancelled", True)]
    assert broker.counts("default").cancelled == 0
    assert broker.get("default", task_id).status == Status.PENDING


def test_delete_removes_a_finished_task_everywhere(broker, redis_client):
    task_id, attempt = start(broker, make_task())
    broker.complete("default", [(task_id, attempt, "1")])
    assert broker.delete("default", [task_id]) == [("completed", True)]
    q = broker.keys.queue("default")
    assert not redis_client.exists(q.task(task_id))
    assert redis_client.zscore(q.completed, task_id) is None
    assert redis_client.zscore(q.index, task_id) is None


def test_delete_of_a_dead_task_updates_the_error_counts(broker):
    task_id, attempt = start(broker, make_task(max_retries=0))
    fail(broker, task_id, attempt, delay=None)
    assert broker.delete("default", [task_id]) == [("dead", True)]
    assert broker.dead_errors("default") == {}
    assert broker.counts("default").dead == 0


def test_delete_refuses_unfinished_tasks(broker):
    (pending,) = enqueue(broker, make_task())
    assert broker.delete("default", [pending]) == [("pending", False)]
    assert broker.get("default", pending).status == Status.PENDING


def test_purge_deletes_only_pending_tasks_in_bounded_batches(broker):
    enqueue(broker, *[make_task() for _ in range(20)])
    (scheduled,) = enqueue(broker, make_task(delay_ms=60_000))
    running, _ = start(broker, make_task(priority=10))
    assert broker.purge_pending("default", batch=7) == 20
    counts = broker.counts("default")
    assert (counts.pending, counts.scheduled, counts.processing) == (0, 1, 1)
    assert broker.get("default", scheduled) is not None
    assert broker.get("default", running) is not None
    assert counts.stats.purged == 20


def test_run_now_makes_a_scheduled_task_pending_at_once(broker):
    (task_id,) = enqueue(broker, make_task(delay_ms=60_000))
    assert broker.run_now("default", task_id) == "pending"
    assert [c.id for c in broker.claim("default", "w", 5)] == [task_id]
    with pytest.raises(InvalidTransition, match="it is processing"):
        broker.run_now("default", task_id)


def test_resume_wakes_workers_for_the_waiting_tasks(broker, redis_client):
    enqueue(broker, make_task())
    q = broker.keys.queue("default")
    redis_client.delete(q.wake)
    broker.set_paused("default", True)
    broker.set_paused("default", False)
    assert redis_client.llen(q.wake) == 1
