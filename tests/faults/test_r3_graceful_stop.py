"""R3: stopping workers while short and long tasks are in flight.

- SIGTERM with grace: short tasks finish and are reported; long ones (longer than the
  grace) are handed back at exit and start again at once, long before their lease would
  have expired; nothing lost, nothing completed twice.
- SIGTERM then SIGKILL within the grace: nothing lost (the leases expire, the reaper
  hands the tasks out again).
- A rolling restart of every worker under 200 tasks/s: nothing lost, nothing completed
  twice.

Broken twin: workers that do not hand their unfinished tasks back at exit; the long
tasks then wait for their leases to expire, which the handover check reports.
"""

import random
import signal
import time

import pytest

from tests.support.waits import wait_for
from tests.taskapp.fault_tasks import awork, work

from .ledger import Ledger
from .oracle import check, handovers, wait_drained
from .rig import figures, wrapper
from .sizes import pick

pytestmark = pytest.mark.faults

LEASE = pick(ci=12.0, full=30.0)  # long, so that "requeued at exit" and "after the lease" differ
GRACE = pick(ci=1.0, full=3.0)
LONG_MS = pick(ci=3_000, full=15_000)  # longer than the grace
SHORT = pick(ci=300, full=3_000)
LONG = pick(ci=6, full=20)
TWIN_LEASE = 6.0


def started(ledger: Ledger, ids) -> bool:
    return set(ids) <= set(ledger.starts())


def load(producer, short: int, long: int) -> list[str]:
    producer.run(work, short, lambda i: (random.randint(5, 50),), batch=50)
    return [producer.enqueue(awork, LONG_MS) for _ in range(long)]


def stop_with_grace(
    fault_redis,
    worker_pool,
    make_producer,
    ledger,
    tq_prefix,
    long=LONG,
    lease=LEASE,
    **pool_options,
):
    pool = worker_pool(3, lease=lease, args=["--grace", str(GRACE)], **pool_options)
    producer = make_producer()
    long_ids = load(producer, SHORT, long)
    wait_for(lambda: started(ledger, long_ids), 30, "the long tasks to start")
    sigterm_at = time.time()
    pool.signal_all(signal.SIGTERM)
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=lease + LONG_MS / 1000 + 30)
    report = check(r, tq_prefix, producer, ledger, lease=lease)
    back = [h for h in handovers(report.records) if h.id in long_ids and h.attempt == 1]
    return pool, producer, drain, report, back, sigterm_at


def test_r3_sigterm_hands_long_tasks_back_at_exit(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool, _, drain, report, back, sigterm_at = stop_with_grace(
        fault_redis, worker_pool, make_producer, ledger, tq_prefix
    )
    released = [h.ended_ms / 1000 - sigterm_at for h in back]
    restarted = [h.next_started_ms / 1000 - sigterm_at for h in back if h.next_started_ms]
    figures(
        "R3-sigterm",
        lease_s=LEASE,
        grace_s=GRACE,
        long_tasks=LONG,
        released_after_s=round(max(released, default=-1), 2),
        restarted_after_s=round(max(restarted, default=-1), 2),
        exit_codes=sorted({d.returncode for d in pool.deaths}),
        extra_completions=report.extra_completions,
        lost=len(report.lost),
    )
    assert drain.done, drain
    report.assert_clean(max_duplicates=0)
    assert {d.returncode for d in pool.deaths} == {0}
    assert [h.outcome for h in back] == ["released"] * LONG
    assert max(released) <= GRACE + 3.0  # handed back at exit...
    # ...not after the lease (the earliest it could expire: a lease renewed a heartbeat
    # interval, LEASE / 3, before the SIGTERM)
    assert len(restarted) == LONG and max(restarted) < LEASE * 2 / 3


def test_r3_twin_without_release_waits_for_the_lease(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    _, _, drain, _, back, sigterm_at = stop_with_grace(
        fault_redis,
        worker_pool,
        make_producer,
        ledger,
        tq_prefix,
        long=2,
        lease=TWIN_LEASE,
        command=wrapper("broken_worker.py"),
        env={"FAULTS_BREAK": "no-release"},
    )
    assert drain.done  # at-least-once still holds...
    assert [h.outcome for h in back] == ["lost"] * 2
    restarted = [h.next_started_ms / 1000 - sigterm_at for h in back]
    assert min(restarted) >= TWIN_LEASE * 2 / 3  # ...but only once the leases expired


def test_r3_sigterm_then_sigkill_loses_nothing(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    lease = pick(3.0, 5.0)
    pool = worker_pool(3, lease=lease, args=["--grace", "30"])
    producer = make_producer()
    long_ids = load(producer, SHORT, LONG)
    wait_for(lambda: started(ledger, long_ids), 30, "the long tasks to start")
    pool.signal_all(signal.SIGTERM)
    time.sleep(0.5)  # inside the grace
    killed = pool.signal_all(signal.SIGKILL)
    r = fault_redis.client()
    # the lost long tasks are suspects: each runs alone, three at a time (one per worker)
    rounds = LONG // 3 + 1
    drain = wait_drained(
        r, tq_prefix, producer, ledger, timeout=lease + rounds * LONG_MS / 1000 + 30
    )
    report = check(r, tq_prefix, producer, ledger, lease=lease)
    figures(
        "R3-sigterm-sigkill",
        lease_s=lease,
        killed=len(killed),
        lost=len(report.lost),
        extra_completions=report.extra_completions,
    )
    assert drain.done, drain
    report.assert_clean(max_duplicates=len(killed) * 10)


def test_r3_rolling_restart_under_200_per_s(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    pool = worker_pool(3, lease=LEASE, args=["--grace", str(GRACE)])
    producer = make_producer()
    seconds = pick(10, 30)
    total = 200 * seconds

    started_at = time.monotonic()
    producer.start(work, total, lambda i: (random.randint(5, 50),), rate=200, batch=2)
    long_ids = [producer.enqueue(awork, LONG_MS) for _ in range(LONG)]
    time.sleep(1.0)  # the load is flowing
    pool.rolling_restart()
    restarted_in = time.monotonic() - started_at
    producer.join(seconds + 30)
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=LEASE + 60)
    report = check(r, tq_prefix, producer, ledger, lease=LEASE)
    back = [h for h in handovers(report.records) if h.id in long_ids]
    figures(
        "R3-rolling",
        tasks=len(producer.acked),
        rate=200,
        restarted_s=round(restarted_in, 2),
        drain_s=round(drain.at - started_at, 2),
        released=sum(h.outcome == "released" for h in back),
        lost=len(report.lost),
        extra_completions=report.extra_completions,
    )
    assert drain.done, drain
    assert pool.restarts == 3 and {d.returncode for d in pool.deaths} == {0}
    report.assert_clean(max_duplicates=0)
    assert all(h.outcome == "released" for h in back)
