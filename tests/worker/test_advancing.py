"""The worker's fast path for workflow outboxes (worker/advancing.py): an idle worker
applies at once and goes on while entries keep coming; a busy one lets entries gather
and applies one batch a round, until nothing is left."""

import asyncio
import json
import time

from taskqueue.broker.workflow_ops import OUTBOX_BATCH, Advanced
from taskqueue.worker.advancing import GATHER_S, Advancer
from taskqueue.workflows import chain, group
from tests.taskapp.tasks import echo


class FakeBroker:
    """Records each advance call; answers `left` from a script of answers."""

    def __init__(self, lefts=()):
        self.calls: list[tuple[list[str], int, float]] = []
        self.lefts = list(lefts)

    async def advance(self, queues, *, rounds=20):
        self.calls.append((list(queues), rounds, time.monotonic()))
        left = self.lefts.pop(0) if self.lefts else ()
        return Advanced(len(queues), 0, 0, 0, left=left)


async def _settled(advancer: Advancer) -> None:
    """Until its rounds are over (5 s at most)."""
    if advancer.task is not None:
        await asyncio.wait_for(asyncio.shield(advancer.task), 5)


def test_an_idle_worker_applies_at_once_and_as_many_rounds_as_it_takes():
    async def scenario():
        broker = FakeBroker()
        advancer = Advancer(broker, busy=lambda: False)
        began = time.monotonic()
        advancer.soon("default")
        await _settled(advancer)
        return broker.calls, began

    calls, began = asyncio.run(scenario())
    [(queues, rounds, at)] = calls
    assert (queues, rounds) == (["default"], 20)
    assert at - began < GATHER_S  # no wait before it


def test_a_busy_worker_lets_entries_gather_then_applies_them_in_one_round():
    async def scenario():
        broker = FakeBroker()
        advancer = Advancer(broker, busy=lambda: True)
        began = time.monotonic()
        for queue in ("default", "low", "default"):  # three reports, one round
            advancer.soon(queue)
        await _settled(advancer)
        return broker.calls, began

    calls, began = asyncio.run(scenario())
    [(queues, rounds, at)] = calls
    assert (queues, rounds) == (["default", "low"], 1)
    assert at - began >= GATHER_S


def test_a_busy_worker_goes_on_while_a_round_leaves_entries():
    async def scenario():
        broker = FakeBroker(lefts=[("default",), ("default",), ()])
        advancer = Advancer(broker, busy=lambda: True)
        advancer.soon("default")
        await _settled(advancer)
        return broker.calls

    assert [(q, r) for q, r, _ in asyncio.run(scenario())] == [(["default"], 1)] * 3


def test_one_round_says_what_it_left_and_the_next_rounds_finish_the_outbox(broker):
    pairs = OUTBOX_BATCH + 50  # each first step's completion releases its second step:
    group(chain(echo.s(i), echo.s()) for i in range(pairs)).enqueue()  # an entry each
    while claimed := broker.claim("default", "w1", 100):
        done = [(c.id, c.attempt, json.dumps(json.loads(c.args)[0])) for c in claimed]
        broker.complete("default", done)
    assert broker.counts("default").waiting == pairs
    first = broker.advance(["default"], rounds=1)
    assert (first.applied, first.started, first.left) == (OUTBOX_BATCH, OUTBOX_BATCH, ("default",))
    second = broker.advance(["default"], rounds=1)
    assert (second.applied, second.started) == (50, 50)
    rest = broker.advance(["default"], rounds=1)
    assert (rest.applied, rest.left) == (0, ())
    assert broker.counts("default").waiting == 0
    assert broker.counts("default").pending == pairs
