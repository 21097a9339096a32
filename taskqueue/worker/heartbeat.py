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

from ..broker.errors import translating
from ..broker.redis_broker import RedisBroker
from ..client import close_client
from ..errors import BrokerUnavailable
from ..runtime import bucket_of
from ..workers import FORGET_AFTER_S

log = logging.getLogger("taskqueue.worker")
RETRY_S = 1.0  # after a beat that found Redis unreachable (not a whole interval)
FINISH_WAIT_S = 5.0  # for a beat in progress when the worker stops


class Heartbeat(threading.Thread):
    def __init__(
        self,
        broker: RedisBroker,
        interval: float,
        held: Callable[[], list],
        on_answer: Callable[[str, str, int], None],
        registry_entry: Callable[[], dict],
        stats: "RuntimeStats",
    ):
        super().__init__(name="taskqueue-heartbeat", daemon=True)
        self.broker = broker
        self.interval = interval
        self.held = held  # () -> [(queue, id, attempt, progress JSON or None)]
        self.on_answer = on_answer  # (queue, id, answer): 1 renewed, 2 cancel requested, 0 lost
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
        close_client(self.broker.client)

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
                if answer != 1:
                    self.on_answer(queue, task_id, answer)

    @translating
    def register(self) -> None:
        """Write the registry entry (a registry key of the wrong type is moved aside)."""
        entry = self.registry_entry()
        now = self.broker.time_ms()
        entry["heartbeat_at"] = now
        keys, key = self.broker.keys, self.broker.keys.worker(entry["id"])

        def write():
            with self.broker.client.pipeline(transaction=False) as pipe:
                pipe.hset(key, mapping={k: str(v) for k, v in entry.items()})
                pipe.expire(key, FORGET_AFTER_S)
                pipe.zadd(keys.workers, {entry["id"]: now})
                pipe.zremrangebyscore(keys.workers, "-inf", now - FORGET_AFTER_S * 1000)
                pipe.execute()

        self.broker.healing_global({key: "hash", keys.workers: "zset"}, write)

    @translating
    def unregister(self, worker_id: str) -> None:
        workers = self.broker.keys.workers

        def write():
            with self.broker.client.pipeline(transaction=False) as pipe:
                pipe.delete(self.broker.keys.worker(worker_id))
                pipe.zrem(workers, worker_id)
                pipe.execute()

        self.broker.healing_global({workers: "zset"}, write)


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
            self.counts[(queue, task, f"b{bucket_of(seconds)}")] += 1
            self.counts[(queue, task, "sum_ms")] += int(seconds * 1000)
            self.counts[(queue, task, "count")] += 1

    def take(self) -> Counter:
        with self.lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def put_back(self, counts: Counter) -> None:
        with self.lock:
            self.counts.update(counts)

    def calls(self, ops, counts: Counter) -> list:
        """The script calls writing `counts`, one per queue, each with its counts."""
        by_queue: dict[str, Counter] = {}
        for (queue, task, part), n in counts.items():
            by_queue.setdefault(queue, Counter())[(queue, task, part)] = n
        return [
            (ops.record_runtimes(queue, [(f"{t}|{p}", n) for (_, t, p), n in c.items()]), c)
            for queue, c in by_queue.items()
        ]

    def settle(self, counts: Counter, outcome) -> None:
        """After one queue's call: its counts back for the next flush when Redis was
        unreachable, dropped with a log line on any other error."""
        if isinstance(outcome, BrokerUnavailable):
            self.put_back(counts)
        elif isinstance(outcome, Exception):
            log.warning("runtime statistics of %d task(s) dropped: %s", len(counts), outcome)

    def flush(self, broker: RedisBroker) -> None:
        """Write what was recorded since the last flush (raises BrokerUnavailable)."""
        calls = self.calls(broker.ops, self.take())
        for i, (call, counts) in enumerate(calls):
            try:
                broker.run(call)
            except BrokerUnavailable:
                for _, rest in calls[i:]:
                    self.put_back(rest)
                raise
            except Exception as exc:
                self.settle(counts, exc)


def registry_fields(
    worker_id: str,
    name: str,
    host: str,
    pid: int,
    queues,
    concurrency: int,
    processes: int,
    started_at: int,
) -> dict:
    return {
        "id": worker_id,
        "name": name,
        "host": host,
        "pid": pid,
        "queues": ",".join(queues),
        "concurrency": concurrency,
        "processes": processes,
        "started_at": started_at,
        "state": "running",
        "in_flight": 0,
        "processed": 0,
        "failed": 0,
    }


async def register_when_possible(heartbeat: Heartbeat) -> None:
    """Register at start-up; if Redis is not reachable yet, start anyway: the fetch
    loop retries with backoff and the heartbeat registers at its next beat."""
    try:
        await asyncio.to_thread(heartbeat.register)
    except BrokerUnavailable as exc:
        log.warning("Redis is not reachable yet (%s): waiting for it", exc)
    except Exception:  # the registry is for people: never a reason not to start
        log.exception("registering the worker failed: the heartbeat tries again")
