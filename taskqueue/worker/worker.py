"""One worker process: an asyncio event loop that claims tasks in batches, runs
`async def` tasks on the loop and sync ones on a bounded pool of threads, reports
outcomes in batches, and blocks on Redis (never polls) when there is nothing to do.

Shutdown (SIGTERM/SIGINT): stop claiming at once, let running tasks finish within
`grace` seconds, report what finished, release the rest back to their queue (not a
failed attempt) and exit 0. A second signal skips the wait.

Control from the console (docs/worker.md, "Worker control"; control.py): quiet stops
claiming, hands back the tasks claimed ahead and finishes the running ones, without
exiting; stop is a SIGTERM. The heartbeat hears the command within a second.
"""

import asyncio
import contextlib
import logging
import math
import os
import random
import signal
import socket
import threading
import time

from .. import tracing
from ..broker.outcomes import Ack, Failed, refused
from ..client import build_async_broker, build_broker
from ..conf import Config
from ..errors import BrokerUnavailable
from ..periodic import schedules
from ..records import Claimed
from ..registry import Registry
from ..registry import registry as default_registry
from ..workers import WorkerBeat
from .acks import Acknowledger
from .advancing import Advancer
from .claiming import Claiming
from .control import Controlled
from .execution import Execution
from .heartbeat import Heartbeat, RuntimeStats, listen_for_wakeups, register_when_possible
from .links import read_parents
from .logs import Throttled
from .maintenance import Maintenance, archive_loop
from .options import WorkerOptions
from .runner import Outcome, Runner, Running

log = logging.getLogger("taskqueue.worker")
BLOCK_S = 2.0  # longest BLPOP; a safety net only: enqueues wake workers at once
MAX_CLAIM = 100


