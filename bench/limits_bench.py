"""Flow-control benchmark: how closely a rate limit holds with several workers claiming
at once (issue 18's target: the completed rate within ±2 % of the limit, and no 1 s
window with more than limit + burst starts).

    .venv/bin/python bench/limits_bench.py [--seconds 60] [--rate 200] [--workers 4]
                                           [--burst 1] [--scopes queue,task] [--quick]
                                           [--root DIR]

Two rows, each on its own queue of one private redis-server (a free loopback port, no
persistence, started and stopped here):

- queue scope: the queue's own limit (`broker.set_limit(queue, rate=...)`), and a
  backlog of `bench.limited` tasks only;
- task scope: the limit of one task name (`broker.set_limit(queue, "bench.limited",
  rate=...)`) in a queue where `bench.unlimited` tasks flow beside it as fast as the
  workers take them (a feeder keeps at least FLOOR tasks pending); their throughput is
  reported.

The limit is `--rate`/s with `--burst` (default 1), set at run time (the operator's
limit: the claim reads it exactly as a declared one). The queue is paused, the limit
set, `--workers` worker processes started (`manage.py runworker --queues <queue>`, each
its own process at its defaults, concurrency 10; DJANGO_SETTINGS_MODULE bench.settings)
and registered, the backlog enqueued in bulk (rate x (WARMUP_S + seconds) x MARGIN
tasks: it never runs dry), then the queue is resumed. The rate is measured over `--seconds` from
WARMUP_S after the resume. Every `bench.limited` body records its start time
(bench/limit_tasks.py); the 1 s windows slide over every start of the run and over the
claim times in the tasks' records (`started_at`, Redis time: what the limiter itself
spaces out, and the verdict: a body starts a little after its claim, in the worker's
pool, so starts may bunch by one now and then). --root runs the workers of another
checkout (with this benchmark's bench/limit_tasks.py and bench/settings.py), e.g. to
try a change to the claim before and after. Exit status 0 when every row met the
target. The workers' output goes to $TMPDIR/taskqueue-limits-bench-workers.log.
"""

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from bench.limit_tasks import limited, unlimited  # noqa: E402
from taskqueue import client, conf, enqueue_many  # noqa: E402
from taskqueue.embedded_redis import RedisProcess, free_port  # noqa: E402
from taskqueue.limits import Rate  # noqa: E402
from tests.support.waits import wait_for  # noqa: E402

WARMUP_S = 2.0  # after the resume, not in the measured rate (still in the windows)
MARGIN = 1.25  # the backlog: this many times what the limit lets start in the run
TOLERANCE = 0.02  # the target: the rate within ±2 % of the limit
WINDOW_S = 1.0
CHUNK = 1000  # tasks per enqueue_many call
FLOOR = 10_000  # unlimited tasks kept pending beside a task-scope limit
WORKER_LOG = Path(tempfile.gettempdir()) / "taskqueue-limits-bench-workers.log"


@dataclass
class Row:
    scope: str
    rate: Rate
    seconds: float
    backlog: int
    starts: list[float] = field(default_factory=list)  # body start times, s
    claims: list[float] = field(default_factory=list)  # records' started_at, s
    window: tuple[float, float] = (0.0, 0.0)  # the measured interval
    other_rate: float | None = None  # unlimited tasks/s beside a task-scope limit
    load: str = ""

    @property
    def configured(self) -> float:
        return self.rate.per_second

    @property
    def ceiling(self) -> int:
        """Starts allowed in any 1 s window: the limit plus its burst."""
        return math.floor(self.configured * WINDOW_S) + self.rate.burst

    @property
    def measured(self) -> float:
        t0, t1 = self.window
        return sum(t0 <= t < t1 for t in self.starts) / (t1 - t0)

    @property
    def error(self) -> float:
        return self.measured / self.configured - 1

    @property
    def ran_dry(self) -> bool:
        return sum(t < self.window[1] for t in self.starts) >= self.backlog

    @property
    def met(self) -> bool:
        # the claims are what the limiter spaces out; a body starts a little after its
        # claim, in the worker's pool, so starts may bunch by a task now and then
        fits = max_in_window(self.claims or self.starts) <= self.ceiling
        return abs(self.error) <= TOLERANCE and fits and not self.ran_dry


def max_in_window(times: list[float]) -> int:
    """The most times in any half-open window [t, t + WINDOW_S) (a window starting at
    one of them holds the most)."""
    times, best, j = sorted(times), 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + WINDOW_S:
            j += 1
        best = max(best, j - i)
    return best


def use_redis(url: str):
    settings.TASKQUEUE = {**settings.TASKQUEUE, "REDIS_URL": url}
    conf.reset_config()
    client.reset()
    return client.get_broker()


@contextmanager
def workers(broker, url: str, queue: str, n: int, root: Path, extra: tuple = ()):
    """n `manage.py runworker --queues <queue> *extra` processes of the checkout at
    root, registered."""
    argv = [sys.executable, "manage.py", "runworker", "--queues", queue, "--log-level", "WARNING"]
    argv += list(extra)
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "bench.settings", "BENCH_REDIS_URL": url}
    with open(WORKER_LOG, "ab") as log:
        procs = [
            subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=log) for _ in range(n)
        ]
    try:
        wait_for(lambda: registered(broker, queue, procs) >= n, 60, "the workers to register")
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def registered(broker, queue: str, procs: list) -> int:
    if any(proc.poll() is not None for proc in procs):
        sys.exit(f"a worker exited at start: see {WORKER_LOG}")
    return sum(queue in w.queues for w in broker.workers())


