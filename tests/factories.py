"""Small builders for broker-level tests: tasks to enqueue, and one claimed and failed."""

import itertools
import json

from taskqueue.priority import band_of, level_of
from taskqueue.records import NewTask, TaskError

_ids = itertools.count(1)
NOW = 1_800_000_000_000  # the `now` the broker tests pass (epoch ms)
LEASE = 10_000


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
    tenant: str = "",
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
        tenant=tenant,
    )


def enqueue(broker, *tasks: NewTask, now: int | None = None) -> list[str]:
    return [task_id for task_id, _ in broker.enqueue(list(tasks), now=now)]


def start(broker, task=None, *, now=NOW, worker="w1"):
    """Enqueue one task and claim it: returns (id, attempt)."""
    if task is not None:
        enqueue(broker, task, now=now)
    (c,) = broker.claim("default", worker, 1, lease_ms=LEASE, now=now)
    return c.id, c.attempt


def fail(broker, task_id, attempt, *, delay=1000, now=NOW, error_type="ValueError"):
    """Fail a claimed attempt of a task in "default": retried in `delay` ms, or (with
    delay=None) dead at once. Returns the broker's outcome."""
    return broker.fail(
        "default",
        task_id,
        attempt,
        retry_delay_ms=delay,
        error=TaskError(error_type, "bad", "Traceback..."),
        now=now,
    )
