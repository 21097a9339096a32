"""R11: LOW low-priority tasks, then HIGH high-priority ones, enqueued while the queue
is paused; on resume, every high one runs before any low one (nothing was in flight:
the queue was paused before the first enqueue), and each priority runs in FIFO order.

Judged twice:
- on Redis's clock, exactly: a claim pops the lowest pending scores atomically, so the
  last high task's claim time (its attempt history `h:1`) is no later than the first low
  one's, and within a priority the claim times follow the enqueue order (`seq`);
- on the ledger (the bodies' start records), where threads and several workers blur the
  order by the tasks claimed ahead of running (workers x (concurrency + prefetch)) plus
  the bodies launched but not yet at their first line (workers x concurrency): WINDOW.
  At most WINDOW low tasks may start before the last high one, and no task may start
  more than WINDOW places away from its FIFO place within its priority.

Broken twin: the producer ignores priorities (every task gets the default band of the
pending score): the checks must report high tasks starting after low ones.
"""

import itertools

import pytest

from taskqueue import services
from taskqueue.audit import Actor
from tests.taskapp.fault_tasks import work

from .oracle import check, history, wait_drained
from .rig import figures
from .sizes import pick

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

LOW = pick(ci=1_000, full=5_000)
HIGH = pick(ci=100, full=500)
WORKERS = 3
CONCURRENCY = 10  # runworker's default; prefetch defaults to the same
WINDOW = WORKERS * (2 * CONCURRENCY + CONCURRENCY)
ACTOR = Actor("r11", "cli")


def run_r11(fault_redis, worker_pool, make_producer, ledger, tq_prefix):
    producer = make_producer()
    services.pause(ACTOR, "default")
    worker_pool(WORKERS)
    low, high = [], []
    for first in range(0, LOW, 500):
        batch = [(work, (1,), {}) for _ in range(first, min(LOW, first + 500))]
        low += producer.enqueue_many(batch, {"priority": 2})
    for first in range(0, HIGH, 500):
        batch = [(work, (1,), {}) for _ in range(first, min(HIGH, first + 500))]
        high += producer.enqueue_many(batch, {"priority": 9})
    assert None not in low + high, producer.summary()
    services.resume(ACTOR, "default")
    r = fault_redis.client()
    drain = wait_drained(r, tq_prefix, producer, ledger, timeout=pick(60, 180))
    report = check(r, tq_prefix, producer, ledger)
    return drain, report, ordering(report, ledger, low, high)


def ordering(report, ledger, low: list[str], high: list[str]) -> dict:
    recs = report.records
    claimed = {i: history(recs[i]).get(1, (None, None))[1] for i in low + high}
    seq = {i: int(recs[i]["seq"]) for i in low + high}
    found = {
        "high_claimed_after_low": sum(1 for i in high if claimed[i] > min(claimed[j] for j in low))
    }
    for name, ids in (("low", low), ("high", high)):
        by_seq = sorted(ids, key=seq.__getitem__)
        found[f"{name}_fifo_claim_inversions"] = sum(
            1 for a, b in itertools.pairwise(by_seq) if claimed[a] > claimed[b]
        )
    starts = {i: runs[0].started for i, runs in ledger.runs().items()}
    order = sorted(low + high, key=starts.__getitem__)
    last_high = max(order.index(i) for i in high)
    found["low_started_before_last_high"] = sum(1 for i in order[:last_high] if i in set(low))
    for name, ids in (("low", low), ("high", high)):
        fifo = {i: n for n, i in enumerate(sorted(ids, key=seq.__getitem__))}
        ran = [i for i in order if i in fifo]
        found[f"{name}_max_displacement"] = max(abs(fifo[i] - n) for n, i in enumerate(ran))
    return found


def test_r11_high_before_low_and_fifo_within_each(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix
):
    drain, report, found = run_r11(fault_redis, worker_pool, make_producer, ledger, tq_prefix)
    assert drain.done, drain
    report.assert_clean()
    assert found["high_claimed_after_low"] == 0, found
    assert found["low_fifo_claim_inversions"] == found["high_fifo_claim_inversions"] == 0, found
    assert found["low_started_before_last_high"] <= WINDOW, found
    assert found["low_max_displacement"] <= WINDOW, found
    assert found["high_max_displacement"] <= WINDOW, found
    figures(
        "R11",
        low=LOW,
        high=HIGH,
        window=WINDOW,
        drain_s=round(drain.seconds, 2),
        lost=len(report.lost),
        duplicates=report.extra_completions,
        **found,
    )


def test_r11_twin_ignored_priorities_are_caught(
    fault_redis, worker_pool, make_producer, ledger, tq_prefix, monkeypatch
):
    monkeypatch.setattr("taskqueue.definition.band_of", lambda level: 100)  # one band for all
    drain, _, found = run_r11(fault_redis, worker_pool, make_producer, ledger, tq_prefix)
    assert drain.done
    assert found["high_claimed_after_low"] == HIGH, found  # caught on Redis's clock
    assert found["low_started_before_last_high"] > WINDOW, found  # and in the ledger
