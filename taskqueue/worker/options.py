"""Worker options, as `runworker` parses them."""

import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ValidationError
from ..names import is_queue_name, validate_queue_name


@dataclass(frozen=True)
class WorkerOptions:
    queues: tuple[str, ...]
    weights: tuple[int, ...] | None = None  # None: strict order
    concurrency: int = 10
    prefetch: int | None = None  # tasks claimed ahead of free slots; None: max(concurrency, 4)
    processes: int = 1
    burst: bool = False
    name: str = ""
    grace: float = 30.0
    max_tasks_per_child: int | None = None
    log_format: str = "text"

    def __post_init__(self) -> None:
        if self.prefetch is None:
            object.__setattr__(self, "prefetch", max(self.concurrency, 4))

    @property
    def worker_id(self) -> str:
        return f"{self.name or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def parse_queues(spec: str) -> tuple[tuple[str, ...], tuple[int, ...] | None]:
    """'high,default,low' (strict order) or 'high:5,default:2,low:1' (weighted)."""
    names, weights = [], []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, weight = part.partition(":")
        names.append(validate_queue_name(name.strip()))
        if sep:
            if not weight.strip().isdigit() or int(weight) < 1:
                raise ValidationError(f"queue weight must be a positive integer, not {weight!r}.")
            weights.append(int(weight))
    if not names:
        raise ValidationError("--queues needs at least one queue name.")
    if len(set(names)) != len(names):
        raise ValidationError(f"--queues names a queue twice: {spec!r}.")
    if weights and len(weights) != len(names):
        raise ValidationError("give every queue a weight (name:weight) or none.")
    return tuple(names), (tuple(weights) if weights else None)


def default_queues(config, tasks: Iterable) -> tuple[str, ...]:
    """The queues a worker started without --queues serves: TASKQUEUE['QUEUES'] in
    order, then, sorted, every other queue tasks are sent to without saying so at
    enqueue time: a registered task's declared queue (DEFAULT_QUEUE when it declares
    none; a django.tasks task's queue_name) and a periodic schedule's `queue`. Without
    them, `@task(queue="emails")` would wait forever under a worker run with no flags.
    Sharded queues keep their logical names here (the broker expands them)."""
    configured = list(config.QUEUES)
    found = {declared_queue(t) or config.DEFAULT_QUEUE for t in tasks}
    found |= {s["queue"] for s in config.PERIODIC.values() if _names_queue(s)}
    return tuple(configured + sorted(found - set(configured)))


def declared_queue(task) -> str | None:
    """The queue a registered task declares: @task(queue=...), or for the native task
    standing for a django.tasks task (it has a `django_task`), that task's queue_name."""
    django_task = getattr(task, "django_task", None)
    if django_task is not None:
        return django_task.queue_name
    return task.options.queue


def _names_queue(schedule: object) -> bool:
    """A periodic schedule with a valid `queue` (system checks report the others)."""
    return isinstance(schedule, dict) and is_queue_name(schedule.get("queue"))
