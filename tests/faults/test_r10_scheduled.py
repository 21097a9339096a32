"""R10: delayed tasks and retry backoffs longer than the lease. None may start early,
and each must complete exactly once: the Celery ETA/visibility-timeout bug (a task
waiting for its ETA inside a worker is redelivered when the visibility timeout passes,
and runs twice) must not exist here. Scheduled tasks wait in Redis's `scheduled` set,
not in a worker, so no lease runs while they wait.

- TASKS `work` tasks enqueued with delay=DUE (full: 500 due in 20 s, lease 6 s);
- RETRIES `retry_once` tasks whose first run fails, retried BACKOFF later without
  jitter (full: 500, 15 s).

"Early" is judged twice: on Redis's clock (the claim time in the attempt's history
entry against the record's run_at, or against the failed attempt's end + backoff) and
on the ledger's (the body's start against the enqueue time + DUE, or the failed run's
end + BACKOFF, with 250 ms for clock granularity).

Broken twin: a worker whose promoter treats every scheduled task as due; the checks
must report early starts.
"""

import statistics
import time

import pytest

from tests.taskapp.fault_tasks import work
from tests.taskapp.fault_tasks_hyg import retry_once

from .oracle import check, history, wait_drained
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

TASKS = pick(ci=100, full=500)
RETRIES = pick(ci=100, full=500)
DUE = pick(ci=6.0, full=20.0)
LEASE = pick(ci=2.0, full=6.0)
BACKOFF = pick(ci=5.0, full=15.0)
WORKERS = 3
CLOCK_S = 0.25  # ledger (time.time in the workers) vs the test's clock and Redis TIME


def run_r10(fault_redis, worker_pool, make_producer, ledger, tq_prefix, n, m, **pool):
    env = {"TASKQUEUE_HYG_BACKOFF": str(BACKOFF)} | pool.pop("env", {})
    worker_pool(WORKERS, lease=LEASE, env=env, **pool)
    producer = make_producer()
    enqueued_at = time.time()
    delayed = producer.enqueue_many([(work, (5,), {}) for _ in range(n)], {"delay": DUE})
    retried = producer.enqueue_many([(retry_once, (), {}) for _ in range(m)])
    assert None not in delayed + retried, producer.summary()
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=DUE + BACKOFF + pick(60, 180))
    report = check(r, tq_prefix, producer, ledger, lease=LEASE)
    return drain, report, early_starts(report, ledger, delayed, retried, enqueued_at)


def early_starts(report, ledger, delayed, retried, enqueued_at) -> dict:
    runs = ledger.runs()
    early: list[str] = []
    lateness, gaps = [], []
    for task_id in delayed:
        rec = report.records.get(task_id, {})
        claimed = history(rec).get(1, (None, None))[1]
        run_at = int(rec.get("run_at") or 0)
        if claimed is None or claimed < run_at:
            early.append(f"{task_id}: claimed at {claimed}, run_at {run_at} (Redis clock)")
        first = runs.get(task_id, [])
        if first and first[0].started < enqueued_at + DUE - CLOCK_S:
            early.append(f"{task_id}: started {first[0].started - enqueued_at:.3f} s after enqueue")
        if first and claimed is not None:
            lateness.append(claimed - run_at)
    for task_id in retried:
        h = history(report.records.get(task_id, {}))
        if 1 not in h or 2 not in h or h[1][2] is None:
            early.append(f"{task_id}: history {h}")
            continue
        due = h[1][2] + int(BACKOFF * 1000)
        if h[2][1] < due:
            early.append(f"{task_id}: retry claimed {due - h[2][1]} ms before its backoff ended")
        found = runs.get(task_id, [])
        if len(found) == 2 and found[0].ended is not None:
            gap = found[1].started - found[0].ended
            gaps.append(gap)
            if gap < BACKOFF - CLOCK_S:
                early.append(f"{task_id}: ledger gap {gap:.3f} s < backoff {BACKOFF} s")
    return {
        "early": early,
        "late_ms_p50": statistics.median(lateness) if lateness else None,
        "late_ms_max": max(lateness) if lateness else None,
        "retry_gap_s_max": round(max(gaps), 3) if gaps else None,
        "retry_gap_s_min": round(min(gaps), 3) if gaps else None,
    }


def test_r10_nothing_starts_early_and_each_completes_once(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    drain, report, found = run_r10(
        fault_redis, worker_pool, make_producer, ledger, tq_prefix, TASKS, RETRIES
    )
    assert drain.done, (drain, report.summary())
    report.assert_clean()
    assert found["early"] == [], found["early"][:5]
    starts = ledger.starts()
    assert report.completions == TASKS + RETRIES
    assert sorted(set(starts.values())) == [1, 2]  # delayed: one start; retried: two
    assert sum(starts.values()) == TASKS + 2 * RETRIES
    figures(
        "R10",
        tasks=TASKS,
        retries=RETRIES,
        due_s=DUE,
        lease_s=LEASE,
        backoff_s=BACKOFF,
        drain_s=round(drain.seconds, 2),
        lost=len(report.lost),
        duplicates=report.extra_completions,
        early=0,
        **{k: v for k, v in found.items() if k != "early"},
    )


def test_r10_twin_early_promotion_is_caught(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    drain, _, found = run_r10(
        fault_redis,
        worker_pool,
        make_producer,
        ledger,
        tq_prefix,
        20,
        20,
        command=wrapper("hyg_broken_worker.py"),
        env={"FAULTS_BREAK": "early-promote"},
    )
    assert drain.done
    assert len(found["early"]) >= 40, found["early"][:5]  # each delayed one twice, each retry
