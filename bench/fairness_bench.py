"""Fair share across tenants, measured (docs/flow-control.md#tenants; issue 18's target):
with tenant A holding 100,000 pending tasks, tenant B's 100 tasks wait a median of at
most 2x what they wait on an empty queue.

    .venv/bin/python bench/fairness_bench.py            # 100,000 of A, 100 of B
    .venv/bin/python bench/fairness_bench.py --quick    # 20,000 of A

A private redis-server and `--workers` worker processes (`manage.py runworker`,
bench.settings), every task `bench.work(ms)` (a sleep of `--ms`, 5 ms by default).
First B's 100 tasks alone on the idle workers; then A's backlog in bulk, and B's 100
once it is in (the workers have been draining A meanwhile). A task's wait is its
record's started_at - created_at (both Redis time). Exit status 0 when the ratio of
the medians is at most 2.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.limit_tasks import work
from bench.limits_bench import ROOT, enqueue, load, machine, revision, use_redis, workers
from taskqueue.embedded_redis import RedisProcess, free_port
from tests.support.waits import wait_for

QUEUE = "fair"
TARGET = 2.0


def waits_ms(broker, ids: list[str]) -> list[float]:
    records = [broker.get(QUEUE, i) for i in ids]
    return [(r.started_at - r.created_at).total_seconds() * 1000 for r in records]


def run_b(broker, ms: float, n: int = 100) -> list[str]:
    ids = enqueue([work.using(queue=QUEUE, tenant="b").prepare(ms) for _ in range(n)])
    wait_for(lambda: all(broker.get(QUEUE, i).started_at for i in ids), 120, "B's tasks")
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--ms", type=float, default=5.0, help="each task's work, ms")
    parser.add_argument("--quick", action="store_true", help="a backlog of 20,000")
    parser.add_argument("--prefetch", type=int, help="the workers' --prefetch (default theirs)")
    args = parser.parse_args()
    backlog = 20_000 if args.quick else args.backlog
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        url = redis.url
        broker = use_redis(url)
        broker.register_queues([QUEUE])
        extra = () if args.prefetch is None else ("--prefetch", str(args.prefetch))
        with workers(broker, url, QUEUE, args.workers, ROOT, extra):
            empty = statistics.median(waits_ms(broker, run_b(broker, args.ms)))
            started = time.monotonic()
            enqueue([work.using(queue=QUEUE, tenant="a").prepare(args.ms) for _ in range(backlog)])
            pending = broker.counts(QUEUE).pending
            flooded = statistics.median(waits_ms(broker, run_b(broker, args.ms)))
            took = time.monotonic() - started
    ratio = flooded / empty
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {revision()}; {machine()}")
    prefetch = "their default" if args.prefetch is None else args.prefetch
    print(f"{args.workers} worker processes (prefetch {prefetch}), tasks of {args.ms:g} ms, ")
    print(f"load {load()}")
    print("| B's 100 tasks | median wait | A pending when B arrived |")
    print("|---|---:|---:|")
    print(f"| on an empty queue | {empty:.1f} ms | 0 |")
    print(f"| behind A's {backlog:,} | {flooded:.1f} ms | {pending:,} |")
    verdict = "met" if ratio <= TARGET else "missed"
    print(f"ratio {ratio:.2f}x (target <= {TARGET:g}x): {verdict}; the run took {took:.0f} s")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
