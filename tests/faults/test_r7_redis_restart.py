"""R7: Redis restarts (SIGKILL, same data dir, AOF with `appendfsync always`) while tasks
are in flight.

Must hold: nothing lost; no lease is reclaimed early (the outage is shorter than the
lease: no task is handed out again at all); nothing runs twice.

The AOF is fsynced on every write here: with `everysec`, a claim written in the last
second before the kill can be forgotten and its task rightly runs again (R6 measures
that window and allows for it). This scenario asserts the strict promise of the
`always` setting (docs/RELIABILITY.md).

Broken twin: the same with a Redis without AOF; the restart forgets the queue and the
oracle reports the acknowledged tasks that never ran as lost.
"""

import random
import time

import pytest

from tests.taskapp.fault_tasks import work

from .oracle import check, handovers, wait_drained
from .rig import figures
from .sizes import pick

pytestmark = pytest.mark.faults

TASKS = pick(ci=400, full=3_000)
LEASE = pick(ci=10.0, full=15.0)
OUTAGE_S = pick(ci=2.0, full=3.0)


def restart_under_load(redis, worker_pool, make_producer, ledger, tq_prefix, n=TASKS):
    pool = worker_pool(3, redis=redis, lease=LEASE)
    producer = make_producer(redis.url)
    producer.run(work, n, lambda i: (random.randint(100, 400),), batch=100)
    time.sleep(1.0)  # tasks are in flight
    started = time.monotonic()
    redis.restart(after=OUTAGE_S)
    back = time.monotonic() - started
    drain = wait_drained(redis.client(), tq_prefix, producer, ledger, timeout=60, idle=3)
    report = check(redis.client(), tq_prefix, producer, ledger, lease=LEASE)
    return pool, producer, drain, report, back


def test_r7_redis_restart_loses_nothing_and_reclaims_nothing_early(
    make_fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    redis = make_fault_redis(extra_args=("--appendfsync", "always"))
    _, _, drain, report, back = restart_under_load(
        redis, worker_pool, make_producer, ledger, tq_prefix
    )
    taken_back = handovers(report.records)
    figures(
        "R7",
        tasks=TASKS,
        lease_s=LEASE,
        outage_s=round(back, 2),
        drain_s=round(drain.seconds, 2),
        lost=len(report.lost),
        extra_completions=report.extra_completions,
        reclaimed=len(taken_back),
    )
    assert drain.done, drain
    report.assert_clean(max_duplicates=0)
    assert taken_back == []


def test_r7_twin_redis_without_aof_loses_acknowledged_tasks(
    make_fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    redis = make_fault_redis(persistent=False)
    _, producer, drain, report, _ = restart_under_load(
        redis, worker_pool, make_producer, ledger, tq_prefix
    )
    assert not drain.done
    assert len(report.lost) > TASKS // 4, report.summary()
    assert set(report.lost) <= producer.acked_ids
    with pytest.raises(AssertionError, match="lost"):
        report.assert_clean()
