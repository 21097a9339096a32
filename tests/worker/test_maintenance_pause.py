"""The maintenance sweep's pause: every second while there is something to do, longer
(up to a tenth of the lease, at most IDLE_SWEEP_MAX_S) while sweeps find nothing, so an
idle worker costs its process and Redis little (docs/worker.md)."""

import asyncio

import pytest

from taskqueue.registry import registry
from taskqueue.worker.maintenance import IDLE_SWEEP_MAX_S, SWEEP_S, Maintenance, idle_pause

from ..factories import enqueue, make_task
from ..support.workers import with_async_broker


@pytest.mark.parametrize(
    ("lease", "pause"), [(30.0, IDLE_SWEEP_MAX_S), (15.0, 1.5), (2.0, SWEEP_S), (0.5, SWEEP_S)]
)
def test_the_longest_idle_pause_is_a_tenth_of_the_lease_within_bounds(lease, pause):
    assert idle_pause(lease) == pause


def test_sweeps_that_find_nothing_pause_longer_and_one_that_moves_a_task_does_not(broker):
    async def sweeps(async_broker):
        maintenance = Maintenance(async_broker, ["default", "other"], [], registry)
        idle = [await maintenance.sweep() for _ in range(4)]
        enqueue(broker, make_task("other", delay_ms=1))
        await asyncio.sleep(0.01)
        busy = await maintenance.sweep()
        return idle, busy, maintenance.pause

    idle, busy, pause = asyncio.run(with_async_broker(sweeps))
    assert 2.0 * 0.8 <= idle[0] <= 2.0  # doubled once
    assert all(IDLE_SWEEP_MAX_S * 0.8 <= wait <= IDLE_SWEEP_MAX_S for wait in idle[1:])
    assert pause == SWEEP_S and busy <= SWEEP_S  # the promoted task: back to every second


def test_a_sweep_goes_on_when_applying_the_outboxes_fails(broker, caplog):
    async def sweep(async_broker):
        async def advance(queues, **options):
            raise RuntimeError("the outbox step broke")

        async_broker.advance = advance
        return await Maintenance(async_broker, ["default"], [], registry).sweep()

    wait = asyncio.run(with_async_broker(sweep))
    assert 0 < wait <= IDLE_SWEEP_MAX_S  # the trim and the cron ticks came after it
    assert "the outbox step broke" in caplog.text
