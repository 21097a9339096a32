"""SyncPool: the threads that run sync task bodies.

Each thread takes tasks from one queue and appends what happened to an outbox; the
event loop is woken once for however many results are waiting, not once per task, so
the loop and the threads hand off with as little locking and GIL traffic as possible.
Threads are daemons: a task body past its time limit cannot keep the process alive.
"""

import collections
import contextlib
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue

from django.db import close_old_connections

from .. import tracing
from ..context import activate, deactivate

Result = tuple[object, object, BaseException | None, float]  # (item, value, error, seconds)


class SyncPool:
    def __init__(self, size: int, loop, deliver: Callable[[list[Result]], None]):
        self.size = size
        self.loop = loop
        self.deliver = deliver  # called on the loop with a batch of results
        self.inbox: SimpleQueue = SimpleQueue()
        self.outbox: collections.deque[Result] = collections.deque()
        self.lock = threading.Lock()
        self.woken = False
        self.threads: list[threading.Thread] = []

    def submit(self, item, ctx, func, args, kwargs) -> None:
        if len(self.threads) < self.size:
            self._add_thread()
        self.inbox.put((item, ctx, func, args, kwargs))

    def _add_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"taskqueue-task-{len(self.threads)}", daemon=True
        )
        self.threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while (job := self.inbox.get()) is not None:
            item, ctx, func, args, kwargs = job
            token = activate(ctx)
            scope = tracing.enter(item.trace) if tracing.enabled else None  # span current here
            started = time.perf_counter()
            value = error = None
            try:
                close_old_connections()
                value = func(*args, **kwargs)
            except BaseException as exc:  # every way a task body can end is reported
                error = exc
            finally:
                close_old_connections()
                if scope is not None:
                    tracing.leave(scope)
                deactivate(token)
            self.outbox.append((item, value, error, time.perf_counter() - started))
            self._wake_loop()

    def _wake_loop(self) -> None:
        with self.lock:
            if self.woken:
                return
            self.woken = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is exiting
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self.lock:
            self.woken = False
        batch = []
        while self.outbox:
            batch.append(self.outbox.popleft())
        if batch:
            self.deliver(batch)

    def stop(self) -> None:
        for _ in self.threads:
            self.inbox.put(None)
