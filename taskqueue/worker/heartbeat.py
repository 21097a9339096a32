"""The heartbeat thread: renews the leases of every task the worker holds every
lease/3, hears cancel requests and lost leases in the answer, keeps the worker's
registry entry fresh and flushes runtime statistics. A beat that found Redis
unreachable is tried again after RETRY_S, not a whole interval later: against a silent
peer a failed beat already took up to twice the socket timeout, and waiting a whole
interval more could leave the lease itself between two renewals.

It is a thread, not a coroutine, so a task that hogs the event loop (or the GIL for a
while: the interpreter switches threads every few ms) does not get its lease stolen.
"""

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable

from .. import runtime
from ..broker.outcomes import Lease
from ..broker.redis_broker import RedisBroker
from ..errors import BrokerUnavailable
from ..workers import WorkerBeat

log = logging.getLogger("taskqueue.worker")
RETRY_S = 1.0  # after a beat that found Redis unreachable (not a whole interval)
FINISH_WAIT_S = 5.0  # for a beat in progress when the worker stops


class Heartbeat(threading.Thread):
    def __init__(
        self,
        broker: RedisBroker,
        interval: float,
        held: Callable[[], list],
        on_answer: Callable[[str, str, Lease], None],
        registry_entry: Callable[[], WorkerBeat],
        stats: "RuntimeStats",
    ):
        super().__init__(name="taskqueue-heartbeat", daemon=True)
        self.broker = broker
        self.interval = interval
        self.held = held  # () -> [(queue, id, attempt, progress JSON or None)]
        self.on_answer = on_answer  # (queue, id, answer) when not plainly RENEWED
        self.registry_entry = registry_entry
        self.stopped = threading.Event()
        self.stats = stats

    def run(self) -> None:
        wait = self.interval
        while not self.stopped.wait(wait):
            wait = self.interval if self.beat() else min(RETRY_S, self.interval)

    def stop(self) -> None:
        self.stopped.set()

    def finish(self, worker_id: str) -> None:
        """Stop beating, leave the registry (when Redis answers) and close this thread's
        connections, which nothing else would close while the process lives on (a
        worker run inside another program, as the tests do)."""
        self.stop()
        if self.is_alive():
            self.join(timeout=FINISH_WAIT_S)  # a beat in progress ends first
        with contextlib.suppress(BrokerUnavailable):
            self.unregister(worker_id)
        self.broker.close()

    def beat(self) -> bool:
        """Renew, register, flush, each on its own (one that fails does not stop the
        others); False when Redis was unreachable (retry soon: a beat that met a silent
        peer has already used up to twice the socket timeout)."""
        for step in (self.renew, self.register, lambda: self.stats.flush(self.broker)):
            try:
                step()
            except BrokerUnavailable as exc:
                log.warning("heartbeat failed, will retry: %s", exc)
                return False
            except Exception:
                log.exception("heartbeat failed")
        return True

    def renew(self) -> None:
        """Renew every held task's lease, queue by queue: a queue whose renewal fails is
        logged and the other queues' leases are still renewed."""
        by_queue: dict[str, list[tuple]] = {}
        for queue, task_id, attempt, progress in self.held():
            by_queue.setdefault(queue, []).append((task_id, attempt, progress or ""))
        for queue, held in by_queue.items():
            try:
                answers = self.broker.renew(queue, held)
            except BrokerUnavailable:
                raise
            except Exception:
                log.exception("renewing the leases of queue %s failed", queue)
                continue
            for (task_id, _, _), answer in zip(held, answers, strict=True):
                if answer is not Lease.RENEWED:
                    self.on_answer(queue, task_id, answer)

    def register(self) -> None:
        """Write the registry entry, its heartbeat on Redis's clock."""
        now = self.broker.time_ms()
        self.broker.register_worker(self.registry_entry(), now)

    def unregister(self, worker_id: str) -> None:
        self.broker.unregister_worker(worker_id)


class RuntimeStats:
    """Runtime histogram increments, kept in memory and flushed with the heartbeat, one
    script call per queue (record_runtimes.lua). Task names come from records anyone can
    write: a name that is not UTF-8 is sent back as its own bytes (keys.wire), and a
    queue whose increments cannot be written (other than Redis being unreachable, when
    they wait for the next beat) loses them with a log line rather than holding back
    every other queue's at every beat."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()  # (queue, task, field) -> increment
        self.lock = threading.Lock()

    def record(self, queue: str, task: str, seconds: float) -> None:
        with self.lock:
            for part, n in runtime.parts(seconds):
                self.counts[(queue, task, part)] += n

    def take(self) -> Counter:
        with self.lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def put_back(self, counts: Counter) -> None:
        with self.lock:
            self.counts.update(counts)

    def by_queue(self, counts: Counter) -> dict[str, Counter]:
        """`counts` split by queue, each as (task, part) -> n."""
        out: dict[str, Counter] = {}
        for (queue, task, part), n in counts.items():
            out.setdefault(queue, Counter())[(task, part)] = n
        return out

    def put_back_queue(self, queue: str, counts: Counter) -> None:
        self.put_back(Counter({(queue, task, part): n for (task, part), n in counts.items()}))

    def settle(self, queue: str, counts: Counter, outcome) -> None:
        """After one queue's write: its counts back for the next flush when Redis was
        unreachable, dropped with a log line on any other error."""
        if isinstance(outcome, BrokerUnavailable):
            self.put_back_queue(queue, counts)
        elif isinstance(outcome, Exception):
            log.warning("runtime statistics of %d task(s) dropped: %s", len(counts), outcome)

    def flush(self, broker: RedisBroker) -> None:
        """Write what was recorded since the last flush (raises BrokerUnavailable)."""
        groups = list(self.by_queue(self.take()).items())
        for i, (queue, counts) in enumerate(groups):
            try:
                broker.record_runtimes(queue, counts)
            except BrokerUnavailable:
                for rest in groups[i:]:
                    self.put_back_queue(*rest)
                raise
            except Exception as exc:
                self.settle(queue, counts, exc)


async def register_when_possible(heartbeat: Heartbeat) -> None:
    """Register at start-up; if Redis is not reachable yet, start anyway: the fetch
    loop retries with backoff and the heartbeat registers at its next beat."""
    try:
        await asyncio.to_thread(heartbeat.register)
    except BrokerUnavailable as exc:
        log.warning("Redis is not reachable yet (%s): waiting for it", exc)
    except Exception:  # the registry is for people: never a reason not to start
        log.exception("registering the worker failed: the heartbeat tries again")
