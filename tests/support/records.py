"""Records the tests need in Redis: a dead task, made through the broker's own scripts,
and a worker registry entry as a running worker writes it (docs/redis-keys.md)."""

from taskqueue.broker.outcomes import Failed
from taskqueue.handle import TaskHandle
from taskqueue.records import TaskError


def run_next(broker, handle: TaskHandle):
    """Claim the queue's next task, which must be `handle`'s (enqueue it into an empty
    queue, or finish each task before enqueuing the next)."""
    (claimed,) = broker.claim(handle.queue, "worker-1", 1)
    assert claimed.id == handle.id
    return claimed


def make_dead(
    broker,
    task: TaskHandle | str,
    error_type: str = "ValueError",
    message: str = "boom",
    traceback: str = "Traceback ...",
    *,
    queue: str = "default",
) -> str:
    """Claim the queue's next task, which must be `task` (a handle, or a task id in
    `queue`), and fail it without a retry: it is dead at once. Returns its id."""
    handle = TaskHandle(task, queue) if isinstance(task, str) else task
    claimed = run_next(broker, handle)
    error = TaskError(error_type, message, traceback)
    outcome = broker.fail(claimed.queue, claimed.id, claimed.attempt, retry_delay_ms=None,
                          error=error)  # fmt: skip
    assert outcome is Failed.DEAD
    return handle.id


def register_worker(broker, worker_id: str, *, silent_for_s: float = 0.0, **fields) -> None:
    """A worker registry entry whose last heartbeat was `silent_for_s` ago; `fields`
    replace the entry's defaults (e.g. queues="default,emails")."""
    beat = broker.time_ms() - int(silent_for_s * 1000)
    entry = {"id": worker_id, "name": f"{worker_id}@web-1", "host": "web-1", "pid": 4242,
             "queues": "default", "concurrency": 4, "processes": 1, "started_at": beat - 60_000,
             "heartbeat_at": beat, "in_flight": 1, "processed": 10, "failed": 2,
             "state": "running"}  # fmt: skip
    broker.client.hset(broker.keys.worker(worker_id), mapping=entry | fields)
    broker.client.zadd(broker.keys.workers, {worker_id: beat})
