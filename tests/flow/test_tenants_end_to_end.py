"""Fair share across tenants with real worker processes (docs/flow-control.md#tenants)."""

from tests.support.waits import wait_for
from tests.taskapp.limit_tasks import fair_job


def test_a_tenants_backlog_costs_a_newcomer_one_turn_per_task_not_its_length(
    broker, spawn_worker, runs
):
    flood = fair_job.using(tenant="acme")
    broker.enqueue([flood.prepare(f"a{i}") for i in range(20_000)])
    spawn_worker("--queues", "fair", "--concurrency", "4")
    wait_for(lambda: len(runs("fair")) >= 200, 30, "the flood to start")
    started_before = len(runs("fair"))
    small = [fair_job.using(tenant="tiny").enqueue(f"b{i}") for i in range(100)]
    for h in small:
        h.result(timeout=30)
    order = [tag for _, _, tag, _ in sorted(runs("fair"), key=lambda n: n[3])]
    last_b = max(order.index(f"b{i}") for i in range(100))
    # one turn each: the 100 tasks of 'tiny' interleave with as many of 'acme' (plus
    # those claimed meanwhile), never behind acme's thousands still waiting
    assert last_b - started_before < 2 * 100 + 100, (started_before, last_b)
    assert broker.counts("fair").pending > 10_000  # acme's backlog was still there
