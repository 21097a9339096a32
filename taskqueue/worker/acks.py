"""Reporting outcomes to Redis in batches: everything that finished since the last
round trip goes in one pipeline (completions grouped into one script call per queue).

The fetch loop takes what is waiting and sends it in the same pipeline as its next
claim (`take` / `calls_for` / `settle`), so under load one round trip both reports
and claims. When a claim is coming (`claim_coming`: the worker holds tasks, so one
finishing makes room), a report waits up to LINGER_S for it before leaving on its own
(`run`); when the worker is idle it leaves at once.
"""

import asyncio
import logging
import random
from collections.abc import Callable

from ..broker.async_broker import AsyncRedisBroker
from ..broker.requests import ScriptCall
from ..errors import TaskQueueError
from ..events_hook import reported as report_event
from .runner import Outcome, Running

log = logging.getLogger("taskqueue.worker")
Batch = list[tuple[Running, Outcome]]
LINGER_S = 0.002  # longest a finished task's report waits to ride on a claim


class Acknowledger:
    def __init__(
        self,
        broker: AsyncRedisBroker,
        on_reported: Callable[[Running, Outcome, object], None],
        claim_coming: Callable[[], bool] = lambda: False,
    ):
        self.broker = broker
        self.on_reported = on_reported
        self.claim_coming = claim_coming
        self.pending: Batch = []
        self.in_flight = 0  # outcomes taken and not yet settled
        self.ready = asyncio.Event()
        self.taken = asyncio.Event()  # the fetch loop took the outcomes for its claim
        self.idle = asyncio.Event()
        self.idle.set()

    def add(self, running: Running, outcome: Outcome) -> None:
        self.pending.append((running, outcome))
        self.idle.clear()
        self.ready.set()

    def take(self) -> Batch:
        batch, self.pending = self.pending, []
        self.in_flight += len(batch)
        self.taken.set()
        return batch

    def put_back(self, batch: Batch) -> None:
        """Reporting failed (Redis unavailable): keep them for the next round trip."""
        self.in_flight -= len(batch)
        self.pending[:0] = batch

    async def run(self) -> None:
        backoff = 0.05
        while True:
            await self.ready.wait()
            self.ready.clear()
            if self.claim_coming():
                await self._linger()
                if not self.pending:
                    continue
            batch = self.take()
            try:
                calls, slots = self.calls_for(batch)
                error = self.settle(slots, await self.broker.run_many(calls) if calls else [])
            except Exception as exc:  # any error: the outcomes wait for the next try
                self.put_back(batch)
                error = exc
            if error is None:
                backoff = 0.05
                continue
            foreseen = isinstance(error, TaskQueueError)  # else a bug: with its traceback
            log.warning(
                "could not report outcomes, retrying: %s",
                error,
                exc_info=None if foreseen else error,
            )
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, 5.0)
            self.ready.set()

    async def _linger(self) -> None:
        """Wait until the fetch loop takes the outcomes, or LINGER_S."""
        self.taken.clear()
        try:
            async with asyncio.timeout(LINGER_S):
                await self.taken.wait()
        except TimeoutError:
            pass

    def calls_for(self, batch: Batch) -> tuple[list[ScriptCall], list[Batch]]:
        """The script calls reporting `batch`, and which outcomes each call's reply answers."""
        broker = self.broker
        calls, slots = [], []
        completions: dict[str, Batch] = {}
        for running, outcome in batch:
            c = running.claimed
            if outcome.kind == "completed":
                completions.setdefault(c.queue, []).append((running, outcome))
            elif outcome.kind == "failed":
                calls.append(
                    broker.fail.call(
                        c.queue,
                        c.id,
                        c.attempt,
                        retry_delay_ms=outcome.retry_delay_ms,
                        error=outcome.error,
                    )
                )
                slots.append([(running, outcome)])
            elif outcome.kind == "cancelled":
                calls.append(broker.finish_cancelled.call(c.queue, c.id, c.attempt))
                slots.append([(running, outcome)])
            else:  # abandoned: nothing to report
                slots.append([(running, outcome)])
                calls.append(None)
        for queue, items in completions.items():
            done = [(r.claimed.id, r.claimed.attempt, o.result, o.span) for r, o in items]
            calls.append(broker.complete.call(queue, done))
            slots.append(items)
        kept = [(c, s) for c, s in zip(calls, slots, strict=True) if c is not None]
        for call, items in zip(calls, slots, strict=True):
            if call is None:
                self._settled(items, [None])
        return [c for c, _ in kept], [s for _, s in kept]

    def settle(self, slots: list[Batch], replies: list) -> Exception | None:
        """Settle each call's outcomes; those of a call that failed (its reply is the
        exception: one queue's trouble, see AsyncRedisBroker.run_many) are kept for the
        next try. Returns the first such failure, None when every call was answered."""
        error = None
        for items, reply in zip(slots, replies, strict=True):
            if isinstance(reply, Exception):
                self.put_back(items)
                error = error or reply
            else:
                self._settled(items, reply if isinstance(reply, list) else [reply])
        return error

    def _settled(self, items: Batch, answers: list) -> None:
        self.in_flight -= len(items)
        for (running, outcome), answer in zip(items, answers, strict=True):
            self.on_reported(running, outcome, answer)
            report_event(running.claimed, outcome, answer)  # TASKQUEUE["EVENT_HOOK"]
        if not self.pending and not self.in_flight:
            self.idle.set()

    async def drain(self, timeout: float) -> None:
        """Wait until everything added so far is reported (or the timeout)."""
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            log.warning(
                "%d outcome(s) could not be reported before exit",
                len(self.pending) + self.in_flight,
            )
