"""R4: poison tasks that SIGKILL their own worker, among normal tasks.

Must hold: each poison task ends in the dead-letter queue with reason `worker_lost`
after exactly MAX_LEASE_LOSSES starts; the normal tasks all complete (none lost, none
dead-lettered: a task is never blamed for a crash it did not run in); the workers are
restarted once per poison start and no more (no crash loop).

Broken twin: a reaper that never dead-letters; the poison tasks then kill workers
forever, which the start count reports.
"""

import random

import pytest

from taskqueue.conf import Config
from tests.support.waits import wait_for
from tests.taskapp.fault_tasks import suicide, work

from .oracle import check, wait_drained
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

NORMAL = pick(ci=300, full=2_000)
POISON = pick(ci=5, full=50)
LEASE = 2.0
MAX_LOSSES = Config.MAX_LEASE_LOSSES  # tests/settings.py leaves the default


def produce(producer, normal: int, poison: int) -> set[str]:
    every = max(1, normal // max(1, poison))
    poison_ids = set()
    for i in range(normal):
        producer.enqueue(work, random.randint(5, 50))
        if i % every == 0 and len(poison_ids) < poison:
            poison_ids.add(producer.enqueue(suicide))
    return poison_ids


def test_r4_poison_tasks_are_dead_lettered_after_a_fixed_number_of_starts(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(3, lease=LEASE)
    producer = make_producer()
    poison = produce(producer, NORMAL, POISON)
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=pick(120, 600))
    report = check(r, tq_prefix, producer, ledger, lease=LEASE)
    starts = ledger.starts()
    poison_starts = [starts.get(i, 0) for i in poison]
    figures(
        "R4",
        normal=NORMAL,
        poison=POISON,
        lease_s=LEASE,
        drain_s=round(drain.seconds, 2),
        restarts=pool.restarts,
        poison_starts=sum(poison_starts),
        dead=len(report.dead),
        normal_dead=len(set(report.dead) - poison),
        lost=len(report.lost),
        extra_completions=report.extra_completions,
    )
    assert drain.done, drain
    assert {report.dead.get(i) for i in poison} == {"worker_lost"}
    assert poison_starts == [MAX_LOSSES] * POISON
    assert set(report.dead) == poison, "normal tasks were blamed for poison crashes"
    assert pool.restarts == sum(poison_starts)  # one restart per poison start, no loop
    report.assert_clean(max_duplicates=pool.restarts * 10)


def test_r4_twin_without_dead_lettering_crash_loops(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(
        3, lease=LEASE, command=wrapper("broken_worker.py"), env={"FAULTS_BREAK": "no-dead-letter"}
    )
    producer = make_producer()
    poison = produce(producer, 20, 1)
    [victim] = poison
    wait_for(
        lambda: ledger.starts().get(victim, 0) > MAX_LOSSES + 1,
        (MAX_LOSSES + 2) * (LEASE + 6),
        "the poison task to go on killing workers",
    )
    assert pool.restarts > MAX_LOSSES  # more kills than the fixed number of starts
    report = check(fault_redis.client(), tq_prefix, producer, ledger, lease=LEASE)
    assert victim not in report.dead
    assert victim in report.lost
