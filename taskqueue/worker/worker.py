"""One worker process: an asyncio event loop that claims tasks in batches, runs
`async def` tasks on the loop and sync ones in a bounded thread pool, reports outcomes
in batches, and blocks on Redis (never polls) when there is nothing to do.

Shutdown (SIGTERM/SIGINT): stop claiming at once, let running tasks finish within
`grace` seconds, report what finished, release the rest back to their queue (not a
failed attempt) and exit 0. A second signal skips the wait.
"""

import asyncio
import collections
import contextlib
import logging
import os
import random
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..broker.async_broker import AsyncRedisBroker
from ..client import build_broker, connect_async
from ..conf import Config
from ..context import TaskContext
from ..errors import BrokerUnavailable
from ..periodic import schedules
from ..records import Claimed
from ..registry import Registry
from ..registry import registry as default_registry
from .acks import Acknowledger
from .heartbeat import Heartbeat, RuntimeStats, registry_fields
from .maintenance import Maintenance
from .options import WorkerOptions
from .runner import Outcome, Runner, Running

log = logging.getLogger("taskqueue.worker")
BLOCK_S = 2.0  # longest BLPOP; a safety net only: enqueues wake workers at once
MAX_CLAIM = 100


class Worker:
    def __init__(
        self,
        options: WorkerOptions,
        config: Config,
        *,
        registry: Registry | None = None,
        periodic: dict | None = None,
        link=None,
    ):
        self.options = options
        self.config = config
        self.registry = registry or default_registry
        self.periodic = periodic
        self.link = link  # a ParentLink when a supervisor owns the heartbeats (child.py)
        self.stats = RuntimeStats()
        self.overdue: dict[tuple[str, str], float] = {}
        self.suspects: collections.deque[Running] = (
            collections.deque()
        )  # sync tasks past their limit, running on
        self.id = options.worker_id
        self.running: dict[tuple[str, str], Running] = {}
        self.busy = 0  # slots in use: executing tasks, including threads past their time limit
        self.processed = self.failed = self.launched = 0
        self.signals = 0
        self.started_at = int(time.time() * 1000)
        self.install_signals = True
        self.ready = threading.Event()  # set once the worker is registered and claiming

    def run(self, install_signals: bool = True) -> int:
        """Run until stopped (SIGTERM/SIGINT, or the queues are empty with --burst)."""
        self.install_signals = install_signals
        return asyncio.run(self.main())

    # -- life cycle ------------------------------------------------------------------

    async def main(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        self.force = asyncio.Event()
        self.slot_freed = asyncio.Event()
        self.client = connect_async(self.config)
        self.broker = AsyncRedisBroker(self.client, self.config)
        self.pool = ThreadPoolExecutor(
            self.options.concurrency, thread_name_prefix="taskqueue-task"
        )
        self.runner = Runner(self.registry, self.config, self.pool)
        self.acker = Acknowledger(self.broker, self._reported)
        if self.install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(sig, self.request_stop)
        background = [asyncio.create_task(self.acker.run())]
        if self.link is None:
            await self._start_heartbeat()
            background.append(asyncio.create_task(self._maintain()))
        else:
            background += self.link.attach(self)
        log.info(
            "worker %s serving %s with concurrency %d",
            self.id,
            ",".join(self.options.queues),
            self.options.concurrency,
        )
        fetching = asyncio.create_task(self.fetch_loop())
        self.ready.set()
        await self.stop.wait()
        await self.shutdown(fetching, background)
        return 0

    async def _start_heartbeat(self) -> None:
        self.heartbeat = Heartbeat(
            build_broker(self.config),
            self.config.LEASE_SECONDS / 3,
            self._held,
            self._answer_from_thread,
            self._registry_entry,
            self.stats,
        )
        await asyncio.to_thread(self.heartbeat.register)
        self.heartbeat.start()

    def stop_from_thread(self) -> None:
        """Ask a worker running in another thread to stop (as SIGTERM would)."""
        with contextlib.suppress(RuntimeError):  # already stopped: the loop is closed
            self.loop.call_soon_threadsafe(self.request_stop)

    def request_stop(self) -> None:
        self.signals += 1
        if self.signals == 1:
            log.info(
                "stopping: no new tasks; waiting up to %s s for running ones", self.options.grace
            )
            self.stop.set()
        else:
            log.info("stopping now: releasing running tasks")
            self.force.set()

    async def shutdown(self, fetching: asyncio.Task, background: list[asyncio.Task]) -> None:
        fetching.cancel()
        await asyncio.gather(fetching, return_exceptions=True)
        await self._wait_for_running(self.options.grace)
        for running in self.running.values():
            if running.future is not None and not running.future.done():
                running.stop_reason = "shutdown"
                running.ctx.cancel_event.set()
                if running.task is None or running.task.is_async:
                    running.future.cancel()
        await asyncio.sleep(0)  # let cancelled tasks hand their outcomes to the acker
        await self.acker.drain(timeout=5)
        await self._release_the_rest()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self.link is None:
            self.heartbeat.stop()
            await asyncio.to_thread(self._unregister)
        else:
            self.running.clear()
            self.link.send()  # nothing held any more
        await self.flush_stats_async()
        self.pool.shutdown(wait=False, cancel_futures=True)
        await self.client.aclose()
        log.info("worker %s stopped: %d processed, %d failed", self.id, self.processed, self.failed)

    async def _wait_for_running(self, grace: float) -> None:
        deadline = self.loop.time() + grace
        while not self.force.is_set():
            executing = [
                r.future for r in self.running.values() if r.future and not r.future.done()
            ]
            left = deadline - self.loop.time()
            if not executing or left <= 0:
                return
            forced = asyncio.create_task(self.force.wait())
            await asyncio.wait(
                [*executing, forced], timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            forced.cancel()

    async def _release_the_rest(self) -> None:
        by_queue: dict[str, list[tuple[str, int]]] = {}
        for running in self.running.values():
            by_queue.setdefault(running.claimed.queue, []).append(
                (running.claimed.id, running.claimed.attempt)
            )
        for queue, held in by_queue.items():
            try:
                await self.broker.release(queue, held)
                log.info("released %d task(s) of queue %s", len(held), queue)
            except BrokerUnavailable as exc:
                log.warning(
                    "could not release %d task(s) (their leases will expire): %s", len(held), exc
                )

    def _unregister(self) -> None:
        with contextlib.suppress(BrokerUnavailable):
            self.heartbeat.unregister(self.id)

    async def _maintain(self) -> None:
        found = schedules(self.periodic)
        await Maintenance(self.broker, self.options.queues, found, self.registry).run()

    # -- fetching --------------------------------------------------------------------

    async def fetch_loop(self) -> None:
        backoff = 0.05
        while True:
            if self.suspects:
                await self._run_suspects_alone()
                continue
            free = min(self.options.concurrency - self.busy, self._allowance())
            if self._allowance() <= 0:
                await self._until_idle()
                log.info("ran its %d tasks: exiting to be replaced", self.launched)
                self.request_stop()  # the supervisor starts a fresh process
                return
            if free <= 0:
                self.slot_freed.clear()
                await self.slot_freed.wait()
                continue
            try:
                claimed = await self.claim(int(min(free, MAX_CLAIM)))
                backoff = 0.05
            except BrokerUnavailable as exc:
                log.warning("cannot claim, retrying in %.2f s: %s", backoff, exc)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 5.0)
                continue
            for c in claimed:
                if c.lost:
                    self.suspects.append(self.hold(c))
                else:
                    self.launch(self.hold(c))
            if claimed and self.link is not None:
                self.link.send()  # before any of them runs: the supervisor must know them
            if len(claimed) >= free:
                continue
            if self.options.burst:
                if not claimed and self.busy == 0:
                    await self.acker.drain(timeout=30)
                    self.stop.set()
                    return
                if not claimed:
                    self.slot_freed.clear()
                    await self.slot_freed.wait()
                continue
            if not claimed:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        try:
            await self.broker.wait_for_work(self.options.queues, BLOCK_S)
        except BrokerUnavailable as exc:
            log.warning("waiting for work failed: %s", exc)
            await asyncio.sleep(random.uniform(0.5, 1.0))

    async def claim(self, count: int) -> list[Claimed]:
        got: list[Claimed] = []
        for queue in self.queue_order():
            got += await self.broker.claim(queue, self.id, count - len(got))
            if len(got) >= count:
                break
        return got

    def queue_order(self) -> list[str]:
        """Strict order, or a weighted random order (heavier queues first more often)."""
        queues, weights = self.options.queues, self.options.weights
        if weights is None:
            return list(queues)
        keys = {q: random.random() ** (1.0 / w) for q, w in zip(queues, weights, strict=True)}
        return sorted(queues, key=keys.__getitem__, reverse=True)

    # -- running ---------------------------------------------------------------------

    def hold(self, c: Claimed) -> Running:
        """Take a claimed task into the set the heartbeat renews (it is not running yet)."""
        ctx = TaskContext(c.id, c.name, c.queue, c.attempt, c.failures, c.max_retries)
        running = Running(c, ctx)
        self.running[(c.queue, c.id)] = running
        return running

    def _allowance(self) -> float:
        """Tasks this process may still claim (--max-tasks-per-child), else infinity."""
        limit = self.options.max_tasks_per_child
        return float("inf") if not limit else limit - self.launched - len(self.suspects)

    def launch(self, running: Running) -> None:
        c = running.claimed
        self.launched += 1
        running.started_wall = time.time()
        running.ctx.deadline = time.monotonic() + c.timeout if c.timeout else None
        self.busy += 1
        running.future = asyncio.create_task(self._execute(running))

    async def _run_suspects_alone(self) -> None:
        """A task that lost a lease may be what killed its last worker: it runs with
        nothing beside it, so if this process dies now, only that task is blamed."""
        while self.suspects and not self.stop.is_set():
            await self._until_idle()
            running = self.suspects.popleft()
            log.info(
                "task %s lost its worker %d time(s): running it alone",
                running.claimed.id,
                running.claimed.lost,
            )
            self.launch(running)
            if self.link is not None:
                self.link.send()  # now it counts as running: a crash is blamed on it
            await self._until_idle()

    async def _until_idle(self) -> None:
        while self.busy:
            self.slot_freed.clear()
            await self.slot_freed.wait()

    async def _execute(self, running: Running) -> None:
        freed: list = []
        key = (running.claimed.queue, running.claimed.id)

        def thread_done() -> None:
            self.overdue.pop(key, None)
            self._free_slot(freed)

        outcome = await self.runner.run(running, thread_done)
        if not running.threaded:
            self._free_slot(freed)  # a sync task's slot frees when its thread returns
        elif not freed:  # its thread runs on past the time limit
            self.overdue[key] = running.started_wall + (running.claimed.timeout or 0)
        if running.stop_reason == "lost":
            outcome = Outcome("abandoned")
        self.acker.add(running, outcome)

    def _free_slot(self, freed: list) -> None:
        if not freed:  # once per task, whichever comes first: the run ends or its thread does
            freed.append(True)
            self.busy -= 1
            self.slot_freed.set()

    def _reported(self, running: Running, outcome: Outcome, answer) -> None:
        c = running.claimed
        if outcome.kind == "abandoned" and running.stop_reason == "shutdown":
            return  # stays held: released at exit
        self.running.pop((c.queue, c.id), None)
        if outcome.kind == "abandoned":
            return
        if answer in (False, 0, "stale"):
            log.warning("task %s: report refused, its lease was lost (attempt %d)", c.id, c.attempt)
            return
        if outcome.kind == "completed":
            self.processed += 1
            log.debug("task %s (%s) completed in %.3f s", c.id, c.name, outcome.runtime_s)
        elif outcome.kind == "failed":
            self.failed += 1
        self.stats.record(c.queue, c.name, outcome.runtime_s)

    async def flush_stats_async(self) -> None:
        """Write the runtime histograms' increments (the heartbeat does it in a lone worker)."""
        counts = self.stats.take()
        if not counts:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for (queue, task, part), n in counts.items():
                    pipe.hincrby(self.broker.keys.queue(queue).runtime, f"{task}|{part}", n)
                await pipe.execute()
        except Exception:  # statistics wait for the next flush
            self.stats.put_back(counts)

    # -- heartbeat hooks (called from the heartbeat thread) ----------------------------

    def _held(self) -> list[tuple[str, str, int, str | None]]:
        return [
            (r.claimed.queue, r.claimed.id, r.claimed.attempt, r.ctx.progress)
            for r in list(self.running.values())
        ]

    def _answer_from_thread(self, queue: str, task_id: str, answer: int) -> None:
        self.loop.call_soon_threadsafe(self._lease_answer, queue, task_id, answer)

    def _lease_answer(self, queue: str, task_id: str, answer: int) -> None:
        running = self.running.get((queue, task_id))
        if running is None or running.future is None or running.future.done():
            return
        if answer == 0:
            log.warning("task %s: lease lost (the task may run elsewhere); stopping it", task_id)
            running.stop_reason = "lost"
        elif running.ctx.cancelled:
            return
        else:
            log.info("task %s: cancel requested", task_id)
            running.stop_reason = "cancel"
        running.ctx.cancel_event.set()
        if running.task is not None and running.task.is_async:
            running.future.cancel()

    def _registry_entry(self) -> dict:
        o = self.options
        entry = registry_fields(
            self.id,
            o.name or self.id,
            socket.gethostname(),
            os.getpid(),
            o.queues,
            o.concurrency,
            o.processes,
            self.started_at,
        )
        entry.update(
            in_flight=len(self.running),
            processed=self.processed,
            failed=self.failed,
            state="stopping" if self.stop.is_set() else "running",
        )
        return entry
