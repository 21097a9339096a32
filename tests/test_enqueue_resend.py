"""An enqueue sent again with the same task id (a client retry after a lost reply:
redis-py retries a command once on a connection error) leaves the task as it is."""

from taskqueue.status import Status

from .factories import enqueue, make_task


def test_resending_a_claimed_task_neither_resets_nor_requeues_it(broker, redis_client):
    task = make_task()
    enqueue(broker, task)
    (claimed,) = broker.claim("default", "w1", 1)
    assert broker.enqueue([task]) == [(task.id, False)]
    record = broker.get("default", task.id)
    assert (record.status, record.attempts) == (Status.PROCESSING, claimed.attempt)
    q = broker.keys.queue("default")
    assert redis_client.zcard(q.pending) == 0
    assert broker.claim("default", "w2", 1) == []


def test_resending_a_completed_task_does_not_run_it_again(broker):
    task = make_task()
    enqueue(broker, task)
    (claimed,) = broker.claim("default", "w1", 1)
    broker.complete("default", [(task.id, claimed.attempt, '"done"')])
    assert broker.enqueue([task]) == [(task.id, False)]
    record = broker.get("default", task.id)
    assert (record.status, record.result) == (Status.COMPLETED, "done")
    assert broker.claim("default", "w2", 1) == []


def test_resending_a_pending_task_keeps_one_copy_in_its_place(broker, redis_client):
    first, second = make_task(), make_task()
    enqueue(broker, first, second)
    assert broker.enqueue([first]) == [(first.id, False)]
    q = broker.keys.queue("default")
    assert redis_client.zrange(q.pending, 0, -1) == [first.id, second.id]
    assert int(redis_client.hget(q.stats, "enqueued")) == 2
