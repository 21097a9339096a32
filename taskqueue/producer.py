"""Enqueuing a registered task by name (`taskqueue.enqueue`, and the JSON API through
services.enqueue). Prepared calls are sent by `enqueue_many`, which lives beside them
in definition.py (a task's own `.enqueue()` sends through it) and is importable from
here too."""

from collections.abc import Sequence

from .definition import EnqueueOptions, build_task, enqueue_many
from .errors import ValidationError
from .handle import TaskHandle
from .payloads import check_call, sealed
from .registry import registry


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
    checked = check_call(task, args, kwargs or {})  # PayloadInvalid: signature and hints
    return enqueue_many([sealed(task, new, checked)])[0]
