"""The running task's context: `current_task()` inside a task body.

from taskqueue import current_task

@task
def export(n):
    ctx = current_task()
    for i in range(n):
        ctx.raise_if_cancelled()           # a cancel request, or past the soft time limit
        ctx.report_progress({"done": i, "total": n})
"""

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import TaskCancelled, TaskTimeout
from .serialization import dumps

_current: contextvars.ContextVar["TaskContext | None"] = contextvars.ContextVar(
    "taskqueue_task", default=None
)


def current_task() -> "TaskContext | None":
    """The context of the task running in this thread or coroutine (None outside one)."""
    return _current.get()


@dataclass(eq=False)
class TaskContext:
    id: str
    name: str
    queue: str
    attempt: int  # 1 for the first run; counts every start, including lost ones
    failures: int  # failed attempts before this one
    max_retries: int
    deadline: float | None = None  # time.monotonic() value of the soft time limit
    cancel_event: threading.Event = field(default_factory=threading.Event)
    progress: str | None = None  # JSON, sent by the heartbeat's next flush
    # Told (no I/O) that progress was recorded: the worker's heartbeat sends it within
    # half a second, coalescing reports (worker/heartbeat.py).
    on_progress: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once a cancel was requested for this task."""
        return self.cancel_event.is_set()

    @property
    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def raise_if_cancelled(self) -> None:
        """Raise TaskCancelled after a cancel request, TaskTimeout past the time limit:
        the cooperative checkpoint for long sync tasks."""
        if self.cancelled:
            raise TaskCancelled(f"task {self.id} was cancelled")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimeout(f"task {self.id} went past its time limit")

    def report_progress(self, value: Any) -> None:
        """Record JSON-serialisable progress. Nothing is sent here: the worker sends the
        latest value of each task at most twice a second, so it reaches the console
        within about half a second however often a task reports."""
        self.progress = dumps(value, what="progress")
        if self.on_progress is not None:
            self.on_progress()


def activate(ctx: TaskContext | None) -> contextvars.Token:
    return _current.set(ctx)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)
