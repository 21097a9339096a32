"""Where a chord's extra time goes: its first member's start and its members' drain,
against the same number of independent tasks (docs/PERFORMANCE.md, "Where the chord's
time goes").

    .venv/bin/python bench/chord_breakdown.py [--members 9999] [--runs 2]

Each row uses a fresh worker and key prefix on a private redis-server, as
bench/workflow_bench.py does (its helpers). Printed per row, in ms from the enqueue
call: `submit` (the call returned), `first` (the first task started, from the task
records' started_at), `last` (the last member finished), `total` (every task done, polled
every 5 ms) and `drain` (last - first). The chord has one task more, its callback.
"""

import argparse
import tempfile
import time
from pathlib import Path

import workflow_bench as wb

from taskqueue.embedded_redis import RedisProcess, free_port


def member_times(broker, since_ms: float) -> list[tuple[int, int]]:
    """(started_at, finished_at) of every finished task started after `since_ms`."""
    r = broker.client
    keys = r.keys(broker.keys.queue("default").base + "task:*")
    with r.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "started_at", "finished_at")
        rows = pipe.execute()
    return sorted((int(a), int(b)) for a, b in rows if a and b and int(a) >= since_ms)


def row(url: str, kind: str, members: int) -> dict[str, float]:
    with wb.worker(wb.use_prefix(url, members + 1)) as broker:
        before = wb.completed(broker)
        began_ms, began = time.time() * 1000, time.perf_counter()
        wb.chord_of(members) if kind == "chord" else wb.independent(members)
        submitted = (time.perf_counter() - began) * 1000
        expected = members + (kind == "chord")
        done = lambda: wb.completed(broker) >= before + expected  # noqa: E731
        wb.wait_for(done, wb.TIMEOUT_S, "the tasks", every=wb.POLL_S)
        total = (time.perf_counter() - began) * 1000
        times = member_times(broker, began_ms)
        ends = sorted(end for _, end in times)
        last = ends[-2] if kind == "chord" else ends[-1]  # the callback ends last
        first = times[0][0] - began_ms
        return {
            "submit": submitted,
            "first": first,
            "last": last - began_ms,
            "total": total,
            "drain": last - began_ms - first,
        }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=9_999)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        for _ in range(args.runs):
            for kind in ("independent", "chord"):
                figures = row(redis.url, kind, args.members)
                cells = "  ".join(f"{k} {v:6.0f}" for k, v in figures.items())
                print(f"{kind:12s} {cells}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
