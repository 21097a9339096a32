"""Workflow benchmark: what a dependency costs. A chord of 10,000 members and a chain of
1,000 steps, each against the same number of independent tasks, and beside Celery's
chord and chain on the same private Redis.

    .venv/bin/python bench/workflow_bench.py [--members 10000] [--steps 1000] [--runs 3]
                                             [--celery-pool prefork] [--celery-concurrency N]
                                             [--no-celery]

Every row starts one worker (`manage.py runworker`, its defaults: one process,
concurrency 10; tests.taskapp.tasks.echo, which returns its argument), waits for it to
register and run a warm-up task, then the clock runs from the first enqueue call until
the last task (the callback, the last step) has completed, polled every 5 ms. Celery's
rows come from bench/celery_canvas.py, run with the peer harness's Celery venv
(~/.cache/bench-peers/venv; skipped, with how to create it, when it is absent). The
redis-server is private (a free loopback port, no persistence), started and stopped here.
The workers' output goes to $TMPDIR/taskqueue-workflow-bench-workers.log.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from taskqueue import client, conf, enqueue_many  # noqa: E402
from taskqueue.embedded_redis import RedisProcess, free_port  # noqa: E402
from taskqueue.workflows import chain, chord, group  # noqa: E402
from tests.support.waits import wait_for  # noqa: E402
from tests.taskapp.tasks import echo  # noqa: E402

CELERY_PYTHON = Path("~/.cache/bench-peers/venv/bin/python").expanduser()
HARNESS = Path(os.environ.get("BENCH_PEERS_DIR", ROOT.parent / "shared" / "bench-peers"))
CHUNK = 1000  # tasks per enqueue_many call (the chunk a workflow's tasks are created in)
POLL_S = 0.005
TIMEOUT_S = 600
WORKER_LOG = Path(tempfile.gettempdir()) / "taskqueue-workflow-bench-workers.log"
ROWS = ("members", "chord", "steps", "chain", "one_by_one")


def use_prefix(url: str, max_nodes: int) -> dict:
    """Point this process at a fresh key prefix; the environment its worker needs."""
    prefix = f"wf{uuid.uuid4().hex[:8]}"
    extra = {"WORKFLOW_MAX_NODES": max_nodes}
    settings.TASKQUEUE = {"REDIS_URL": url, "PREFIX": prefix, **extra}
    conf.reset_config()
    client.reset()
    return {"REDIS_URL": url, "TASKQUEUE_PREFIX": prefix, "TASKQUEUE_EXTRA": json.dumps(extra)}


@contextmanager
def worker(env: dict):
    """One `manage.py runworker` at its defaults, registered and warmed up."""
    argv = [sys.executable, "manage.py", "runworker", "--log-level", "WARNING"]
    env = os.environ | env | {"DJANGO_SETTINGS_MODULE": "tests.settings"}
    with open(WORKER_LOG, "ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        broker = client.get_broker()
        wait_for(lambda: broker.workers(), 60, "the worker to register")
        echo.enqueue("warm-up").result(timeout=60)
        yield broker
    finally:
        proc.terminate()
        proc.wait(60)


def completed(broker) -> int:
    return broker.counts("default").completed


def timed(broker, expected: int, start) -> float:
    """Seconds from calling `start` until `expected` more tasks have completed."""
    before = completed(broker)
    began = time.perf_counter()
    start()
    wait_for(lambda: completed(broker) >= before + expected, TIMEOUT_S, "the tasks", every=POLL_S)
    return time.perf_counter() - began


def independent(n: int) -> None:
    for first in range(0, n, CHUNK):
        enqueue_many([echo.prepare(i) for i in range(first, min(n, first + CHUNK))])


def one_by_one(n: int) -> None:
    """What a chain replaces: the client enqueues each task when the last completed."""
    value = 0
    for _ in range(n):
        value = echo.enqueue(value).result(timeout=60)


def ours(url: str, members: int, steps: int) -> dict[str, float]:
    """One run of our rows, each with a fresh prefix and a fresh worker."""
    handles = {}
    starts = {
        "members": (members, lambda: independent(members)),
        "chord": (members + 1, lambda: handles.update(chord=chord_of(members))),
        "steps": (steps, lambda: independent(steps)),
        "chain": (steps, lambda: handles.update(chain=chain_of(steps))),
        "one_by_one": (steps, lambda: one_by_one(steps)),
    }
    out = {}
    for row, (expected, start) in starts.items():
        with worker(use_prefix(url, max(members + 1, steps))) as broker:
            out[row] = timed(broker, expected, start)
            check(row, handles.get(row), members)
    return out


def chord_of(n: int):
    return chord(group(echo.s(i) for i in range(n)), echo.s()).enqueue()


def chain_of(n: int):
    return chain(echo.s(0), *(echo.s() for _ in range(n - 1))).enqueue()


def check(row: str, handle, members: int) -> None:
    """The workflows gave the right answer (a wrong one would make the timing moot)."""
    if row == "chord":
        assert handle.result(timeout=60) == list(range(members)), "chord: wrong results"
    elif row == "chain":
        assert handle.result(timeout=60) == 0, "chain: wrong result"


def celery(url: str, args) -> dict[str, float] | None:
    if not CELERY_PYTHON.exists():
        print(
            f"\nCelery rows skipped: no harness venv at {CELERY_PYTHON}. Create it as "
            f"{HARNESS / 'README.md'} says (python3.11 -m venv ~/.cache/bench-peers/venv; "
            "~/.cache/bench-peers/venv/bin/pip install 'celery[redis]' redis hiredis psutil)."
        )
        return None
    argv = [str(CELERY_PYTHON), str(ROOT / "bench" / "celery_canvas.py"), "--redis-url", url]
    argv += ["--members", str(args.members), "--steps", str(args.steps)]
    argv += ["--pool", args.celery_pool]
    if args.celery_concurrency:
        argv += ["--concurrency", str(args.celery_concurrency)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"celery_canvas.py failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args) -> list[tuple[dict, dict | None]]:
    results = []
    WORKER_LOG.write_bytes(b"")
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs} (load {load()})", flush=True)
            mine = ours(redis.url, args.members, args.steps)
            theirs = None if args.no_celery else celery(redis.url, args)
            print("  taskqueue", fmt(mine), "\n  celery   ", fmt(theirs), flush=True)
            results.append((mine, theirs))
    return results


def revision() -> str:
    """The commit measured, and the engine's files changed since (if any)."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "taskqueue"], capture_output=True)
    changed = [line[3:] for line in dirty.stdout.decode().splitlines()]
    return head.stdout.strip() + (f" + uncommitted {', '.join(changed)}" if changed else "")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt(row: dict | None) -> str:
    if not row:
        return "-"
    return ", ".join(f"{k} {v:.2f} s" for k, v in row.items() if k in ROWS)


