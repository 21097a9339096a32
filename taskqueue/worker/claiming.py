"""The worker's claims: from each of its queues in turn, the first claim carrying the
reports of whatever finished since the last round trip (one pipeline, one round trip).
When the worker holds nothing, or its last round came back short, that round trip
also asks each of the other queues whether a claim could take anything (`claimable`);
the walk then claims only from those that said yes. A worker serving seven queues, five
of them empty, makes one or two round trips, not seven. A task that arrives in a queue
just after it said no is not missed: its wake-up token is still there, so the worker's
next wait for work returns at once and it claims again. A busy worker whose first
queue fills its claims does not ask (seven script calls a round for nothing); if that
claim comes back short, it walks the other queues as before.

Each queue's claim succeeds or fails on its own: a queue whose claim fails (Redis
refused it, or a key that could not be moved aside: see broker/damage.py) is skipped
for this round with a warning, and the tasks already claimed from the other queues in
the same round are kept and run; only when every queue failed does the error reach the
fetch loop (which backs off). A task claimed and then dropped would sit in `active`
until its lease expired, and be charged a lost lease it never had.

Crash attribution: a task that lost a lease (a suspect) is only ever held alone. A
worker holding nothing may get one suspect, by itself; a busy worker's claim passes
suspects over, and the worker then finishes what it holds and comes back for them
(`suspects_waiting`).

Flow control (docs/flow-control.md): a queue whose rate limit stopped the claim is
skipped, and left out of the wait for work, until the time the claim named (at most
THROTTLE_MAX_S, so a limit changed at run time takes effect within a second). A queue
holding tasks back for their task's rate is not skipped, but the wait for work ends
when the next of them may start (`next_permit`). A queue whose concurrency limit is
reached is not skipped either: the worker whose task ends claims again in the same
round trip that reports it, which is when a slot frees.
"""

import asyncio
import logging
import random
import time

from ..records import Claimed
from .logs import Throttled

log = logging.getLogger("taskqueue.worker")
THROTTLE_MAX_S = 1.0


