"""API enqueue benchmark: throughput and latency of POST /api/v1/tasks under load.

    .venv/bin/python bench/api_bench.py [--clients 16] [--requests 4000] [--rate 200]

Starts its own Redis, a migrated SQLite database with a token, and daphne serving
config.asgi (tests/api/live.py), then has N client threads, each on its own keep-alive
connection, enqueue demo.tasks.fast as fast as the server answers. No worker runs:
this measures the enqueue path only. Everything it starts is stopped at the end.
"""

import argparse
import json
import os
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
    stack: LiveStack,
    count: int,
    latencies: list[float],
    errors: list[int],
    interval: float = 0.0,
    read: str = "",
) -> None:
    """`count` enqueues, back to back, or one every `interval` seconds (open loop:
    latency is measured from the scheduled send time, so a slow server cannot hide
    its queueing by slowing the clients down). With `read` (a task id): `GET` that task
    instead, the same authenticated request path and one Redis read, no write."""
    conn = stack.connection()
    headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
    start = time.perf_counter() + interval * random.random()
    for i in range(count):
        due = start + i * interval
        if interval:
            time.sleep(max(0.0, due - time.perf_counter()))
        body = json.dumps({"task": "demo.tasks.fast", "args": [i]})
        started = due if interval else time.perf_counter()
        if read:
            conn.request("GET", f"/api/v1/tasks/{read}", headers=headers)
        else:
            conn.request("POST", "/api/v1/tasks", body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != (200 if read else 201):
            errors.append(response.status)
        elif not read:
            created[0] = json.loads(answer)["id"]
    conn.close()


created = [""]  # the id of a task the warm-up made (what --read fetches)


def run(stack: LiveStack, clients: int, requests: int, rate: float = 0.0, read=False) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    per_client = requests // clients
    interval = clients / rate if rate else 0.0
    threads = [
        threading.Thread(
            target=client,
            args=(stack, per_client, latencies, errors, interval, created[0] if read else ""),
        )
        for _ in range(clients)
    ]
    cpu_before = process_cpu(stack.daphne.pid)
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    server_cpu = process_cpu(stack.daphne.pid) - cpu_before
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "request": "GET /api/v1/tasks/{id}" if read else "POST /api/v1/tasks",
        "clients": clients,
        "target_rate_rps": rate or None,
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        # the web process's own CPU (user + system) per request: one core / this is the
        # most one web process could answer if the clients ran elsewhere
        "server_cpu_ms_per_request": round(server_cpu * 1000 / len(latencies), 2),
    }


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) a process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    parser.add_argument(
        "--read",
        action="store_true",
        help="GET one task instead of enqueueing: the web stack's own cost, for comparison",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tq-bench-") as workdir:
        stack = LiveStack(Path(workdir)).start()
        try:
            run(stack, args.clients, args.warmup)  # connections, imports, SQLite pages
            result = run(stack, args.clients, args.requests, args.rate, args.read)
        finally:
            stack.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
