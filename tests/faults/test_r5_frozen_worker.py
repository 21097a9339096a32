"""R5: a worker frozen (SIGSTOP) in the middle of a long task, past its lease.

Must hold: another worker takes the task over once the lease has expired; when the
frozen worker wakes up, its heartbeat is refused (lease lost) and its attempt can
record nothing (fencing): the record is the second attempt's. The body ran twice, at
the same time for a while - the oracle accepts that overlap only because the first
attempt's lease had expired and the reaper took it back.

Broken twins: a reaper that takes tasks from workers whose leases are still valid (the
oracle reports the overlap); a worker whose completions are not fenced (it reports
with the task's current attempt number and ignores a lost lease: the oracle reports a
stale completion).
"""

import signal
import time

import pytest

from taskqueue.client import get_broker
from taskqueue.worker.maintenance import SWEEP_S
from tests.support.waits import wait_for
from tests.taskapp.fault_tasks import work

from .oracle import check, history
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

TASK_MS = pick(ci=7_000, full=20_000)
LEASE = pick(ci=2.0, full=5.0)
FROZEN_S = pick(ci=5.0, full=10.0)


def ended_runs(ledger, task_id: str):
    runs = [r for r in ledger.runs().get(task_id, []) if r.ended]
    return runs if len(runs) >= 2 else None


def completed(task_id: str):
    record = get_broker().get("default", task_id)
    return record if record.status == "completed" else None


def freeze_its_worker(pool, producer, ledger):
    """Start the long task, freeze its worker for FROZEN_S, wait until both runs ended."""
    task_id = producer.enqueue(work, TASK_MS)
    [first] = wait_for(lambda: ledger.runs().get(task_id), 30, "the task to start")
    stopped_at = time.time()
    pool.kill(first.pid, signal.SIGSTOP)
    time.sleep(FROZEN_S)  # holding the fault
    pool.kill(first.pid, signal.SIGCONT)
    resumed_at = time.time()
    runs = wait_for(lambda: ended_runs(ledger, task_id), TASK_MS / 1000 + 30, "both runs to end")
    return task_id, runs, stopped_at, resumed_at


def test_r5_a_frozen_worker_loses_its_task_and_cannot_report_it(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(2, lease=LEASE)
    producer = make_producer()
    task_id, runs, stopped_at, resumed_at = freeze_its_worker(pool, producer, ledger)
    first = runs[0]
    wait_for(lambda: pool.grep(f"task {task_id}: lease lost"), 10, "the stale heartbeat's refusal")
    record = wait_for(lambda: completed(task_id), 30, "the record to be completed")
    report = check(fault_redis.client(), tq_prefix, producer, ledger, lease=LEASE)
    second = runs[1]
    hist = history(report.records[task_id])
    figures(
        "R5",
        task_s=TASK_MS / 1000,
        lease_s=LEASE,
        frozen_s=FROZEN_S,
        taken_over_after_s=round(second.started - stopped_at, 2),
        bound_s=LEASE + SWEEP_S + 2,
        completions_in_ledger=report.completions,
        recorded_attempt=record.attempts,
    )
    assert second.pid != first.pid and second.attempt == 2
    assert stopped_at < second.started < resumed_at  # taken over while it was frozen
    assert second.started - stopped_at <= LEASE + SWEEP_S + 2
    assert (hist[1][3], hist[2][3], record.attempts) == ("lost", "completed", 2)
    assert f":{second.pid}:" in hist[2][0]  # the record is the second attempt's
    # the frozen worker's attempt is fenced: Redis refuses its heartbeat and completion
    assert get_broker().renew("default", [(task_id, 1, "")]) == [0]
    assert get_broker().complete("default", [(task_id, 1, '"stale"')]) == [False]
    assert report.justified_overlaps and not report.overlaps
    report.assert_clean(max_duplicates=1)  # the body ran to its end twice, recorded once


def test_r5_twin_reaping_live_leases_is_caught_as_overlap(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    lease = 5.0
    worker_pool(
        2, lease=lease, command=wrapper("broken_worker.py"), env={"FAULTS_BREAK": "early-reap"}
    )
    producer = make_producer()
    task_id = producer.enqueue(work, 3_000)

    def all_runs_ended():
        runs = ledger.runs().get(task_id, [])
        return len(runs) >= 2 and all(r.ended for r in runs)

    wait_for(all_runs_ended, 30, "two runs of the task to end")
    report = check(fault_redis.client(), tq_prefix, producer, ledger, lease=lease)
    assert report.overlaps and report.early_reclaims
    with pytest.raises(AssertionError, match="overlaps"):
        report.assert_clean(max_duplicates=10)


def test_r5_twin_without_fencing_is_caught_as_a_stale_completion(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(
        2, lease=LEASE, command=wrapper("broken_worker.py"), env={"FAULTS_BREAK": "unfenced"}
    )
    producer = make_producer()
    task_id, *_ = freeze_its_worker(pool, producer, ledger)
    wait_for(lambda: completed(task_id), 30, "the record to be completed")
    report = check(fault_redis.client(), tq_prefix, producer, ledger, lease=LEASE)
    assert [s.split(":")[0] for s in report.stale_completions] == [task_id]
    with pytest.raises(AssertionError, match="stale completions"):
        report.assert_clean(max_duplicates=1)
