"""Where a chord's extra time goes: its first member's start and its members' drain,
against the same number of independent tasks (docs/PERFORMANCE.md, "Where the chord's
time goes").

    .venv/bin/python bench/chord_breakdown.py [--members 9999] [--runs 2]
    .venv/bin/python bench/chord_breakdown.py --against ../other-checkout [--pairs 8]

Each row uses a fresh worker and key prefix on a private redis-server, as
bench/workflow_bench.py does (its helpers). Printed per row, in ms from the enqueue
call: `submit` (the call returned), `first` (the first task started, from the task
records' started_at), `last` (the last member finished), `total` (every task done, polled
every 5 ms) and `drain` (last - first). The chord has one task more, its callback.

`--against` compares two checkouts (give the other one a `.venv` link to this one's):
each pair runs one row of each in both, in turn (which goes first alternates), and the
medians of what the chord adds are printed per checkout. On a noisy VM one run of each
proves nothing: two identical trees measured so differed by 7 % in their medians.
"""

import argparse
import statistics
import subprocess
import sys
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


def one_run(checkout: Path, members: int) -> dict[str, dict[str, float]]:
    """One run of each row in a checkout (its own bench, in its own process)."""
    argv = [sys.executable, "bench/chord_breakdown.py", "--runs", "1", "--members", str(members)]
    out = subprocess.run(argv, cwd=checkout, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        kind, *cells = line.split()
        if kind in ("independent", "chord"):
            rows[kind] = dict(zip(cells[::2], map(float, cells[1::2]), strict=True))
    return rows


def compare(other: Path, pairs: int, members: int) -> None:
    """Medians over `pairs` interleaved runs of this checkout and `other`."""
    trees = {"this": wb.ROOT, "other": other.resolve()}
    added: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    for i in range(pairs):
        for name in list(trees)[:: 1 if i % 2 == 0 else -1]:
            rows = one_run(trees[name], members)
            chord, alone = rows["chord"], rows["independent"]
            figures = {
                "total_pct": 100 * (chord["total"] / alone["total"] - 1),
                "drain_pct": 100 * (chord["drain"] / alone["drain"] - 1),
                "first_ms": chord["first"] - alone["first"],
                "chord_ms": chord["total"],
                "alone_ms": alone["total"],
            }
            for key, value in figures.items():
                added[name].setdefault(key, []).append(value)
            cells = "  ".join(f"{k} {v:6.0f}" for k, v in figures.items())
            print(f"{name:5s} {cells}", flush=True)
    for name, figures in added.items():
        cells = "  ".join(f"{k} {statistics.median(v):6.0f}" for k, v in figures.items())
        print(f"median {name:5s} {cells}  ({trees[name]})")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=9_999)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    if args.against:
        compare(args.against, args.pairs, args.members)
        return 0
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
