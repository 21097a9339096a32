"""One queue's trouble stays that queue's (issue 13): a report round trip, a maintenance
sweep and a heartbeat each go on with the other queues when one queue's call fails."""

import asyncio

import pytest

from taskqueue.client import build_broker
from taskqueue.conf import get_config
from taskqueue.context import TaskContext
from taskqueue.registry import registry
from taskqueue.status import Status
from taskqueue.worker.acks import Acknowledger
from taskqueue.worker.heartbeat import Heartbeat, RuntimeStats
from taskqueue.worker.maintenance import Maintenance
from taskqueue.worker.runner import Outcome, Running

from ..factories import enqueue, make_task
from ..support.workers import with_async_broker


def running(c) -> Running:
    return Running(c, TaskContext(c.id, c.name, c.queue, c.attempt, c.failures, c.max_retries))


def test_one_failing_call_of_a_report_round_trip_costs_only_its_own_outcomes(broker):
    enqueue(broker, make_task("a"), make_task("b"))
    held = [running(c) for q in "ab" for c in broker.claim(q, "w1", 1)]

    async def report(async_broker):
        answers = {}
        acker = Acknowledger(async_broker, lambda r, o, a: answers.__setitem__(r.claimed.queue, a))
        for r in held:
            acker.add(r, Outcome("completed", result="1"))
        batch = acker.take()
        calls, slots = acker.calls_for(batch)
        calls[0].args[2] = "not a number"  # queue a's call fails inside Redis
        error = acker.settle(slots, await async_broker.run_many(calls))
        return answers, error, [r.claimed.queue for r, _ in acker.pending]

    answers, error, kept = asyncio.run(with_async_broker(report))
    assert answers == {"b": True}  # settled: its completion is recorded
    assert error is not None and kept == ["a"]  # reported again on the next round trip
    assert broker.get("b", held[1].claimed.id).status == Status.COMPLETED


def test_a_maintenance_sweep_goes_on_with_the_other_queues(broker):
    (due,) = enqueue(broker, make_task("b", delay_ms=1))

    async def sweep(async_broker):
        original = async_broker.promote

        class Refused:  # queue a's promote fails inside Redis, in the sweep's round trip
            def call(self, queue, **options):
                call = original.call(queue, **options)
                if queue == "a":
                    call.args[2] = "not a number"  # its batch limit
                return call

        async_broker.promote = Refused()
        await asyncio.sleep(0.01)
        await Maintenance(async_broker, ["a", "b"], [], registry).sweep()

    asyncio.run(with_async_broker(sweep))
    assert broker.get("b", due).status == Status.PENDING


def test_a_sweep_that_fails_on_every_queue_raises(broker):
    async def sweep(async_broker):
        original = async_broker.reap

        class Refused:
            def call(self, queue, **options):
                call = original.call(queue, **options)
                call.args[2] = "not a number"  # its batch limit
                return call

        async_broker.reap = Refused()
        await Maintenance(async_broker, ["a", "b"], [], registry).sweep()

    with pytest.raises(Exception, match="not an integer"):  # Redis's own reply
        asyncio.run(with_async_broker(sweep))


def test_a_heartbeat_renews_the_other_queues_when_one_queue_fails(broker, monkeypatch):
    enqueue(broker, make_task("a"), make_task("b"))
    held = [
        (c.queue, c.id, c.attempt, None)
        for q in "ab"
        for c in broker.claim(q, "w1", 1, lease_ms=1000)
    ]
    leases = lambda: [broker.client.zscore(broker.keys.queue(q).active, i) for q, i, _, _ in held]  # noqa: E731
    before = leases()
    beat_broker = build_broker(get_config())
    original = beat_broker.renew

    def renew(queue, tasks, **kw):
        if queue == "a":
            raise RuntimeError("queue a refused")
        return original(queue, tasks, **kw)

    monkeypatch.setattr(beat_broker, "renew", renew)
    Heartbeat(beat_broker, 10, lambda: held, lambda *a: None, dict, RuntimeStats()).renew()
    after = leases()
    assert after[0] == before[0] and after[1] > before[1] + 10_000  # b's renewed for the lease