def enqueue_backlog(queue: str, key: str, n: int, others: int) -> list[str]:
    """n limited tasks, the first `others` of them each followed by an unlimited one
    (the line the claim sees is mixed); the limited tasks' ids."""
    mine, theirs = limited.using(queue=queue), unlimited.using(queue=queue)
    prepared = []
    for i in range(n):
        prepared.append(mine.prepare(key))
        if i < others:
            prepared.append(theirs.prepare())
    ids = enqueue(prepared)
    return [task_id for i, task_id in enumerate(ids) if prepared[i].name == limited.name]


def enqueue(prepared) -> list[str]:
    ids = []
    for first in range(0, len(prepared), CHUNK):
        ids += [h.id for h in enqueue_many(prepared[first : first + CHUNK])]
    return ids


class Feeder(threading.Thread):
    """Keeps at least FLOOR tasks pending in the queue: unlimited ones, in bulk."""

    def __init__(self, broker, queue: str):
        super().__init__(daemon=True)
        self.broker, self.queue, self.done = broker, queue, threading.Event()

    def run(self) -> None:
        caller = unlimited.using(queue=self.queue)
        while not self.done.is_set():
            if self.broker.counts(self.queue).pending < FLOOR:
                enqueue([caller.prepare() for _ in range(CHUNK * 5)])
            else:
                self.done.wait(0.05)


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def run_row(broker, url: str, args, scope_kind: str) -> Row:
    queue = f"limits-{scope_kind}"
    rate = Rate(args.rate, 1000, args.burst)
    task = None if scope_kind == "queue" else limited.name  # None: the queue's own limit
    backlog = math.ceil(args.rate * (WARMUP_S + args.seconds) * MARGIN)
    row = Row("queue" if task is None else f"task {task}", rate, args.seconds, backlog)
    key = f"bench:limits-bench:{queue}:starts"
    broker.set_paused(queue, True)
    broker.set_limit(queue, task, rate=rate)
    others = FLOOR if scope_kind == "task" else 0
    feeder = Feeder(broker, queue) if others else None
    with workers(broker, url, queue, args.workers, args.root):
        ids = enqueue_backlog(queue, key, backlog, others)
        broker.set_paused(queue, False)
        if feeder:
            feeder.start()
        t0 = time.time() + WARMUP_S
        row.window = (t0, t0 + args.seconds)
        sleep_until(t0)
        before = broker.counts(queue).completed
        sleep_until(t0 + args.seconds)
        after = broker.counts(queue).completed
        row.load = load()
        if feeder:
            feeder.done.set()
            feeder.join()
    row.starts = [float(t) for t in client.connect(url).lrange(key, 0, -1)]
    row.claims = claim_times(broker, queue, ids)
    if scope_kind == "task":
        mine = sum(t0 <= t < t0 + args.seconds for t in row.starts)
        row.other_rate = (after - before - mine) / args.seconds
    return row


def claim_times(broker, queue: str, ids: list[str]) -> list[float]:
    """When each task that started was claimed (its record's started_at)."""
    out = []
    for first in range(0, len(ids), CHUNK):
        for record in broker.records(queue, ids[first : first + CHUNK], shown=None):
            if record is not None and record.started_at is not None:
                out.append(record.started_at.timestamp())
    return out


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{platform.node()}, {os.cpu_count()} cores{', ' + model if model else ''}"


def revision() -> str:
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "taskqueue"], capture_output=True)
    return head.stdout.strip() + (" + uncommitted engine changes" if dirty.stdout else "")


def table(rows: list[Row]) -> str:
    lines = [
        "| scope | configured | measured rate | error | max in any 1 s (starts / claims)"
        " | limit + burst | verdict | beside it | load at the end |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        beside = "-" if r.other_rate is None else f"unlimited tasks: {r.other_rate:,.0f}/s"
        verdict = "met" if r.met else "missed" + (" (ran dry)" if r.ran_dry else "")
        lines.append(
            f"| {r.scope} | {r.configured:g}/s, burst {r.rate.burst} | {r.measured:.1f}/s"
            f" | {r.error * 100:+.2f} % | {max_in_window(r.starts)} / {max_in_window(r.claims)}"
            f" | {r.ceiling} | {verdict} | {beside} | {r.load} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=200, help="tasks per second")
    parser.add_argument("--burst", type=int, default=1, help="the limit's burst")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--root", type=Path, default=ROOT, help="whose workers run")
    parser.add_argument("--scopes", default="queue,task", help="the rows to run: queue, task")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --seconds 10")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 10.0
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    WORKER_LOG.write_bytes(b"")
    rows = []
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        broker = use_redis(redis.url)
        for scope_kind in args.scopes.split(","):
            print(f"{scope_kind} scope: {args.seconds:g} s (load {load()})", flush=True)
            rows.append(run_row(broker, redis.url, args, scope_kind))
        client.reset()
    print(f"\n{started}, commit {revision()}; {machine()}")
    if args.root != ROOT:
        print(f"workers from {args.root}")
    print(
        f"{args.workers} worker processes (runworker --queues <queue>, concurrency 10 each), "
        f"{args.seconds:g} s measured per row after {WARMUP_S:g} s of warm-up"
    )
    print(table(rows))
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