class Worker(Claiming, Controlled):
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
        self.id = options.worker_id
        self.processed = self.failed = 0
        self.signals = 0
        self.suspects_waiting = False  # a claim passed over suspects: go idle, then take them
        self.claim_warnings = Throttled(log)  # a queue whose claims keep failing
        self.throttled = {}  # queue -> when its rate limit lets a task start (claiming.py)
        self.came_short = True  # the last claim round got fewer tasks than it asked for
        self.next_permit = math.inf  # when a task held back by its rate may start
        self.started_at = int(time.time() * 1000)
        self.install_signals = True
        self.ready = threading.Event()  # set once the worker is registered and claiming
        self.refill = max(1, (options.prefetch + 1) // 2)  # claim in batches of this at least
        self.quiet = False  # an operator's quiet: no more claims, running tasks finish
        self.quieting: asyncio.Task | None = None
        self.fetching: asyncio.Task | None = None
        self.commanded_stop = False  # an operator's stop (as SIGTERM)

    def run(self, install_signals: bool = True) -> int:
        """Run until stopped (SIGTERM/SIGINT, or the queues are empty with --burst)."""
        self.install_signals = install_signals
        return asyncio.run(self.main())

    @property
    def running(self) -> dict[tuple[str, str], Running]:
        return self.execution.running

    @property
    def overdue(self) -> dict[tuple[str, str], float]:
        return self.execution.overdue

    # -- life cycle ------------------------------------------------------------------

    async def main(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        self.force = asyncio.Event()
        self.broker = build_async_broker(self.config)
        self.acker = Acknowledger(self.broker, self._reported, self._claim_coming)
        self.advancer = Advancer(self.broker, self._holds_tasks)
        runner = Runner(self.registry, self.config)
        self.execution = Execution(runner, self.options.concurrency, self.acker.add)
        if self.install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(sig, self.request_stop)
        background = [asyncio.create_task(self.acker.run())]
        if self.link is None:
            await self._start_heartbeat()
            wake = self.heartbeat.wake
            maintenance = Maintenance(
                self.broker, self.options.queues, schedules(self.periodic), self.registry
            )
            await maintenance.try_declaring_limits()  # before any claim (maintenance.py)
            background.append(asyncio.create_task(maintenance.run()))
            background.append(asyncio.create_task(archive_loop(self.config.ARCHIVE_INTERVAL)))
        else:
            background += self.link.attach(self)
            wake = self.link.wake_parent  # a cancel names this child: its supervisor renews
        background.append(asyncio.create_task(listen_for_wakeups(self.broker, self.id, wake)))
        log.info(
            "worker %s serving %s with concurrency %d",
            self.id,
            ",".join(self.options.queues),
            self.options.concurrency,
        )
        fetching = self.fetching = asyncio.create_task(self.fetch_loop())
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
            self._control_from_thread,
        )
        await register_when_possible(self.heartbeat)
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
        await asyncio.gather(fetching, *filter(None, [self.quieting]), return_exceptions=True)
        self.execution.hold_back()
        await self.execution.wait_for_unfinished(self.options.grace, self.force)
        self.execution.stop_unfinished()
        await asyncio.sleep(0)  # let cancelled coroutines hand over their outcomes
        await self.acker.drain(timeout=5)
        await self.advancer.drain(timeout=5)
        await self._release_the_rest()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self.link is None:
            await asyncio.to_thread(self.heartbeat.finish, self.id)
        else:
            self.running.clear()
            self.link.send()  # nothing held any more
        await self.flush_stats_async()
        self.execution.pool.stop()
        await self.broker.close()
        log.info("worker %s stopped: %d processed, %d failed", self.id, self.processed, self.failed)

    async def _release_the_rest(self, *, unstarted_only: bool = False) -> None:
        by_queue: dict[str, list[tuple[str, int]]] = {}
        for running in list(self.running.values()):
            if unstarted_only and running.started:
                continue
            if unstarted_only:
                self.running.pop((running.claimed.queue, running.claimed.id), None)
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

    # -- fetching --------------------------------------------------------------------

    async def fetch_loop(self) -> None:
        ex, backoff = self.execution, 0.05
        while not self.quiet:  # an operator's quiet ends it (_quiet_down)
            if ex.suspects:
                await self._run_suspects_alone()
                continue
            if self.suspects_waiting:  # finish what it holds, then claim them alone
                await ex.until_idle()
                self.suspects_waiting = False
            if self._allowance() <= 0:
                await ex.until_idle()
                log.info("ran its %d tasks: exiting to be replaced", ex.launched)
                self.request_stop()  # the supervisor starts a fresh process
                return
            room = self.options.concurrency + self.options.prefetch - ex.busy - len(ex.ready)
            free = int(min(room, self._allowance(), MAX_CLAIM))
            if free <= 0 or not self._claim_now(free):
                await ex.next_change()
                continue
            try:
                claimed = await self.claim(free)
                backoff = 0.05
            except BrokerUnavailable as exc:
                log.warning("cannot claim, retrying in %.2f s: %s", backoff, exc)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:  # never a live worker that has stopped claiming
                log.exception("claiming failed, retrying in %.2f s", backoff)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 5.0)
                continue
            await self._start(claimed)
            if len(claimed) >= free:
                continue
            if self.options.burst:
                if not claimed and ex.busy == 0 and not ex.ready:
                    await self.acker.drain(timeout=30)
                    self.stop.set()
                    return
                if not claimed:
                    await ex.next_change()
                continue
            if not claimed and not self.suspects_waiting:
                await self._wait_for_work()

    async def _start(self, claimed: list[Claimed]) -> None:
        ex = self.execution
        nudge = self.heartbeat.progress_reported if self.link is None else self.link.progress
        held = [ex.hold(c) for c in claimed]  # a stop from here on releases them at exit
        if tracing.enabled:  # off: this one test (docs/observability.md)
            await read_parents(self.broker, held)  # their spans' links (links.py)
        for running in held:
            running.ctx.on_progress = nudge  # progress goes within 0.5 s (heartbeat.py)
            if running.claimed.lost:
                ex.suspects.append(running)
            else:
                ex.enqueue(running)
        if claimed and self.link is not None:
            self.link.send()  # before any of them runs: the supervisor must know them

    def _claim_now(self, free: int) -> bool:
        """Claim once the buffer has room for a batch (half the prefetch), or at once
        when a slot would otherwise wait: refilling the buffer one task per finished
        task costs a round trip per task, in the worker and in Redis."""
        ex = self.execution
        if free >= self.refill:
            return True
        return len(ex.ready) == 0 and ex.busy < self.options.concurrency

    def _holds_tasks(self) -> bool:
        """Whether tasks run or wait in this process (then workflow entries gather)."""
        ex = self.execution
        return bool(ex.busy or ex.ready)

    def _claim_coming(self) -> bool:
        """A claim will soon carry the reports: the worker holds tasks and claims when
        they make room (not stopping, not waiting for suspects or a rate)."""
        ex = self.execution
        return (
            bool(ex.busy or ex.ready)
            and not self.stop.is_set()
            and not self.suspects_waiting
            and not self.quiet
        )

    def _allowance(self) -> float:
        """Tasks this process may still claim (--max-tasks-per-child), else infinity."""
        limit = self.options.max_tasks_per_child
        ex = self.execution
        return float("inf") if not limit else limit - ex.launched - len(ex.ready) - len(ex.suspects)

    async def _run_suspects_alone(self) -> None:
        """A task that lost a lease may be what killed its last worker: it runs with
        nothing beside it, so if this process dies now, only that task is blamed."""
        ex = self.execution
        while ex.suspects and not self.stop.is_set():
            await ex.until_idle()
            running = ex.suspects.popleft()
            log.info(
                "task %s lost its worker %d time(s): running it alone",
                running.claimed.id,
                running.claimed.lost,
            )
            ex.launch(running)
            await ex.until_idle()

    async def _wait_for_work(self) -> None:
        """Until a wake-up token or BLOCK_S; a queue held by its rate limit is left out
        of the wait, which ends when its next task may start (claiming.py)."""
        queues = self.broker.shards.expand(self.options.queues)
        waits = [w for w in map(self.throttled_for, queues) if w > 0]
        open_queues = [q for q in queues if self.throttled_for(q) == 0]
        until_permit, self.next_permit = self.next_permit - time.monotonic(), math.inf
        timeout = min([BLOCK_S, *waits, max(until_permit, 0.001)])
        try:
            if not open_queues:
                await asyncio.sleep(timeout)
                return
            await self.broker.wait_for_work(open_queues, max(timeout, 0.001))
        except BrokerUnavailable as exc:
            log.warning("waiting for work failed: %s", exc)
            await asyncio.sleep(random.uniform(0.5, 1.0))
        except Exception:  # e.g. a reset connection seen as AttributeError: claim again
            log.exception("waiting for work failed")
            await asyncio.sleep(random.uniform(0.5, 1.0))

    # -- reporting -------------------------------------------------------------------

    def _reported(self, running: Running, outcome: Outcome, answer) -> None:
        c = running.claimed
        if outcome.kind == "abandoned" and running.stop_reason == "shutdown":
            return  # stays held: released at exit
        self.running.pop((c.queue, c.id), None)
        if outcome.kind == "abandoned":
            return
        if refused(answer):
            log.warning("task %s: report refused, its lease was lost (attempt %d)", c.id, c.attempt)
            return
        if answer is Ack.NOTIFIED or answer is Failed.DEAD:  # a workflow may have heard
            self.advancer.soon(c.queue)
        if outcome.kind == "completed":
            self.processed += 1
            log.debug("task %s (%s) completed in %.3f s", c.id, c.name, outcome.runtime_s)
        elif outcome.kind == "failed":
            self.failed += 1
        self.stats.record(c.queue, c.name, outcome.runtime_s)

    async def flush_stats_async(self) -> None:
        """Write the runtime histograms' increments (the heartbeat does it in a lone worker)."""
        groups = self.stats.by_queue(self.stats.take())
        if not groups:
            return
        calls = [self.broker.record_runtimes.call(q, counts) for q, counts in groups.items()]
        try:
            outcomes = await self.broker.run_many(calls)
        except Exception as exc:  # Redis unreachable: statistics wait for the next flush
            outcomes = [exc] * len(calls)
        for (queue, counts), outcome in zip(groups.items(), outcomes, strict=True):
            self.stats.settle(queue, counts, outcome)

    # -- heartbeat hooks (called from the heartbeat thread) ----------------------------

    def _held(self) -> list[tuple[str, str, int, str | None]]:
        return [
            (r.claimed.queue, r.claimed.id, r.claimed.attempt, r.ctx.progress)
            for r in list(self.running.values())
        ]

    def _answer_from_thread(self, queue: str, task_id: str, answer: int) -> None:
        self.loop.call_soon_threadsafe(self.execution.lease_answer, queue, task_id, answer)

    def _registry_entry(self) -> WorkerBeat:
        o = self.options
        return WorkerBeat(
            id=self.id,
            name=o.name or self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=o.queues,
            concurrency=o.concurrency,
            processes=o.processes,
            started_at=self.started_at,
            state=self._state(),
            in_flight=len(self.running),
            processed=self.processed,
            failed=self.failed,
        )
