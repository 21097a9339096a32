"""Celery's side of the workflow benchmark (bench/workflow_bench.py runs it): a chord of
N members, a chain of M steps and the same numbers of independent tasks, on the given
private Redis as broker (db 0) and result backend (db 1, which a chord needs).

    ~/.cache/bench-peers/venv/bin/python bench/celery_canvas.py --redis-url URL
        [--members 10000] [--steps 1000] [--pool prefork] [--concurrency N]

Run with the peer harness's Celery venv (../shared/bench-peers/README.md), never the
project's. Each row starts one `celery worker` (`-l WARNING`, the pool given, its
default concurrency unless told: as the harness's `celery[default]`), waits for a
warm-up task, then times from the first enqueue call until the last task's result is
stored. It FLUSHALLs that Redis between rows. The last line it prints is JSON: seconds
per row, the versions and the worker's command line.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import celery
import kombu
import redis
from celery import Celery, chain, chord

HERE = Path(__file__).resolve().parent
POLL_S = 0.005
TIMEOUT_S = 600

app = Celery("celery_canvas")
app.conf.broker_connection_retry_on_startup = True


def configure(url: str) -> None:
    """Broker on the URL's db 0, results on its db 1; the worker reads the same variable."""
    os.environ["CELERY_CANVAS_REDIS"] = url
    server = url.rsplit("/", 1)[0]
    app.conf.update(broker_url=f"{server}/0", result_backend=f"{server}/1")


configure(os.environ.get("CELERY_CANVAS_REDIS", "redis://127.0.0.1:6390/0"))


@app.task(name="bench.echo")
def echo(value):
    return value


@contextmanager
def worker(pool: str, concurrency: int | None):
    argv = [str(Path(sys.executable).parent / "celery"), "-A", "celery_canvas", "worker"]
    argv += ["-l", "WARNING", "-P", pool] + (["-c", str(concurrency)] if concurrency else [])
    env = os.environ | {"PYTHONPATH": str(HERE)}
    proc = subprocess.Popen(argv, cwd=HERE, env=env, stdout=subprocess.DEVNULL)
    try:
        echo.delay("warm-up").get(timeout=60)
        app.backend.client.flushdb()  # db 1: only the timed row's results from here on
        yield " ".join(["celery", *argv[1:]])
    finally:
        proc.terminate()
        proc.wait(60)
        redis.Redis.from_url(app.conf.broker_url).flushall()


def timed(start) -> float:
    began = time.perf_counter()
    start()
    return time.perf_counter() - began


def independent(n: int) -> None:
    """Send n tasks, then wait until n results are stored (db 1 holds nothing else)."""
    with app.producer_or_acquire() as producer:
        for i in range(n):
            echo.apply_async((i,), producer=producer)
    results = app.backend.client
    poll(lambda: results.dbsize() >= n, f"{n} independent tasks")


def run_chord(n: int) -> None:
    callback = chord(echo.s(i) for i in range(n))(echo.s())
    assert stored(callback.id) == list(range(n)), "chord: wrong results"


def run_chain(n: int) -> None:
    last = chain(echo.s(0), *(echo.s() for _ in range(n - 1))).apply_async()
    assert stored(last.id) == 0, "chain: wrong result"


def stored(task_id: str):
    """The task's result once stored, polled like ours. Not `AsyncResult.get()`: on a
    chord's callback it re-checks the whole group on every message it receives, O(n²)
    in the client (docs/PERFORMANCE.md, Workflows), and on a chain's last step every
    earlier step."""
    key = app.backend.get_key_for_task(task_id)
    poll(lambda: app.backend.client.exists(key), f"task {task_id}")
    meta = app.backend.get_task_meta(task_id)
    assert meta["status"] == "SUCCESS", meta
    return meta["result"]


def poll(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not finish within {TIMEOUT_S} s")
        time.sleep(POLL_S)


def one_by_one(n: int) -> None:
    value = 0
    for _ in range(n):
        value = echo.delay(value).get(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args()
    configure(args.redis_url)
    rows = {
        "members": lambda: independent(args.members),
        "chord": lambda: run_chord(args.members),
        "steps": lambda: independent(args.steps),
        "chain": lambda: run_chain(args.steps),
        "one_by_one": lambda: one_by_one(args.steps),
    }
    out = {"celery_version": f"celery {celery.__version__}, kombu {kombu.__version__}"}
    for row, start in rows.items():
        with worker(args.pool, args.concurrency) as command:
            out[row] = timed(start)
            out["worker"] = command
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
