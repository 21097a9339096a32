"""Builders of finished tasks for the audit, admin and archive tests: through the broker's
own scripts, or (for volume) written straight into Redis with a pipeline. A dead one is
`make_dead` in tests/support/records.py."""

import json

from taskqueue.models import AuditEvent
from tests.support.records import run_next


def completed(broker, handle, result=None):
    claimed = run_next(broker, handle)
    assert broker.complete(claimed.queue, [(claimed.id, claimed.attempt, json.dumps(result))])
    return handle.id


def cancelled(broker, handle):
    assert broker.cancel(handle.queue, handle.id)[0] == "cancelled"
    return handle.id


def write_finished(broker, queue, kind, ids, *, first_score, chunk=5000):
    """Write finished task records straight into Redis (no scripts): one HSET per task
    and one ZADD into the queue's `kind` set, scores first_score, first_score + 1, ..."""
    keys = broker.keys.queue(queue)
    broker.register_queues([queue])
    for start in range(0, len(ids), chunk):
        with broker.client.pipeline(transaction=False) as pipe:
            for offset, task_id in enumerate(ids[start : start + chunk], start=start):
                score = first_score + offset
                pipe.hset(keys.task(task_id), mapping=_record(task_id, queue, kind, score))
                pipe.zadd(getattr(keys, kind), {task_id: score})
            pipe.execute()


def _record(task_id: str, queue: str, kind: str, finished_ms: int) -> dict:
    record = {
        "id": task_id,
        "name": "tests.bulk_job",
        "queue": queue,
        "status": kind,
        "priority": 5,
        "args": json.dumps([1, "two"]),
        "kwargs": json.dumps({"api_key": "k-123", "n": 3}),
        "attempts": 1,
        "failures": 1 if kind == "dead" else 0,
        "created_at": finished_ms - 2000,
        "started_at": finished_ms - 1000,
        "finished_at": finished_ms,
        "h:1": f"worker-9|{finished_ms - 1000}|{finished_ms}|{kind}",
    }
    if kind == "dead":
        record |= {"error_type": "TimeoutError", "error_message": "slow", "dead_reason": "failed"}
    return record


def events() -> list[AuditEvent]:
    return list(AuditEvent.objects.order_by("id"))


def only_event() -> AuditEvent:
    (event,) = events()
    return event
