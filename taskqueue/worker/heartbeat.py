"""The heartbeat thread: renews the leases of every task the worker holds every
lease/3, hears cancel requests and lost leases in the answer, keeps the worker's
registry entry fresh, reads its control record (an operator's quiet or stop) and
flushes runtime statistics. A beat that found Redis unreachable is tried again after
RETRY_S, not a whole interval later: against a silent peer a failed beat already took
up to twice the socket timeout, and waiting a whole interval more could leave the lease
itself between two renewals.

The fast path (progress and cancel within a second; docs/worker.md, "The fast path"):
between beats the thread waits on an Event that two things set, neither costing a
round trip of its own:
- a task reporting progress (`progress_reported`, from TaskContext.report_progress): the
  thread renews the held leases, which carries the progress, at most once every FLUSH_S
  (reports in between are coalesced: the last value of each task goes, and the
  renewal announces changed progress on the queue's events for the console);
- a token on the worker's wake-up list in Redis (`listen_for_wakeups`, a coroutine on
  the worker's loop blocking in BLPOP): pushed by a cancel of a task this worker runs,
  or by an operator's command; the thread renews at once (hearing the cancel) and reads
  the control record.

It is a thread, not a coroutine, so a task that hogs the event loop (or the GIL for a
while: the interpreter switches threads every few ms) does not get its lease stolen.
"""

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable

from .. import runtime
from ..broker.counters import BucketCounts
from ..broker.outcomes import Lease
from ..broker.redis_broker import RedisBroker
from ..errors import BrokerUnavailable
from ..workers import WorkerBeat, WorkerControl

log = logging.getLogger("taskqueue.worker")
RETRY_S = 1.0  # after a beat that found Redis unreachable (not a whole interval)
FINISH_WAIT_S = 5.0  # for a beat in progress when the worker stops
FLUSH_S = 0.5  # progress reports reach Redis at most this often (coalesced)
LISTEN_S = 2.0  # longest BLPOP on the wake-up list (at most half SOCKET_TIMEOUT)


