"""Where a worker's CPU goes while it drains no-op tasks: py-spy samples of one burst
worker, summed by what the sampled frame is doing (docs/PERFORMANCE.md, "The sync path,
profiled").

    .venv/bin/python bench/profile_worker.py [--n 20000] [--concurrency 1] [--async-body]
                                             [--checkout PATH] [--raw OUT.txt]

A private, non-persistent redis-server on a free port; bench.settings; bench.noop (one
RPUSH, the peers' body) or bench.anoop. `--checkout` profiles another tree (an older
commit unpacked with `git archive`) with this project's interpreter, to compare two
trees on one machine. py-spy (requirements-dev.txt) samples at 250 Hz whichever thread
holds the GIL (`--gil`): Python work, not waits, nor the C calls that release the GIL
(socket syscalls), which `bench/drain_cpu.sh`'s getrusage figure includes.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
RATE = 250  # samples a second
HARNESS = os.environ.get("BENCH_PEERS_DIR", str(HERE.parent / "shared" / "bench-peers"))

# What a sampled stack is doing, by the innermost frame's file (first match wins), and
# for the task body and the worker's own code, by any frame on the stack.
BUCKETS = [
    ("task body (bench/tasks.py and its RPUSH)", ("bench/tasks.py", "adapters/_common.py")),
    ("redis-py client (async, the worker's calls)", ("redis/asyncio/", "redis/_parsers")),
    ("redis-py client (sync)", ("redis/",)),
    ("asyncio event loop", ("asyncio/",)),
    ("selectors / socket", ("selectors.py", "socket.py")),
    ("thread hand-off (threading, queue)", ("threading.py", "queue.py", "worker/threads.py")),
    ("JSON", ("json/",)),
    ("Django (connections, signals)", ("django/",)),
    ("logging", ("logging/",)),
    ("taskqueue worker", ("taskqueue/worker/",)),
    ("taskqueue broker (Python side)", ("taskqueue/broker/",)),
    ("taskqueue, other", ("taskqueue/",)),
]


STARTUP = "start-up (imports, django.setup(), checks)"


def bucket_of(stack: str) -> str:
    frames = stack.split(";")
    leaf = frames[-1] if frames else ""
    if "<frozen importlib._bootstrap" in stack or "django/__init__.py" in stack:
        return STARTUP
    if any(mark in stack for mark in BUCKETS[0][1]):
        return BUCKETS[0][0]
    for name, marks in BUCKETS[1:]:
        if any(mark in leaf for mark in marks):
            return name
    return "other (interpreter, C calls, start-up)"


def summarise(raw: Path) -> Counter:
    counts: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[bucket_of(stack)] += int(n)
    return counts


def redis_server(data: str) -> tuple[subprocess.Popen, int]:
    sys.path.insert(0, str(HERE))
    from taskqueue.embedded_redis import free_port

    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", data],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode:
        if time.monotonic() > deadline:
            raise SystemExit("redis-server did not start")
        time.sleep(0.05)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--async-body", action="store_true")
    parser.add_argument("--checkout", default=str(HERE))
    parser.add_argument("--raw", help="keep py-spy's collapsed stacks in this file")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy not found: make .venv/.dev-deps installs it")
    root = Path(args.checkout).resolve()
    with tempfile.TemporaryDirectory() as data:
        server, port = redis_server(data)
        try:
            env = {**os.environ, "BENCH_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                   "DJANGO_SETTINGS_MODULE": "bench.settings",
                   "PYTHONPATH": os.pathsep.join([HARNESS, str(root)])}  # fmt: skip
            task = "anoop" if args.async_body else "noop"
            fill = (
                "import time, django; django.setup()\n"
                "import taskqueue\n"
                f"from bench.tasks import {task} as t\n"
                f"for _ in range(0, {args.n}, 1000):\n"
                "    taskqueue.enqueue_many([t.prepare(time.time()) for _ in range(1000)])\n"
            )
            subprocess.run([sys.executable, "-c", fill], env=env, cwd=root, check=True)
            raw = Path(args.raw or Path(data) / "stacks.txt")
            worker = [sys.executable, "manage.py", "runworker", "--log-level", "WARNING",
                      "--burst", "--concurrency", str(args.concurrency)]  # fmt: skip
            started = time.monotonic()
            subprocess.run(
                [spy, "record", "--format", "raw", "--rate", str(RATE), "--gil",
                 "--output", str(raw), "--", *worker],
                env=env, cwd=root, check=True, capture_output=True,
            )  # fmt: skip
            took = time.monotonic() - started
        finally:
            server.terminate()
            server.wait()
        counts = summarise(raw)
    startup = counts.pop(STARTUP, 0)
    total = sum(counts.values()) or 1
    per_task = 1e6 / RATE / args.n  # µs of a sample, shared by the tasks
    body = "async" if args.async_body else "sync"
    print(f"{root}: {args.n:,} {body} no-op tasks, --concurrency {args.concurrency}, "
          f"{took:.1f} s under py-spy; {total * per_task:.0f} µs of GIL-holding CPU a task "
          f"(start-up left out: {startup / RATE:.1f} s)")  # fmt: skip
    print("| where | µs a task | share |\n|---|---:|---:|")
    for name, n in counts.most_common():
        print(f"| {name} | {n * per_task:.0f} | {100 * n / total:.0f} % |")


if __name__ == "__main__":
    main()
