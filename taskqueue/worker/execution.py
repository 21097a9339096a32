"""Execution: the tasks a worker process holds, from claim to reported outcome.

`hold` takes a claimed task in (the heartbeat renews its lease from then on), `enqueue`
puts it in the local buffer that free slots are filled from (prefetch; ready.py keeps
its order), `launch`
starts it - an `async def` body as a coroutine on the loop, a sync body on a SyncPool
thread -, and `finish` hands its outcome to the acknowledger. A slot (of
`--concurrency`) is busy from launch until the body returns: a sync body past its time
limit has its outcome decided (TaskTimeout) but keeps its slot until its thread is done.
"""

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from ..broker.outcomes import Lease
from ..context import TaskContext
from ..records import Claimed
from .ready import ReadyLine
from .runner import InvalidTaskRecord, Outcome, Runner, Running
from .threads import SyncPool

log = logging.getLogger("taskqueue.worker")


class Execution:
    def __init__(
        self, runner: Runner, concurrency: int, finish: Callable[[Running, Outcome], None]
    ):
        self.runner = runner
        self.loop = asyncio.get_running_loop()
        self.pool = SyncPool(concurrency, self.loop, self._threads_done)
        self.report = finish
        self.running: dict[tuple[str, str], Running] = {}
        self.suspects: collections.deque[Running] = collections.deque()
        self.ready = ReadyLine()  # claimed, waiting for a slot (in priority and tenant turns)
        self.concurrency = concurrency
        self.overdue: dict[tuple[str, str], float] = {}  # sync bodies past their limit, running on
        self.busy = 0
        self.launched = 0
        self.changed = asyncio.Event()  # a slot freed or an outcome decided
        # Under a supervisor: told which tasks are about to start, before any of them runs.
        self.announce: Callable[[list[Running]], None] | None = None

    # -- starting --------------------------------------------------------------------

    def hold(self, c: Claimed) -> Running:
        """Take a claimed task in: from now on the heartbeat renews its lease."""
        queue = c.logical_queue or c.queue  # a task of 'emails#2' is a task of 'emails'
        ctx = TaskContext(c.id, c.name, queue, c.attempt, c.failures, c.max_retries)
        running = Running(c, ctx)
        self.running[(c.queue, c.id)] = running
        return running

    def enqueue(self, running: Running) -> None:
        """Run it as soon as a slot is free (now, if one is)."""
        self.ready.append(running)
        self._fill()

    def _fill(self) -> None:
        batch = []
        while self.ready and self.busy < self.concurrency:
            batch.append(self.ready.popleft())
        self.launch(*batch)

    def launch(self, *batch: Running) -> None:
        for running in batch:
            c = running.claimed
            self.launched += 1
            self.busy += 1
            running.started = True
            running.started_wall = time.time()
            running.ctx.deadline = time.monotonic() + c.timeout if c.timeout else None
        if batch and self.announce is not None:
            self.announce(list(batch))  # a sync body runs the moment it is submitted
        for running in batch:
            self._submit(running)

    def _submit(self, running: Running) -> None:
        c = running.claimed
        try:
            task, args, kwargs = self.runner.prepare(running)
        except InvalidTaskRecord as exc:
            self._free_slot()
            self.finish(running, self.runner.outcome(running, None, exc))
            return
        if task.is_async:
            running.future = asyncio.create_task(self.runner.run_async(running, task, args, kwargs))
            running.future.add_done_callback(lambda future: self._async_done(running, future))
            return
        self.pool.submit(running, running.ctx, task.func, args, kwargs)
        if c.timeout:
            running.timer = self.loop.call_later(c.timeout, self._sync_timed_out, running)

    def _async_done(self, running: Running, future: asyncio.Future) -> None:
        self._free_slot()
        if future.cancelled():  # cancelled before its first step: it never ran
            outcome = self.runner.outcome(running, None, asyncio.CancelledError())
        else:
            outcome = future.result()
        self.finish(running, outcome)

    # -- ending ----------------------------------------------------------------------

    def _threads_done(self, batch: list) -> None:
        for running, value, error, seconds in batch:
            self._free_slot()
            self.overdue.pop((running.claimed.queue, running.claimed.id), None)
            if running.timer is not None:
                running.timer.cancel()
            if not running.finished:
                outcome = self.runner.outcome(running, value, error)
                outcome.runtime_s = seconds
                self.finish(running, outcome)

    def _sync_timed_out(self, running: Running) -> None:
        if running.finished:
            return
        self.overdue[(running.claimed.queue, running.claimed.id)] = (
            running.started_wall + running.claimed.timeout
        )
        outcome = self.runner.timed_out(running)
        outcome.runtime_s = running.claimed.timeout
        self.finish(running, outcome)

    def finish(self, running: Running, outcome: Outcome) -> None:
        running.finished = True
        if running.stop_reason == "lost":
            outcome = Outcome("abandoned")  # another attempt owns the task now: say nothing
        self.changed.set()
        self.report(running, outcome)

    def _free_slot(self) -> None:
        self.busy -= 1
        self.changed.set()
        self._fill()

    # -- waiting ---------------------------------------------------------------------

    async def until_idle(self) -> None:
        """Wait until no task body is running in this process (and none is waiting)."""
        while self.busy or self.ready:
            await self.next_change()

    async def next_change(self) -> None:
        self.changed.clear()
        await self.changed.wait()

    def unfinished(self) -> list[Running]:
        return [r for r in self.running.values() if r.started and not r.finished]

    async def wait_for_unfinished(self, grace: float, force: asyncio.Event) -> None:
        """Let running tasks finish for up to `grace` seconds (or until `force`)."""
        deadline = self.loop.time() + grace
        while self.unfinished() and not force.is_set():
            left = deadline - self.loop.time()
            if left <= 0:
                return
            waiters = [
                asyncio.ensure_future(self.next_change()),
                asyncio.ensure_future(force.wait()),
            ]
            await asyncio.wait(waiters, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    def hold_back(self) -> None:
        """Stopping: tasks claimed ahead but not started stay unstarted (they are
        released at exit), so no task begins in the grace period only to be cut off."""
        self.ready.clear()
        self.suspects.clear()

    def stop_unfinished(self) -> None:
        """Shutdown: async bodies are cancelled; sync ones are told (cancel flag) and
        abandoned; all of them are released to their queue by the caller."""
        for running in self.unfinished():
            running.stop_reason = "shutdown"
            running.ctx.cancel_event.set()
            if running.future is not None:
                running.future.cancel()
            else:
                self.finish(running, Outcome("abandoned"))

    # -- what the heartbeat hears ----------------------------------------------------

    def lease_answer(self, queue: str, task_id: str, answer: int) -> None:
        """What renewing a running task's lease answered (a Lease, or its number from a
        supervisor): LOST (another attempt may run it now) or CANCEL_REQUESTED."""
        running = self.running.get((queue, task_id))
        if running is None or not running.started or running.finished:
            return
        if Lease(answer) is Lease.LOST:
            log.warning("task %s: lease lost (the task may run elsewhere); stopping it", task_id)
            running.stop_reason = "lost"
        elif running.ctx.cancelled:
            return
        else:
            log.info("task %s: cancel requested", task_id)
            running.stop_reason = "cancel"
        running.ctx.cancel_event.set()
        if running.future is not None:
            running.future.cancel()
