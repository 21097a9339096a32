"""Small builders for broker-level tests."""

import itertools
import json

from taskqueue.priority import band_of, level_of
from taskqueue.records import NewTask

_ids = itertools.count(1)


def make_task(
    queue: str = "default",
    *,
    priority: int = 5,
    task_id: str | None = None,
    max_retries: int = 3,
    delay_ms: int = 0,
    eta_ms: int = 0,
    idempotency_key: str = "",
    args: list | None = None,
    name: str = "tests.noop",
) -> NewTask:
    return NewTask(
        id=task_id or f"task-{next(_ids)}",
        name=name,
        queue=queue,
        args=json.dumps(args or []),
        kwargs="{}",
        priority=priority,
        band=band_of(level_of(priority)),
        max_retries=max_retries,
        timeout=None,
        delay_ms=delay_ms,
        eta_ms=eta_ms,
        idempotency_key=idempotency_key,
    )


def enqueue(broker, *tasks: NewTask, now: int | None = None) -> list[str]:
    return [task_id for task_id, _ in broker.enqueue(list(tasks), now=now)]
