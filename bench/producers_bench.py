"""Enqueue throughput with concurrent producers in one process (docs/PERFORMANCE.md).

    .venv/bin/python bench/producers_bench.py [--n 10000] [--producers 16] [--rounds 3]

A private, non-persistent redis-server on a free port; bench.settings; bench.noop, one
`task.enqueue()` call at a time per producer, no worker running. Three shapes:
  one thread             the single-producer figure, for comparison
  N threads              N threads sharing the process's client (its connection pool)
  N asyncio tasks        N coroutines awaiting sync_to_async(task.enqueue), as an async
                         Django view would (there is no separate async enqueue API)
Each round enqueues --n tasks per shape; the median round is reported.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--producers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from taskqueue.embedded_redis import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", data],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            os.environ["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
            wait_for_redis(port)
            report(measure(args))
        finally:
            server.terminate()
            server.wait()


def wait_for_redis(port: int) -> None:
    deadline = time.monotonic() + 10
    ping = ["redis-cli", "-p", str(port), "ping"]
    while subprocess.run(ping, capture_output=True).returncode:
        if time.monotonic() > deadline:
            raise SystemExit("redis-server did not start")
        time.sleep(0.05)


def measure(args) -> dict[str, list[float]]:
    import django

    django.setup()
    from asgiref.sync import sync_to_async

    from bench.tasks import noop

    n, k = args.n, args.producers
    for _ in range(200):  # connections, scripts loaded
        noop.enqueue(time.time())

    def one_thread() -> None:
        for _ in range(n):
            noop.enqueue(time.time())

    def threads() -> None:
        def work() -> None:
            for _ in range(n // k):
                noop.enqueue(time.time())

        pool = [threading.Thread(target=work) for _ in range(k)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    def coroutines() -> None:
        enqueue = sync_to_async(noop.enqueue, thread_sensitive=False)

        async def work() -> None:
            for _ in range(n // k):
                await enqueue(time.time())

        async def everything() -> None:
            await asyncio.gather(*(work() for _ in range(k)))

        asyncio.run(everything())

    shapes = {"one thread": one_thread, f"{k} threads": threads, f"{k} asyncio tasks": coroutines}
    rates: dict[str, list[float]] = {name: [] for name in shapes}
    for _ in range(args.rounds):
        for name, run in shapes.items():
            started = time.perf_counter()
            run()
            done = n if name == "one thread" else (n // k) * k
            rates[name].append(done / (time.perf_counter() - started))
    return rates


def report(rates: dict[str, list[float]]) -> None:
    print("| producers | enqueues/s (median) | min-max |\n|---|---:|---:|")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f} | "
              f"{min(values):,.0f}-{max(values):,.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
