"""Queues no live worker serves: tasks sent there wait, silently, until one does.

Two readers: `queues_without_worker()` for /health and the console (what is pending
where no live worker looks), and `EnqueueWatch` on the enqueue path, which logs a
WARNING the first time a process sends a task to such a queue. The watch reads the
worker registry at most once every REFRESH_S per process, never once per enqueue, and
a registry it cannot read costs the enqueue nothing (the task was already sent).
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from .client import get_broker
from .workers import WorkerInfo

log = logging.getLogger("taskqueue")

REFRESH_S = 5.0  # seconds an enqueuing process trusts its view of the worker registry


def served_by(workers: Iterable[WorkerInfo]) -> set[str]:
    """The queues at least one live (not lost) worker serves."""
    return {queue for w in workers if not w.lost for queue in w.queues}


def queues_without_worker(pending: Mapping[str, int], workers: Sequence[WorkerInfo]) -> list[str]:
    """Queues with pending tasks that no live worker serves, in `pending`'s order."""
    served = served_by(workers)
    return [queue for queue, count in pending.items() if count > 0 and queue not in served]


class EnqueueWatch:
    """Warns once per queue (per process) that a task went where no live worker looks,
    or once that no worker is alive at all."""

    def __init__(
        self,
        read_workers: Callable[[], Sequence[WorkerInfo]],
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_workers = read_workers
        self.refresh_s = refresh_s
        self.clock = clock
        self.lock = threading.Lock()
        self.read_at: float | None = None
        self.served: set[str] | None = None  # None: the registry was never read
        self.warned: set[str] = set()
        self.warned_none = False

    def enqueued(self, queues: Iterable[str]) -> None:
        """Called after tasks were sent to `queues`; never raises, never waits for
        another thread's check (that enqueue is checked by the next one instead)."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            self._check(set(queues) - self.warned)
        except Exception:  # a warning must never fail an enqueue
            log.debug("could not check which queues live workers serve", exc_info=True)
        finally:
            self.lock.release()

    def _check(self, queues: set[str]) -> None:
        if not queues or (self.warned_none and self._fresh()):
            return
        self._refresh()
        if self.served is None:
            return
        if not self.served:
            if not self.warned_none:
                self.warned_none = True
                log.warning(
                    "no live worker: tasks sent to %s wait until a worker starts "
                    "(manage.py runworker).",
                    ", ".join(sorted(queues)),
                )
            return
        for queue in sorted(queues - self.served):
            self.warned.add(queue)
            log.warning(
                "queue %s has no live worker: its tasks wait until a worker serves it "
                "(live workers serve %s; start one with `runworker --queues %s`).",
                queue,
                ", ".join(sorted(self.served)),
                queue,
            )

    def _fresh(self) -> bool:
        return self.read_at is not None and self.clock() - self.read_at < self.refresh_s

    def _refresh(self) -> None:
        if self._fresh():
            return
        self.read_at = self.clock()  # a failed read waits out REFRESH_S too
        try:
            self.served = served_by(self.read_workers())
        except Exception:
            log.debug("could not read the worker registry", exc_info=True)


def _read_workers() -> Sequence[WorkerInfo]:
    return get_broker().workers()


watch = EnqueueWatch(_read_workers)


def enqueued(queues: Iterable[str]) -> None:
    """After an enqueue: warn about a queue no live worker serves (see EnqueueWatch)."""
    watch.enqueued(queues)


def reset() -> None:
    """Forget what this process read and warned about (tests; a settings change)."""
    global watch
    watch = EnqueueWatch(_read_workers)
