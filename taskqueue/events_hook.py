"""TASKQUEUE["EVENT_HOOK"]: a callable of yours that receives task state changes as
TaskEvents, so you can ship them to your own system without reading Redis
(docs/observability.md#events-hook).

Where they come from: the process that made the change, right after Redis accepted
it. A producer reports what it enqueued (`enqueue_many`, which `.enqueue()`,
`taskqueue.enqueue` and the JSON API's POST /tasks go through); a worker reports each
outcome once Redis has recorded it (worker/acks.py): completed, retried, dead,
cancelled. A report Redis refused (the lease was lost) and an abandoned attempt are
not events: nothing changed.

Delivery is best-effort and at most once. The caller only appends the event to a
bounded in-memory buffer (BUFFER events; past that, events are dropped and counted)
and goes on: one thread per process calls the hook, one event at a time, in order. A
hook that raises is logged (logger `taskqueue.events`) and the next event goes on; a
slow hook only fills the buffer; it never blocks a worker or an enqueue, and never
fails a task. Events still buffered when the process ends are delivered for up to
EXIT_FLUSH_S at exit, then lost.
"""

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.utils.module_loading import import_string

from .broker.outcomes import Failed, refused
from .conf import get_config
from .records import Claimed, NewTask

log = logging.getLogger("taskqueue.events")
BUFFER = 10_000  # events waiting for the hook, per process; more are dropped
EXIT_FLUSH_S = 2.0  # how long an ending process waits for the hook to catch up


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One state change of one task. No arguments, results or tracebacks: read the
    task by id (taskqueue.inspect.get_task) if the hook needs them."""

    event: str  # enqueued, completed, retried, dead, cancelled
    status: (
        str  # the task's status after it: pending, scheduled, waiting, completed, dead, cancelled
    )
    task_id: str
    queue: str
    task: str  # the task's registered name
    tenant: str | None
    attempt: int  # the attempt that ended (0 for enqueued)
    at: float  # when this process saw Redis accept the change: epoch seconds
    source: str  # producer or worker
    runtime_s: float | None = None  # the attempt's run time
    error_type: str | None = None  # failed attempts: the exception's class
    error_message: str | None = None
    retry_delay_s: float | None = None  # retried: the backoff before the next attempt

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def enqueued(tasks: Sequence[NewTask], replies: Iterable[tuple[str, bool]]) -> None:
    """The tasks an enqueue created (an idempotency key that found its task: none)."""
    hook = current_hook()
    if hook is None:
        return
    now = time.time()
    for t, (task_id, created) in zip(tasks, replies, strict=True):
        if created:
            status = (
                "waiting" if t.waiting else "scheduled" if t.delay_ms or t.eta_ms else "pending"
            )
            dispatcher().put(hook, TaskEvent("enqueued", status, task_id, t.queue, t.name,
                                             t.tenant or None, 0, now, "producer"))  # fmt: skip


def reported(claimed: Claimed, outcome: Any, answer: object) -> None:
    """A worker's outcome (runner.Outcome: kind, error, retry_delay_ms, runtime_s)
    that Redis answered `answer`."""
    hook = current_hook()
    if hook is None or outcome.kind == "abandoned" or refused(answer):
        return
    c, error = claimed, outcome.error
    if outcome.kind == "failed":
        event, status = ("dead", "dead") if answer is Failed.DEAD else ("retried", "scheduled")
    else:
        event = status = outcome.kind  # completed, cancelled
    delay = outcome.retry_delay_ms if event == "retried" else None
    dispatcher().put(
        hook,
        TaskEvent(
            event, status, c.id, c.logical_queue or c.queue, c.name, c.tenant or None,
            c.attempt, time.time(), "worker", outcome.runtime_s,
            error.type if error else None, error.message if error else None,
            None if delay is None else delay / 1000,
        ),
    )  # fmt: skip


_resolved: tuple[str, Callable | None] = ("", None)


def current_hook() -> Callable | None:
    """The configured hook (imported once per setting value), or None."""
    global _resolved
    path = get_config().EVENT_HOOK
    if not path:
        return None
    if _resolved[0] != path:
        try:
            hook = import_string(path)
            if not callable(hook):
                raise TypeError(f"{path} is not callable")
        except Exception:  # E021 says so at start-up; here: say it once, send nothing
            log.exception("TASKQUEUE['EVENT_HOOK'] %r cannot be used; no events are sent", path)
            hook = None
        _resolved = (path, hook)
    return _resolved[1]


class Dispatcher:
    """A bounded buffer and the one thread that empties it into the hook."""

    def __init__(self, capacity: int = BUFFER):
        self.capacity = capacity
        self.items: deque[tuple[Callable, TaskEvent]] = deque()
        self.cond = threading.Condition()
        self.busy = False
        self.dropped = 0
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="taskqueue-events", daemon=True)
        self.thread.start()

    def put(self, hook: Callable, event: TaskEvent) -> bool:
        """Buffer one event; False (and counted) when the buffer is full. Never blocks
        longer than a lock taken to append."""
        with self.cond:
            if len(self.items) >= self.capacity:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("events hook is behind: %d event(s) dropped", self.dropped)
                return False
            self.items.append((hook, event))
            self.cond.notify_all()
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until the hook has been called for every buffered event (or timeout)."""
        with self.cond:
            return self.cond.wait_for(lambda: not self.items and not self.busy, timeout)

    def _run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.items)
                hook, event = self.items.popleft()
                self.busy = True
            try:
                hook(event)
            except Exception:
                log.exception("events hook failed on %s of task %s", event.event, event.task_id)
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()


_dispatcher: Dispatcher | None = None
_lock = threading.Lock()


def dispatcher() -> Dispatcher:
    """This process's dispatcher, started on first use (again in a forked child)."""
    global _dispatcher
    d = _dispatcher
    if d is not None and d.pid == os.getpid():
        return d
    with _lock:
        if _dispatcher is None or _dispatcher.pid != os.getpid():
            _dispatcher = Dispatcher()
        return _dispatcher


def flush(timeout: float = EXIT_FLUSH_S) -> bool:
    """Wait until the buffered events reached the hook; True when none is left."""
    d = _dispatcher
    return True if d is None or d.pid != os.getpid() else d.flush(timeout)


atexit.register(flush)
