"""R13: a soak. TASKS tasks (10 % fail once, then succeed on their retry) through two
workers, with short retention (RESULT_TTL, DEAD_TTL: a few seconds) so records come and
go while it runs:

- the workers' memory stays flat: their RSS when everything is done is at most 1.1 x
  their RSS at the checkpoint (full: 100,000 vs 10,000 done; ci: 10,000 vs 2,000);
- Redis's memory comes back to its baseline (measured before the first enqueue, with
  the workers registered) once the TTLs have passed: what remains is bounded
  bookkeeping (the capped event stream, counters, the per-minute hashes), RETAINED_MAX;
- nothing is lost or duplicated (the oracle).

Broken twin: workers that keep 20 KB per task they run (a leak); the RSS check must
catch it.
"""

import json
import threading
import time

import psutil
import pytest

from tests.support.waits import wait_for
from tests.taskapp.fault_tasks import fail_first, work

from .oracle import check, wait_drained
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

TASKS = pick(ci=10_000, full=100_000)
CHECKPOINT = pick(ci=2_000, full=10_000)
WORKERS = 2
TTL = 4  # RESULT_TTL and DEAD_TTL, seconds
EVENTS_MAXLEN = 1_000
RETAINED_MAX = 1_000_000  # bytes: the capped stream and counters left after the TTLs
RSS_GROWTH_MAX = 1.10
SETTINGS = {"RESULT_TTL": TTL, "DEAD_TTL": TTL, "EVENTS_MAXLEN": EVENTS_MAXLEN}


def rss(pids: list[int]) -> int:
    return sum(psutil.Process(pid).memory_info().rss for pid in pids)


def soak(fault_redis, worker_pool, make_producer, ledger, tq_prefix, n, checkpoint, **pool):
    pool_env = {"TASKQUEUE_EXTRA": json.dumps(SETTINGS)} | pool.pop("env", {})
    workers = worker_pool(WORKERS, env=pool_env, **pool)
    r = fault_redis.client()
    baseline = r.info("memory")["used_memory"]
    producer = make_producer()

    def produce():
        for first in range(0, n, 500):
            calls = [
                (fail_first, (0,), {}) if i % 10 == 0 else (work, (0,), {})
                for i in range(first, min(n, first + 500))
            ]
            producer.enqueue_many(calls)

    started = time.monotonic()
    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    stats = f"{tq_prefix}:{{default}}:stats"
    done = lambda: int(r.hget(stats, "completed") or 0)  # noqa: E731
    wait_for(lambda: done() >= checkpoint, pick(120, 600), f"{checkpoint} completed", every=0.01)
    rss_checkpoint = rss(workers.pids)
    peak = r.info("memory")["used_memory"]
    thread.join(pick(120, 600))
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=pick(180, 900))
    rss_end = rss(workers.pids)
    peak = max(peak, r.info("memory")["used_memory"])
    return {
        "drain": drain,
        "producer": producer,
        "seconds": time.monotonic() - started,
        "rss_checkpoint": rss_checkpoint,
        "rss_end": rss_end,
        "baseline": baseline,
        "peak": peak,
        "restarts": workers.restarts,
        "r": r,
    }


def test_r13_soak_memory_stays_flat(fault_redis, worker_pool, make_producer, ledger, tq_prefix):
    got = soak(fault_redis, worker_pool, make_producer, ledger, tq_prefix, TASKS, CHECKPOINT)
    assert got["drain"].done, got["drain"]
    assert got["restarts"] == 0
    growth = got["rss_end"] / got["rss_checkpoint"]
    assert growth <= RSS_GROWTH_MAX, got
    r, baseline = got["r"], got["baseline"]
    used = lambda: r.info("memory")["used_memory"]  # noqa: E731
    t0 = time.monotonic()
    completed = f"{tq_prefix}:{{default}}:completed"
    wait_for(
        lambda: r.zcard(completed) == 0 and used() - baseline <= RETAINED_MAX,
        TTL + 30,
        "every record trimmed and Redis memory back to its baseline",
        every=0.5,
    )
    back_after = time.monotonic() - t0
    # the oracle once the trimming is over (it reads sets and records one after the other)
    report = check(r, tq_prefix, got["producer"], ledger)
    report.assert_clean()
    figures(
        "R13",
        tasks=TASKS,
        failed_once=TASKS // 10,
        seconds=round(got["seconds"], 1),
        tasks_per_s=round(TASKS / got["seconds"]),
        lost=len(report.lost),
        duplicates=report.extra_completions,
        rss_mb_checkpoint=round(got["rss_checkpoint"] / 2**20, 1),
        rss_mb_end=round(got["rss_end"] / 2**20, 1),
        rss_growth=round(growth, 3),
        checkpoint=CHECKPOINT,
        redis_mb_baseline=round(baseline / 2**20, 2),
        redis_mb_peak=round(got["peak"] / 2**20, 2),
        redis_kb_retained=round((used() - baseline) / 1024, 1),
        redis_back_after_s=round(back_after, 1),
    )


def test_r13_twin_a_leaking_worker_is_caught(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    got = soak(
        fault_redis,
        worker_pool,
        make_producer,
        ledger,
        tq_prefix,
        3_000,
        600,
        command=wrapper("hyg_broken_worker.py"),
        env={"FAULTS_BREAK": "leak"},
    )
    assert got["drain"].done
    assert got["rss_end"] / got["rss_checkpoint"] > RSS_GROWTH_MAX, got
