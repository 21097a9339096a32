"""API enqueue benchmark: throughput and latency of POST /api/v1/tasks under load.

    .venv/bin/python bench/api_bench.py [--clients 16] [--requests 4000] [--rate 200]

Starts its own Redis, a migrated SQLite database with a token, and daphne serving
config.asgi (tests/api/live.py), then has N client threads, each on its own keep-alive
connection, enqueue demo.tasks.fast as fast as the server answers. No worker runs:
this measures the enqueue path only. Everything it starts is stopped at the end.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.live import LiveStack  # noqa: E402


def client(
    stack: LiveStack, count: int, latencies: list[float], errors: list[int], interval: float = 0.0
) -> None:
    """`count` enqueues, back to back, or one every `interval` seconds (open loop:
    latency is measured from the scheduled send time, so a slow server cannot hide
    its queueing by slowing the clients down)."""
    conn = stack.connection()
    headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
    start = time.perf_counter() + interval * random.random()
    for i in range(count):
        due = start + i * interval
        if interval:
            time.sleep(max(0.0, due - time.perf_counter()))
        body = json.dumps({"task": "demo.tasks.fast", "args": [i]})
        started = due if interval else time.perf_counter()
        conn.request("POST", "/api/v1/tasks", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 201:
            errors.append(response.status)
    conn.close()


def run(stack: LiveStack, clients: int, requests: int, rate: float = 0.0) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    per_client = requests // clients
    interval = clients / rate if rate else 0.0
    threads = [
        threading.Thread(target=client, args=(stack, per_client, latencies, errors, interval))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "clients": clients,
        "target_rate_rps": rate or None,
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000, help="in total, over all clients")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests per second in total, open loop (default: as fast as possible)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tq-bench-") as workdir:
        stack = LiveStack(Path(workdir)).start()
        try:
            run(stack, args.clients, args.warmup)  # connections, imports, SQLite pages
            result = run(stack, args.clients, args.requests, args.rate)
        finally:
            stack.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
