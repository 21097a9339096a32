"""What checking a call's arguments against its task's signature and type hints costs
per enqueue (issue 21; docs/tasks.md#typed-arguments, docs/PERFORMANCE.md).

    .venv/bin/python bench/validation_bench.py [--tasks 1000] [--rounds 21] [--batch 500]

Against one private redis-server (a free loopback port, no persistence, started and
stopped here), for three tasks:

- `small`: `(n: int, name: str, ratio: float = 1.0)`, called `(7, "x", ratio=0.5)`;
- `rich`: a dataclass, a list[str], a datetime, a Literal and a dict[str, int];
- `untyped`: the same three parameters without annotations (only the binding is checked).

Each row enqueues `--tasks` tasks one `.enqueue()` at a time (a round trip each) and
`--tasks` in `enqueue_many` batches of `--batch`, with TASKQUEUE["VALIDATE_PAYLOADS"]
on and off, back to back in each of `--rounds` rounds (the medians are kept, and the
median of the rounds' differences), and times the check alone (`Payload.check`, no
I/O). Nothing runs the tasks: no worker is started.
"""

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from taskqueue import client, conf, enqueue_many, task  # noqa: E402
from taskqueue.embedded_redis import RedisProcess, free_port  # noqa: E402
from taskqueue.payloads import payload_of  # noqa: E402


@dataclasses.dataclass
class User:
    email: str
    name: str = ""


@task(name="bench.validation.small")
def small(n: int, name: str, ratio: float = 1.0) -> None:
    pass


@task(name="bench.validation.rich")
def rich(
    user: User,
    tags: list[str],
    when: datetime,
    kind: Literal["a", "b"] = "a",
    counts: dict[str, int] | None = None,
) -> None:
    pass


@task(name="bench.validation.untyped")
def untyped(n, name, ratio=1.0) -> None:
    pass


CALLS = {
    "small": (small, (7, "x"), {"ratio": 0.5}),
    "rich": (
        rich,
        ({"email": "a@example.com", "name": "A"}, ["x", "y", "z"]),
        {"when": "2030-01-01T12:00:00Z", "kind": "b", "counts": {"a": 1, "b": 2}},
    ),
    "untyped": (untyped, (7, "x"), {"ratio": 0.5}),
}


def use(url: str, validate: bool) -> None:
    settings.TASKQUEUE = {**settings.TASKQUEUE, "REDIS_URL": url, "VALIDATE_PAYLOADS": validate}
    conf.reset_config()
    client.reset()


def one_by_one(call, n: int) -> float:
    t, args, kwargs = call
    started = time.perf_counter()
    for _ in range(n):
        t.enqueue(*args, **kwargs)
    return (time.perf_counter() - started) / n


def batched(call, n: int, batch: int) -> float:
    t, args, kwargs = call
    started = time.perf_counter()
    for _ in range(n // batch):
        enqueue_many([t.prepare(*args, **kwargs) for _ in range(batch)])
    return (time.perf_counter() - started) / (n // batch * batch)


def check_alone(call, n: int) -> float:
    t, args, kwargs = call
    payload = payload_of(t)
    started = time.perf_counter()
    for _ in range(n):
        payload.check(args, kwargs)
    return (time.perf_counter() - started) / n


def row(name: str, url: str, args) -> dict:
    """Medians over the rounds, in µs per task: on, off, and the paired difference of
    each round (on and off run back to back, in turns first: the machine's load drifts
    less within a round than across the run)."""
    call = CALLS[name]
    times: dict[str, list[float]] = {k: [] for k in ("on1", "off1", "onN", "offN", "check")}
    use(url, True)
    one_by_one(call, 100)  # warm up: the task's checker is built at its first call
    for i in range(args.rounds):
        for validate in (True, False) if i % 2 else (False, True):
            use(url, validate)
            key = "on" if validate else "off"
            times[f"{key}1"].append(one_by_one(call, args.tasks))
            times[f"{key}N"].append(batched(call, args.tasks, args.batch))
        times["check"].append(check_alone(call, args.tasks * 4))
    out = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    for kind in ("1", "N"):
        pairs = zip(times[f"on{kind}"], times[f"off{kind}"], strict=True)
        out[f"d{kind}"] = statistics.median(on - off for on, off in pairs) * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    print(
        f"{args.tasks} tasks per run, median of {args.rounds} rounds, µs per task "
        f"(+: the median of each round's on - off); load {os.getloadavg()[0]:.2f}\n"
    )
    header = (
        f"{'task':8} {'check alone':>11} {'enqueue on':>11} {'off':>7} {'+':>6} "
        f"{'batched on':>11} {'off':>7} {'+':>6}"
    )
    print(header)
    with (
        tempfile.TemporaryDirectory() as data,
        RedisProcess(Path(data), port=free_port(), persistent=False) as redis,
    ):
        for name in CALLS:
            r = row(name, redis.url, args)
            print(
                f"{name:8} {r['check']:11.1f} {r['on1']:11.1f} {r['off1']:7.1f} "
                f"{r['d1']:+6.1f} {r['onN']:11.1f} {r['offN']:7.1f} {r['dN']:+6.1f}",
                flush=True,
            )
        client.reset()


if __name__ == "__main__":
    main()
