"""Advancing workflows right after their tasks report (docs/workflows.md).

A completion of a workflow's task is recorded together with an entry in its queue's
outbox (complete_tasks answers Ack.NOTIFIED); the worker then applies the outbox at
once, so a child starts a round trip after its last parent completed. This is the
fast path only: if the worker dies first, any worker's maintenance sweep applies the
entries a couple of seconds later (maintenance.py), and applying twice is harmless.
"""

import asyncio
import logging

from ..broker.async_broker import AsyncRedisBroker

log = logging.getLogger("taskqueue.worker")


class Advancer:
    def __init__(self, broker: AsyncRedisBroker):
        self.broker = broker
        self.queues: set[str] = set()  # storage queues whose outbox got entries
        self.task: asyncio.Task | None = None

    def soon(self, queue: str) -> None:
        """Apply the queue's outbox as soon as the one running now (if any) is done."""
        self.queues.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self.queues:
            queues, self.queues = sorted(self.queues), set()
            try:
                await self.broker.advance(queues)
            except Exception as exc:  # the sweep applies them later
                log.warning("workflows: applying the outbox of %s failed: %s", queues, exc)
                return

    async def drain(self, timeout: float) -> None:
        if self.task is not None and not self.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout)
            except TimeoutError:
                log.warning("workflows: outbox not applied before exit (the sweep will)")