class Heartbeat(threading.Thread):
    def __init__(
        self,
        broker: RedisBroker,
        interval: float,
        held: Callable[[], list],
        on_answer: Callable[[str, str, Lease], None],
        registry_entry: Callable[[], WorkerBeat],
        stats: "RuntimeStats",
        on_control: Callable[[WorkerControl], None] | None = None,
    ):
        super().__init__(name="taskqueue-heartbeat", daemon=True)
        self.broker = broker
        self.interval = interval
        self.held = held  # () -> [(queue, id, attempt, progress JSON or None)]
        self.on_answer = on_answer  # (queue, id, answer) when not plainly RENEWED
        self.registry_entry = registry_entry
        self.on_control = on_control  # an operator's command, when there is one
        self.stopped = threading.Event()
        self.stats = stats
        self.nudged = threading.Event()  # progress to send, or a wake-up token came
        self.woken = False  # a token came: renew and read the control record now
        self.lock = threading.Lock()
        self.flushed_at = 0.0  # time.monotonic() of the last renewal
        self.obeyed = ""  # the last command handed to the worker

    def run(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self.stopped.is_set():
            left = next_beat - time.monotonic()
            if left > 0 and self.nudged.wait(left):  # a beat is never put off by nudges
                self.between_beats()
                continue
            if self.stopped.is_set():
                return
            ok = self.beat()
            next_beat = time.monotonic() + (self.interval if ok else min(RETRY_S, self.interval))

    def stop(self) -> None:
        self.stopped.set()
        self.nudged.set()

    # -- the fast path (see the module's doc) ------------------------------------------

    def progress_reported(self) -> None:
        """A task recorded progress (any thread; no I/O): it goes within FLUSH_S."""
        self.nudged.set()

    def wake(self) -> None:
        """A token came on the wake-up list (any thread): renew and read commands now."""
        with self.lock:
            self.woken = True
        self.nudged.set()

    def take_wakes(self) -> bool:
        """Whether a token came since the last call; from here on, nudges are new."""
        with self.lock:
            self.nudged.clear()
            woken, self.woken = self.woken, False
        return woken

    def between_beats(self) -> None:
        """Renew now (progress, cancels); after a token, read the control record too.
        Progress alone waits until FLUSH_S after the last renewal: reports coalesce."""
        if not self.woken:
            delay = self.flushed_at + FLUSH_S - time.monotonic()
            if delay > 0 and self.stopped.wait(delay):
                return
        woken = self.take_wakes()  # what is reported from here on goes with the next flush
        if self.stopped.is_set():
            return
        steps = (self.renew, self.read_control) if woken else (self.renew,)
        for step in steps:
            try:
                step()
            except BrokerUnavailable as exc:
                log.warning("heartbeat failed, will retry: %s", exc)
                return
            except Exception:
                log.exception("heartbeat failed")

    def read_control(self) -> None:
        """Hand an operator's command (quiet, stop) to the worker, and write the registry
        entry at once so the console shows the new state."""
        if self.on_control is None:
            return
        control = self.broker.worker_control(self.registry_entry().id)
        if control is not None and control.command != self.obeyed:
            self.obeyed = control.command
            self.on_control(control)
            self.register()

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
        """Renew, register, read the control record, flush, each on its own (one that
        fails does not stop the others); False when Redis was unreachable (retry soon:
        a beat that met a silent peer has already used up to twice the socket timeout)."""
        self.take_wakes()  # this beat renews and reads the control record too
        steps = (self.renew, self.register, self.read_control, self.flush_stats)
        for step in steps:
            try:
                step()
            except BrokerUnavailable as exc:
                log.warning("heartbeat failed, will retry: %s", exc)
                return False
            except Exception:
                log.exception("heartbeat failed")
        return True

    def flush_stats(self) -> None:
        self.stats.flush(self.broker)

    def renew(self) -> None:
        """Renew every held task's lease, queue by queue: a queue whose renewal fails is
        logged and the other queues' leases are still renewed."""
        self.flushed_at = time.monotonic()
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
        self.counts: dict[tuple[str, str], BucketCounts] = {}  # (queue, task) -> increments
        self.lock = threading.Lock()

    def record(self, queue: str, task: str, seconds: float) -> None:
        seen = BucketCounts.observation(runtime.bucket_of(seconds), int(seconds * 1000))
        self.put_back({(queue, task): seen})

    def take(self) -> dict[tuple[str, str], BucketCounts]:
        with self.lock:
            counts, self.counts = self.counts, {}
        return counts

    def put_back(self, counts: dict[tuple[str, str], BucketCounts]) -> None:
        with self.lock:
            for key, h in counts.items():
                self.counts[key] = self.counts[key] + h if key in self.counts else h

    def by_queue(
        self, counts: dict[tuple[str, str], BucketCounts]
    ) -> dict[str, dict[str, BucketCounts]]:
        """`counts` split by queue, each as task name -> increments."""
        out: dict[str, dict[str, BucketCounts]] = {}
        for (queue, task), h in counts.items():
            out.setdefault(queue, {})[task] = h
        return out

    def put_back_queue(self, queue: str, counts: dict[str, BucketCounts]) -> None:
        self.put_back({(queue, task): h for task, h in counts.items()})

    def settle(self, queue: str, counts: dict[str, BucketCounts], outcome) -> None:
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


async def listen_for_wakeups(broker, worker_id: str, wake: Callable[[], None]) -> None:
    """Block on the worker's wake-up list (no polling: BLPOP, LISTEN_S at most) and call
    `wake` for each token (Heartbeat.wake, or a child's word to its supervisor); runs
    on the worker's loop until cancelled."""
    block = min(LISTEN_S, broker.config.SOCKET_TIMEOUT / 2)  # a blocked read is no timeout
    while True:
        try:
            token = await broker.wait_for_control(worker_id, block)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away, or a key of the wrong type (healed by a push)
            log.debug("waiting for wake-up tokens failed: %s", exc)
            await asyncio.sleep(random.uniform(0.5, 1.0))
            continue
        if token is not None:
            wake()
