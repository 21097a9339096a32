"""Advancing workflows right after their tasks report (docs/workflows.md).

A completion of a workflow's task is recorded together with an entry in its queue's
outbox (complete_tasks answers Ack.NOTIFIED); the worker then applies the outbox at
once, so a child starts a round trip after its last parent completed. This is the
fast path only: if the worker dies first, any worker's maintenance sweep applies the
entries a couple of seconds later (maintenance.py), and applying twice is harmless.

A worker with nothing else to do applies at once, and goes on while entries keep
coming: a chain's next step waits for nobody. A busy worker - one still running or
holding tasks, as while a chord's members drain - lets entries gather for GATHER_S
before each round, and applies one batch a round: a round then carries tens of entries
instead of a handful, and the worker's Python per entry halves (docs/PERFORMANCE.md).
A child of a busy worker's task starts up to GATHER_S later.
"""

import asyncio
import logging
from collections.abc import Callable

from ..broker.async_broker import AsyncRedisBroker

log = logging.getLogger("taskqueue.worker")
GATHER_S = 0.003  # a busy worker's wait for more entries before it applies a round


class Advancer:
    def __init__(self, broker: AsyncRedisBroker, busy: Callable[[], bool]):
        self.broker = broker
        self.busy = busy  # whether the worker holds other tasks (then entries gather)
        self.queues: set[str] = set()  # storage queues whose outbox got entries
        self.task: asyncio.Task | None = None

    def soon(self, queue: str) -> None:
        """Apply the queue's outbox as soon as the one running now (if any) is done."""
        self.queues.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self.queues:
            busy = self.busy()
            if busy:
                await asyncio.sleep(GATHER_S)
            queues, self.queues = sorted(self.queues), set()
            try:
                done = await self.broker.advance(queues, rounds=1 if busy else 20)
            except Exception as exc:  # the sweep applies them later
                log.warning("workflows: applying the outbox of %s failed: %s", queues, exc)
                return
            self.queues.update(done.left)

    async def drain(self, timeout: float) -> None:
        if self.task is not None and not self.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout)
            except TimeoutError:
                log.warning("workflows: outbox not applied before exit (the sweep will)")
