"""R1: the baseline. Tasks of 5-50 ms on 3 workers, no fault: nothing lost, nothing
duplicated; the drain time is the reference the other scenarios compare with.

Broken twin: a worker that reports about one task in 25 completed without running it
(the ack-before-run bug); the oracle must name exactly those tasks as lost.
"""

import random
import time

import pytest

from tests.taskapp.fault_tasks import work

from .broken_worker import skipped
from .oracle import check, wait_drained
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

TASKS = pick(ci=1_500, full=20_000)
WORKERS = 3


def produce_and_drain(fault_redis, tq_prefix, producer, ledger, n: int, timeout: float):
    started = time.monotonic()
    producer.run(work, n, lambda i: (random.randint(5, 50),), batch=100)
    enqueued = time.monotonic() - started
    drain = wait_drained(fault_redis.client(), tq_prefix, producer, ledger, timeout=timeout)
    return enqueued, drain, drain.at - started


def test_r1_no_fault_loses_and_duplicates_nothing(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    worker_pool(WORKERS)
    producer = make_producer()
    enqueued, drain, total = produce_and_drain(
        fault_redis, tq_prefix, producer, ledger, TASKS, timeout=pick(60, 300)
    )
    assert drain.done, drain
    report = check(fault_redis.client(), tq_prefix, producer, ledger)
    figures(
        "R1",
        tasks=TASKS,
        workers=WORKERS,
        enqueue_s=round(enqueued, 2),
        drain_s=round(total, 2),
        tasks_per_s=round(TASKS / total),
        lost=len(report.lost),
        extra_completions=report.extra_completions,
    )
    report.assert_clean()
    assert report.acked == report.finished == report.completions == TASKS


def test_r1_twin_ack_before_run_is_caught_as_lost(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    worker_pool(WORKERS, command=wrapper("broken_worker.py"), env={"FAULTS_BREAK": "ack-unrun"})
    producer = make_producer()
    n = pick(500, 2_000)
    _, drain, _ = produce_and_drain(fault_redis, tq_prefix, producer, ledger, n, timeout=60)
    assert drain.done  # Redis says every task completed...
    report = check(fault_redis.client(), tq_prefix, producer, ledger)
    expected = {i for i in producer.acked_ids if skipped(i)}
    assert expected, "the sample should contain skipped ids"
    assert set(report.lost) == expected  # ...but the ledger shows they never ran
    with pytest.raises(AssertionError, match="lost"):
        report.assert_clean()
