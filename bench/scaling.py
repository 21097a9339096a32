"""Scaling figure: drain rate with 1, 2 and 4 worker processes, on one Redis and on a
3-master Redis Cluster (one queue, and the same queue sharded over 3 sub-queues).

    .venv/bin/python bench/scaling.py [--n 3000] [--workers 1,2,4] [--root DIR]

For each row: the queue is paused, N no-op tasks (tests.taskapp.tasks.echo) are
enqueued, the worker processes (`manage.py runworker`, concurrency 10 each) start and
register, then the queue is resumed and the clock runs until every task is completed.
Everything it starts is private (free loopback ports) and stopped at the end. --root
runs the workers of another checkout (e.g. main, to compare the single-node path
before and after a change).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from taskqueue import client, conf, enqueue_many  # noqa: E402
from taskqueue.embedded_redis import RedisProcess, free_port  # noqa: E402
from tests.taskapp.tasks import echo  # noqa: E402
from tests.topologies import LocalCluster, wait_for  # noqa: E402


def drain(url: str, shards: int, workers: int, n: int, root: Path) -> float:
    """Tasks per second for `workers` processes draining n tasks."""
    prefix = f"b{uuid.uuid4().hex[:8]}"
    shard_map = {"default": shards} if shards > 1 else {}
    settings.TASKQUEUE = {"REDIS_URL": url, "PREFIX": prefix, "SHARDS": shard_map}
    conf.reset_config()
    client.reset()
    broker = client.get_broker()
    broker.set_paused("default", True)
    for start in range(0, n, 500):
        enqueue_many([echo.prepare(i) for i in range(start, min(n, start + 500))])
    env = os.environ | {
        "REDIS_URL": url,
        "TASKQUEUE_PREFIX": prefix,
        "TASKQUEUE_SHARDS": str(shard_map).replace("'", '"'),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    argv = [sys.executable, "manage.py", "runworker", "--log-level", "WARNING"]
    procs = [subprocess.Popen(argv, cwd=root, env=env) for _ in range(workers)]
    wait_for(lambda: len(broker.workers()) == workers, 60, "the workers to register")
    started = time.monotonic()
    broker.set_paused("default", False)
    wait_for(lambda: broker.counts("default").completed == n, 300, "the drain")
    took = time.monotonic() - started
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(60)
    return n / took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--only", choices=["single", "cluster"], default=None)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as data:
        rows = []
        if args.only in (None, "single"):
            with RedisProcess(Path(data) / "one", port=free_port(), persistent=False) as one:
                rows.append(
                    ("one Redis", [drain(one.url, 1, w, args.n, args.root) for w in counts])
                )
        if args.only in (None, "cluster"):
            cluster = LocalCluster(Path(data) / "cluster", masters=3).start()
            try:
                for label, shards in (("cluster, one queue", 1), ("cluster, 3 shards", 3)):
                    rates = [drain(cluster.url, shards, w, args.n, args.root) for w in counts]
                    rows.append((label, rates))
            finally:
                cluster.stop()
    print(
        f"\n| drain, {args.n} no-op tasks | " + " | ".join(f"{w} worker(s)" for w in counts) + " |"
    )
    print("|---|" + "---:|" * len(counts))
    for label, rates in rows:
        print(f"| {label} | " + " | ".join(f"{r:,.0f} tasks/s" for r in rates) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
