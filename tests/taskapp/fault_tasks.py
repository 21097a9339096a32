"""Task bodies of the fault-injection suite (tests/faults/): each appends start and end
records to the ledger (tests/faults/ledger.py) of the worker process running it, so the
oracle can count what really ran, however the process ended.

Without TASKQUEUE_LEDGER_DIR in the environment they run without writing anything.
"""

import asyncio
import os
import signal
import time

from taskqueue import current_task, task
from tests.faults import ledger

__all__ = ["always_fail", "awork", "fail_first", "suicide", "work"]

TICK_S = 1.0  # long bodies write a 'tick' record this often (shows the process was alive)


def _start() -> tuple[str, int, str]:
    ctx = current_task()
    ledger.write("start", ctx.id, ctx.attempt, ctx.name.rpartition(".")[2])
    return ctx.id, ctx.attempt, ctx.name.rpartition(".")[2]


def _end(me: tuple[str, int, str], ok: bool) -> None:
    ledger.write("end", me[0], me[1], me[2], ok=ok)


@task(max_retries=3, retry_backoff=0.05, retry_backoff_max=0.2)
def work(ms: float, tag: str = "") -> str:
    """Sleep `ms` milliseconds between a start and an end record."""
    me = _start()
    end = time.monotonic() + ms / 1000
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, TICK_S))
        if end - time.monotonic() > 0:
            ledger.write("tick", me[0], me[1], me[2])
    _end(me, True)
    return tag


@task(max_retries=3, retry_backoff=0.05, retry_backoff_max=0.2)
async def awork(ms: float, tag: str = "") -> str:
    """work(), as an async def body on the worker's event loop."""
    me = _start()
    end = time.monotonic() + ms / 1000
    while (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(left, TICK_S))
        if end - time.monotonic() > 0:
            ledger.write("tick", me[0], me[1], me[2])
    _end(me, True)
    return tag


@task(max_retries=3)
def suicide() -> None:
    """A poison task: SIGKILLs the worker process running it, after its start record."""
    _start()
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # never reached: the signal is synchronous for our own pid


@task(max_retries=3, retry_backoff=0.05, retry_backoff_max=0.2)
def fail_first(ms: float = 0) -> str:
    """Raises the first time it runs to its end (failures == 0), then works."""
    return failing_first_run(ms, "fail_first")


def failing_first_run(ms: float, name: str) -> str:
    """A body that fails the first time it runs to its end, then works (ledgered)."""
    me = _start()
    time.sleep(ms / 1000)
    if current_task().failures == 0:
        _end(me, False)
        raise RuntimeError(f"{name}: the first run fails")
    _end(me, True)
    return "ok"


@task(max_retries=3, retry_backoff=0.05, retry_backoff_max=0.2)
def always_fail(ms: float = 0) -> None:
    """Raises every time; ends in the DLQ after max_retries (per task or .using())."""
    me = _start()
    time.sleep(ms / 1000)
    _end(me, False)
    raise RuntimeError("always_fail: fails every time")
