"""Enqueuing from Python: many prepared calls in one round trip, or one task by name."""

from collections.abc import Iterable, Sequence

from .client import get_broker
from .definition import EnqueueOptions, build_task
from .errors import ValidationError
from .handle import TaskHandle
from .records import NewTask
from .registry import registry


def enqueue_many(prepared: Iterable[NewTask]) -> list[TaskHandle]:
    """Send prepared tasks (from `some_task.prepare(...)`) in one round trip."""
    tasks = list(prepared)
    if not tasks:
        return []
    replies = get_broker().enqueue(tasks)
    return [
        TaskHandle(tid, t.queue, created) for t, (tid, created) in zip(tasks, replies, strict=True)
    ]


def enqueue(name: str, args: Sequence = (), kwargs: dict | None = None, **options) -> TaskHandle:
    """Enqueue a registered task by name (as the JSON API does); TaskNotFound if unknown."""
    task = registry.get(name)
    if not isinstance(args, (list, tuple)):
        raise ValidationError(f"args must be a list, not {type(args).__name__}.", field="args")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ValidationError(
            f"kwargs must be an object, not {type(kwargs).__name__}.", field="kwargs"
        )
    new = build_task(task, list(args), dict(kwargs or {}), EnqueueOptions(**options))
    return enqueue_many([new])[0]
