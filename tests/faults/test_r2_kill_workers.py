"""R2: SIGKILL a random worker every 2 s while tasks of 5-50 ms drain.

The tasks are all enqueued first (as in R1), so every worker is busy when it is
killed; the kills go on while tasks are waiting. Must hold: nothing lost; extra
completions (a task that ran to its end but whose report died with its worker runs
again) at most kills x concurrency and under 1 %; every task a killed worker held is
claimed again within lease + sweep + 2 s of the kill.

Broken twin: the same with the reaper patched out; the tasks the killed worker held
stay in flight forever and the oracle reports them lost.
"""

import random
import signal
import threading
import time

import pytest

from taskqueue.worker.maintenance import SWEEP_S
from tests.support.waits import wait_for
from tests.taskapp.fault_tasks import work

from .oracle import check, handovers, wait_drained
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

TASKS = pick(ci=6_000, full=20_000)
LEASE = pick(ci=3.0, full=5.0)
CONCURRENCY = 10
KILL_EVERY = 2.0


def killing(pool, r, pending_key: str, every: float = KILL_EVERY) -> threading.Thread:
    """Kill a random worker every `every` s for as long as tasks are waiting."""

    def run():
        while r.zcard(pending_key):
            time.sleep(every)  # holding the fault: one kill every `every` s
            pool.kill_random(signal.SIGKILL)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_r2_sigkill_every_2s_loses_nothing(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(3, lease=LEASE, args=["--concurrency", str(CONCURRENCY)])
    producer = make_producer()
    r = fault_redis.client()
    started = time.monotonic()
    producer.run(work, TASKS, lambda i: (random.randint(5, 50),), batch=200)
    killer = killing(pool, fault_redis.client(), f"{tq_prefix}:{{default}}:pending")
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=pick(90, 300))
    killer.join()
    report = check(r, tq_prefix, producer, ledger, lease=LEASE)
    kills = {pid: t for t, pid, _ in pool.kills}
    delays = [
        h.next_started_ms / 1000 - kills[h.pid]
        for h in handovers(report.records)
        if h.pid in kills and h.outcome == "lost" and h.next_started_ms
    ]
    bound = LEASE + SWEEP_S + 2.0
    figures(
        "R2",
        tasks=TASKS,
        lease_s=LEASE,
        kills=len(pool.kills),
        restarts=pool.restarts,
        drain_s=round(drain.at - started, 2),
        lost=len(report.lost),
        dead=len(report.dead),
        extra_completions=report.extra_completions,
        duplicate_pct=round(100 * report.extra_completions / TASKS, 3),
        reclaimed=len(delays),
        reclaim_max_s=round(max(delays, default=0), 2),
        reclaim_mean_s=round(sum(delays) / len(delays), 2) if delays else None,
        bound_s=bound,
    )
    assert drain.done, drain
    assert len(pool.kills) >= pick(2, 8)
    report.assert_clean(max_duplicates=len(pool.kills) * CONCURRENCY)
    assert report.extra_completions < 0.01 * TASKS
    assert delays, "the kills should have cost some tasks their leases"
    assert max(delays) <= bound, sorted(delays)[-5:]
    assert not report.dead, report.dead


def test_r2_twin_without_reaper_loses_the_killed_workers_tasks(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(
        3,
        lease=LEASE,
        command=wrapper("broken_worker.py"),
        env={"FAULTS_BREAK": "no-reaper"},
    )
    producer = make_producer()
    producer.run(work, 2_000, lambda i: (random.randint(5, 50),), batch=200)
    [busy] = wait_for(lambda: [r for rs in ledger.runs().values() for r in rs][:1], 30, "a start")
    killed = pool.kill(busy.pid, signal.SIGKILL)  # a worker in the middle of a task
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=LEASE + SWEEP_S + 3)
    assert not drain.done
    report = check(r, tq_prefix, producer, ledger, lease=LEASE)
    assert report.lost
    assert any("left in active" in i for i in report.inconsistencies)
    assert {report.records[i]["worker"].split(":")[-2] for i in report.lost} == {str(killed)}
    with pytest.raises(AssertionError, match="lost"):
        report.assert_clean()
