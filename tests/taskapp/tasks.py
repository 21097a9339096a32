"""Tasks the worker tests run (registered in test processes and in the workers they start)."""

import asyncio
import os
import signal
import time

from taskqueue import Retry, current_task, task
from taskqueue.client import connect


def _evidence():
    """A list in the test's Redis namespace where tasks leave a trace of what ran."""
    # the broker's Redis (one, or a cluster), or a Redis of its own for fail-over tests
    client = connect(os.environ.get("TASKQUEUE_EVIDENCE_URL") or os.environ["REDIS_URL"])
    return client, f"{os.environ['TASKQUEUE_PREFIX']}:evidence"


def note(value: str) -> None:
    client, key = _evidence()
    client.rpush(key, value)


@task
def echo(value):
    return value


@task
async def aecho(value):
    await asyncio.sleep(0)
    return value


@task
def record(tag: str) -> str:
    note(tag)
    return tag


@task
def sleep_for(seconds: float, tag: str = "") -> str:
    note(f"start:{tag}:{os.getpid()}")
    time.sleep(seconds)
    note(f"end:{tag}")
    return tag


@task
async def asleep_for(seconds: float, tag: str = "") -> str:
    note(f"start:{tag}:{time.monotonic()}")
    await asyncio.sleep(seconds)
    note(f"end:{tag}:{time.monotonic()}")
    return tag


@task(max_retries=3, retry_backoff=0.2, retry_backoff_max=0.4)
def always_fails(message: str = "boom"):
    note(f"attempt:{current_task().attempt}:{time.time()}")
    raise ValueError(message)


@task(max_retries=2, retry_backoff=0.05)
def fails_once():
    if current_task().attempt == 1:
        raise ConnectionError("first attempt fails")
    return "second time lucky"


@task(max_retries=5, dont_retry_on=(KeyError,))
def not_retried():
    raise KeyError("no point retrying")


@task(max_retries=1)
def asks_for_retry():
    if current_task().attempt == 1:
        raise Retry(countdown=0.05)
    return "retried"


@task(timeout=0.2, max_retries=0)
async def too_slow_async():
    await asyncio.sleep(5)


@task(timeout=0.2, max_retries=0)
def too_slow_cooperative():
    ctx = current_task()
    while True:
        ctx.raise_if_cancelled()
        time.sleep(0.01)


@task
def cooperative(tag: str = ""):
    note(f"start:{tag}")
    ctx = current_task()
    for _ in range(3000):
        ctx.raise_if_cancelled()
        time.sleep(0.01)
    return "ran to the end"


@task
async def cancellable(tag: str = ""):
    note(f"start:{tag}")
    await asyncio.sleep(30)


@task
def reports_progress(n: int):
    ctx = current_task()
    ctx.report_progress({"done": n, "total": n})
    note("progress-reported")
    time.sleep(60)


@task
def returns_object():
    return object()


@task(max_retries=0)
def exits():
    raise SystemExit(3)


@task
def hog_the_gil(seconds: float) -> int:
    note(f"start:hog:{os.getpid()}")
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


@task
def kill_my_worker():
    os.kill(os.getpid(), signal.SIGKILL)


@task
def tick():
    note(f"tick:{current_task().id}")


@task(timeout=0.5, max_retries=0)
def ignores_its_time_limit():
    note(f"start:stubborn:{os.getpid()}")
    time.sleep(60)


_bench_client = []


@task
def rpush_body(t_enq: float) -> None:
    """The peer benchmark's body: one RPUSH (bench/ uses the harness's own)."""
    if not _bench_client:
        _bench_client.append(connect(os.environ["REDIS_URL"]))
    _bench_client[0].rpush("bench:records", f"{t_enq},{time.time()},{time.time()}")


@task
def has_module(name: str) -> bool:
    """Whether this (worker) process has imported `name` (a typed task: it is checked)."""
    import sys

    return name in sys.modules


from . import django_tasks  # noqa: E402, F401 - django.tasks tasks, found with these
from .fault_tasks import *  # noqa: E402, F403 - the fault suite's ledger-writing bodies


@task
def own_queue() -> str:
    return current_task().queue


from . import queue_tasks  # noqa: E402, F401 - a task in a queue no setting names (issue 14)
from .fault_tasks_hyg import *  # noqa: E402, F403 - helper hyg's fault-suite bodies
from .limit_tasks import *  # noqa: E402, F403 - the flow-control tests' bodies
from .workflow_fault_tasks import *  # noqa: E402, F403 - the workflow fault scenario's body
from .workflow_tasks import *  # noqa: E402, F403 - the workflow end-to-end bodies
