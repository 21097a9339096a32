"""Fair share across tenants, measured (docs/flow-control.md#tenants; issue 18's target):
with tenant A holding 100,000 pending tasks, tenant B's 100 tasks wait a median of at
most 2x what they wait on an empty queue.

    .venv/bin/python bench/fairness_bench.py            # 100,000 of A, 100 of B
    .venv/bin/python bench/fairness_bench.py --quick    # 20,000 of A

A private redis-server and `--workers` worker processes (`manage.py runworker`,
bench.settings), every task `bench.work(ms)` (a sleep of `--ms`, 5 ms by default).
First B's 100 tasks alone on the idle workers; then A's backlog in bulk, and B's 100
once it is in (the workers have been draining A meanwhile); each B batch `--rounds`
times, one after the other, and the median taken over all of B's tasks in each case
(Redis's clock counts whole milliseconds). A task's wait is its
record's created_at (Redis's clock) to the first line of its body (the body records
time.time(); the same machine): what a user waits for, including the time a claimed
task spends in a worker's buffer (prefetch). Exit status 0 when the ratio of the
medians is at most 2.
"""

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.limit_tasks import work
from bench.limits_bench import ROOT, enqueue, load, machine, revision, use_redis, workers
from taskqueue.client import connect
from taskqueue.embedded_redis import RedisProcess, free_port
from tests.support.waits import wait_for

QUEUE = "fair"
TARGET = 2.0


def waits_ms(broker, client, batch: list[tuple[str, str]]) -> list[float]:
    """From each task's creation (its record, Redis's clock) to its body's first line
    (time.time() in the worker, on the same machine)."""
    began = client.hgetall("bench:started")
    out = []
    for task_id, tag in batch:
        created = broker.get(QUEUE, task_id).created_at.timestamp()
        out.append((float(began[tag]) - created) * 1000)
    return out


def run_b(client, ms: float, n: int = 100) -> list[tuple[str, str]]:
    """B's n tasks, enqueued at once; (id, tag) of each once every body has begun."""
    tags = [uuid.uuid4().hex for _ in range(n)]
    ids = enqueue([work.using(queue=QUEUE, tenant="b").prepare(ms, tag) for tag in tags])
    wait_for(lambda: all(client.hmget("bench:started", tags)), 120, "B's tasks")
    return list(zip(ids, tags, strict=True))


def median_wait(broker, client, ms: float, rounds: int) -> float:
    waits = []
    for _ in range(rounds):
        waits += waits_ms(broker, client, run_b(client, ms))
    return statistics.median(waits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--ms", type=float, default=5.0, help="each task's work, ms")
    parser.add_argument("--quick", action="store_true", help="a backlog of 20,000")
    parser.add_argument("--prefetch", type=int, help="the workers' --prefetch (default theirs)")
    parser.add_argument("--rounds", type=int, default=5, help="B's batches in each case")
    args = parser.parse_args()
    backlog = 20_000 if args.quick else args.backlog
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        url = redis.url
        broker = use_redis(url)
        client = connect(url)
        broker.register_queues([QUEUE])
        extra = () if args.prefetch is None else ("--prefetch", str(args.prefetch))
        with workers(broker, url, QUEUE, args.workers, ROOT, extra):
            empty = median_wait(broker, client, args.ms, args.rounds)
            started = time.monotonic()
            enqueue([work.using(queue=QUEUE, tenant="a").prepare(args.ms) for _ in range(backlog)])
            pending = broker.counts(QUEUE).pending
            flooded = median_wait(broker, client, args.ms, args.rounds)
            left = broker.counts(QUEUE).pending
            took = time.monotonic() - started
    ratio = flooded / empty
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {revision()}; {machine()}")
    prefetch = "their default" if args.prefetch is None else args.prefetch
    print(f"{args.workers} worker processes (prefetch {prefetch}), tasks of {args.ms:g} ms,")
    print(f"B's 100 tasks {args.rounds} times in each case; A still had {left:,} pending after")
    print(f"load {load()}")
    print("| B's tasks | median wait | A pending when B first arrived |")
    print("|---|---:|---:|")
    print(f"| on an empty queue | {empty:.1f} ms | 0 |")
    print(f"| behind A's {backlog:,} | {flooded:.1f} ms | {pending:,} |")
    verdict = "met" if ratio <= TARGET else "missed"
    print(f"ratio {ratio:.2f}x (target <= {TARGET:g}x): {verdict}; the run took {took:.0f} s")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
