"""Many claimers at once, threads and processes: every task is claimed exactly once."""

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskqueue.client import build_broker
from taskqueue.conf import get_config

from .factories import make_task

N_TASKS = 10_000


def drain(config, worker_id: str, batch: int = 25, barrier=None) -> list[str]:
    """Claim until the queue is empty (run in a thread or a spawned process)."""
    broker = build_broker(config)
    broker.client.ping()
    if barrier is not None:
        barrier.wait(timeout=60)  # start together, whatever each one's start-up took
    claimed = []
    while True:
        got = broker.claim("default", worker_id, batch)
        if not got:
            return claimed
        claimed += [c.id for c in got]


def fill(broker) -> set[str]:
    ids = set()
    for _ in range(N_TASKS // 1000):
        replies = broker.enqueue([make_task() for _ in range(1000)])
        ids.update(task_id for task_id, _ in replies)
    assert len(ids) == N_TASKS
    return ids


def assert_each_claimed_once(broker, ids, per_worker):
    claimed = [task_id for chunk in per_worker for task_id in chunk]
    assert len(claimed) == len(set(claimed)) == N_TASKS
    assert set(claimed) == ids
    assert sum(1 for chunk in per_worker if chunk) > 1, "the claimers really competed"
    counts = broker.counts("default")
    assert (counts.pending, counts.processing) == (0, N_TASKS)


def test_eight_threads_claim_ten_thousand_tasks_each_exactly_once(broker):
    ids = fill(broker)
    config = get_config()
    with ThreadPoolExecutor(8) as pool:
        per_worker = list(pool.map(lambda i: drain(config, f"thread-{i}"), range(8)))
    assert_each_claimed_once(broker, ids, per_worker)


@pytest.mark.slow
def test_four_processes_claim_ten_thousand_tasks_each_exactly_once(broker):
    ids = fill(broker)
    config = get_config()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_drain_into, args=(config, f"proc-{i}", barrier, results))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    per_worker = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert_each_claimed_once(broker, ids, per_worker)


def _drain_into(config, worker_id, barrier, results):
    results.put(drain(config, worker_id, barrier=barrier))