class Claiming:
    """Mixed into Worker: needs broker, acker, execution, id, options, suspects_waiting."""

    claim_warnings: Throttled  # a queue whose claims keep failing: one line in 30 s
    came_short: bool  # the last round got fewer tasks than it asked for
    throttled: dict[str, float]  # queue -> time.monotonic() its rate limit allows a task
    next_permit: float  # time.monotonic() a task held back by its rate may start

    async def claim(self, count: int) -> list[Claimed]:
        """Claim up to `count` tasks from the queues in order (see the module's doc)."""
        queues = self.queue_order()
        if self.broker.shards:  # a sharded queue: its sub-queues, starting at the next in turn
            queues = self.broker.shards.claim_order(queues)
        got: list[Claimed] = []
        failures = []
        maybe: set[str] | None = None  # the queues that may have a task (None: not asked)
        first = True  # the first claim sent carries the reports (and maybe the question)
        try:
            for i, queue in enumerate(queues):
                if len(got) >= count or any(c.lost for c in got):
                    break
                if self.throttled_for(queue) > 0 or (maybe is not None and queue not in maybe):
                    continue
                try:
                    if first:
                        first = False
                        rest = self._to_ask(queues[i + 1 :])
                        claimed, maybe = await self._claim_first(queue, count, rest)
                        got += claimed
                    else:
                        got += await self._claim_from(queue, count, got)
                except Exception as exc:  # this queue only: the others go on
                    failures.append((queue, exc))
        except asyncio.CancelledError:
            for c in got:  # held, to be released at exit (their leases are running)
                self.execution.hold(c)
            raise
        if failures and len(failures) == len(queues):
            raise failures[0][1]
        for queue, exc in failures:
            self._claim_failed(queue, exc)
        self.came_short = len(got) < count
        return got

    def _to_ask(self, others: list[str]) -> list[str]:
        """The other queues to ask in the first claim's round trip: none while the
        worker is busy and its claims fill up (see the module's doc)."""
        if not others or (self._suspects_mode() == "busy" and not self.came_short):
            return []
        return [q for q in others if self.throttled_for(q) == 0]

    async def _claim_first(self, queue: str, count: int, rest: list) -> tuple[list, set | None]:
        """The first claim of a round: it carries the reports, and asks the other
        queues (`rest`) whether a claim could take anything there. The tasks claimed,
        and the queues to go on to (None: every one; a queue whose answer failed is
        asked by a claim)."""
        call = self.broker.claim.call(queue, self.id, count, suspects=self._suspects_mode())
        checks = [self.broker.claimable.call(q) for q in rest]
        claimed, answers = await self._report_and_claim(call, checks)
        if not rest:
            return self._took(queue, claimed), None
        maybe = {q for q, yes in zip(rest, answers, strict=True) if yes is not False}
        return self._took(queue, claimed), maybe

    async def _claim_from(self, queue: str, count: int, got: list) -> list:
        """The tasks claimed from one queue, after the first."""
        suspects = self._suspects_mode(got)
        call = self.broker.claim.call(queue, self.id, count - len(got), suspects=suspects)
        [claimed] = await self._round_trip([call], [])
        return self._took(queue, claimed)

    def _took(self, queue: str, claimed) -> list:
        """A claim's tasks, once what it said of suspects and limits is noted."""
        if isinstance(claimed, Exception):
            raise claimed
        if getattr(claimed, "suspects_passed", 0):
            self.suspects_waiting = True
        if claimed.throttled > 0:
            wait = min(claimed.throttled / 1000, THROTTLE_MAX_S)
            self.throttled[queue] = time.monotonic() + wait
        if claimed.next_permit > 0:
            self.next_permit = min(self.next_permit, time.monotonic() + claimed.next_permit / 1000)
        return claimed

    def throttled_for(self, queue: str) -> float:
        """Seconds until the queue's rate limit lets a task start (0: now)."""
        until = self.throttled.get(queue)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            del self.throttled[queue]
            return 0.0
        return left

    def _suspects_mode(self, claimed: list = ()) -> str:
        ex = self.execution
        idle = not claimed and not ex.busy and not ex.ready and not ex.suspects
        return "alone" if idle else "busy"

    def _claim_failed(self, queue: str, exc: Exception) -> None:
        message = "queue %s: claiming failed, the other queues go on: %s"
        self.claim_warnings.warning(queue, message, queue, exc)

    async def _report_and_claim(self, call, checks: list) -> tuple:
        """The reports, the claim and the checks in one round trip: the claim's reply
        (or its exception), and the checks' answers (an exception for a failed one)."""
        batch = self.acker.take()
        calls, slots = self.acker.calls_for(batch)
        try:
            replies = await self._round_trip([*calls, call, *checks], slots)
        except Exception:  # reported next time (a report is fenced: twice is harmless)
            self.acker.put_back(batch)
            raise
        self._settle_reports(slots, replies[: len(slots)])
        return replies[len(slots)], replies[len(slots) + 1 :]

    def _settle_reports(self, slots: list, reports: list) -> None:
        error = self.acker.settle(slots, reports)
        if error is not None:  # those outcomes wait for the next round trip
            log.warning("could not report some outcomes, retrying: %s", error)

    async def _round_trip(self, calls: list, slots: list) -> list:
        """Reports (answering `slots`), then a claim, then read-only checks, in one
        round trip. A stop
        (the fetch loop is cancelled) in the middle waits for the round trip to end:
        its reports are settled and what it claimed is held, to be released at exit -
        else those outcomes would be lost and the task run again, and the claimed tasks
        would wait for their leases to expire."""
        trip = asyncio.ensure_future(self.broker.run_many(calls))
        try:
            return await asyncio.shield(trip)
        except asyncio.CancelledError:
            try:
                replies = await trip
                reports, claimed = replies[: len(slots)], replies[len(slots)]
            except Exception:  # reported by the shutdown's drain, or released
                self.acker.put_back([item for items in slots for item in items])
                self.acker.ready.set()  # its own loop reports them during the shutdown
                raise asyncio.CancelledError from None
            self._settle_reports(slots, reports)
            self.acker.ready.set()  # outcomes put back: its own loop reports them
            for c in [] if isinstance(claimed, Exception) else claimed:
                self.execution.hold(c)
            raise

    def queue_order(self) -> list[str]:
        """Strict order, or a weighted random order (heavier queues first more often)."""
        queues, weights = self.options.queues, self.options.weights
        if weights is None:
            return list(queues)
        keys = {q: random.random() ** (1.0 / w) for q, w in zip(queues, weights, strict=True)}
        return sorted(queues, key=keys.__getitem__, reverse=True)
