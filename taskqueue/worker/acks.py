"""Reporting outcomes to Redis in batches: everything that finished since the last
round trip goes in one pipeline (completions grouped into one script call per queue).
Under load that amortises the round trip; when idle a report leaves at once."""

import asyncio
import logging
import random
from collections.abc import Callable

from ..broker.async_broker import AsyncRedisBroker
from ..errors import BrokerUnavailable
from .runner import Outcome, Running

log = logging.getLogger("taskqueue.worker")


class Acknowledger:
    def __init__(
        self, broker: AsyncRedisBroker, on_reported: Callable[[Running, Outcome, object], None]
    ):
        self.broker = broker
        self.on_reported = on_reported
        self.pending: list[tuple[Running, Outcome]] = []
        self.ready = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()

    def add(self, running: Running, outcome: Outcome) -> None:
        self.pending.append((running, outcome))
        self.idle.clear()
        self.ready.set()

    async def run(self) -> None:
        backoff = 0.05
        while True:
            await self.ready.wait()
            self.ready.clear()
            batch, self.pending = self.pending, []
            try:
                await self.report(batch)
                backoff = 0.05
            except BrokerUnavailable as exc:
                self.pending[:0] = batch  # keep them: report again when Redis is back
                log.warning("could not report %d outcome(s), retrying: %s", len(batch), exc)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 5.0)
                self.ready.set()
            if not self.pending:
                self.idle.set()

    async def report(self, batch: list[tuple[Running, Outcome]]) -> None:
        ops = self.broker.ops
        calls, slots = [], []
        completions: dict[str, list[tuple[Running, Outcome]]] = {}
        for running, outcome in batch:
            c = running.claimed
            if outcome.kind == "completed":
                completions.setdefault(c.queue, []).append((running, outcome))
            elif outcome.kind == "failed":
                calls.append(
                    ops.fail(c.queue, c.id, c.attempt, outcome.retry_delay_ms, outcome.error, None)
                )
                slots.append([(running, outcome)])
            elif outcome.kind == "cancelled":
                calls.append(ops.finish_cancelled(c.queue, c.id, c.attempt, None))
                slots.append([(running, outcome)])
            else:  # abandoned: nothing to report
                self.on_reported(running, outcome, None)
        for queue, items in completions.items():
            done = [(r.claimed.id, r.claimed.attempt, o.result) for r, o in items]
            calls.append(ops.complete(queue, done, None))
            slots.append(items)
        if not calls:
            return
        replies = await self.broker.run_many(calls)
        for items, reply in zip(slots, replies, strict=True):
            answers = reply if isinstance(reply, list) else [reply]
            for (running, outcome), answer in zip(items, answers, strict=True):
                self.on_reported(running, outcome, answer)

    async def drain(self, timeout: float) -> None:
        """Wait until everything added so far is reported (or the timeout)."""
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            log.warning("%d outcome(s) could not be reported before exit", len(self.pending))