class Summary:
    """Medians over the runs; a ratio is the median of each run's own ratio (rows of
    one run ran minutes apart at most, under the same load)."""

    def __init__(self, results: list, members: int, steps: int):
        self.runs = [(mine, theirs) for mine, theirs in results]
        self.members, self.steps = members, steps
        self.celery = all(theirs for _, theirs in self.runs)

    def cell(self, side: int, row: str, base: str = "", per: int = 0) -> str:
        if side and not self.celery:
            return "-"
        values = [run[side][row] for run in self.runs]
        text = f"{statistics.median(values):.2f} s"
        if len(values) > 1:
            text += f" ({min(values):.2f}-{max(values):.2f})"
        if per:
            text += f", {statistics.median(values) / per * 1000:.2f} ms/step"
        if base:
            extra = [run[side][row] / run[side][base] - 1 for run in self.runs]
            text += f", {statistics.median(extra) * 100:+.0f} % vs independent"
        return text

    def ratio(self, row: str) -> str:
        if not self.celery:
            return "-"
        return f"{statistics.median(t[row] / m[row] for m, t in self.runs):.1f}x"

    def table(self) -> str:
        n, m = f"{self.members:,}", f"{self.steps:,}"
        rows = [
            (f"{n} independent tasks", "members", "", 0),
            (f"chord of {n} + callback", "chord", "members", 0),
            (f"{m} independent tasks", "steps", "", 0),
            (f"chain of {m} steps", "chain", "steps", self.steps),
            (
                f"{m} tasks one by one (the client enqueues each when the last completed)",
                "one_by_one",
                "",
                self.steps,
            ),
        ]
        lines = ["| row | taskqueue | Celery | Celery ÷ taskqueue |", "|---|---:|---:|---:|"]
        for label, row, base, per in rows:
            ours_, theirs = self.cell(0, row, base, per), self.cell(1, row, base, per)
            lines.append(f"| {label} | {ours_} | {theirs} | {self.ratio(row)} |")
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--celery-pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--celery-concurrency", type=int, default=None)
    parser.add_argument("--no-celery", action="store_true")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results = run(args)
    summary = Summary(results, args.members, args.steps)
    print(f"\n{started}, commit {revision()}, median (min-max) of {len(results)} run(s)")
    print(f"load average at the end: {load()}")
    if summary.celery:
        theirs = results[0][1]
        print(f"{theirs['celery_version']}; worker: {theirs['worker']}")
    print(summary.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
