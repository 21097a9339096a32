"""Task bodies of helper hyg's fault scenarios (tests/faults/test_untrusted_contents.py,
test_r10..r13). The ledger-writing ones record start and end like fault_tasks.py.

Backoffs are read from the environment of the worker processes (a test sets them for
its pool), so one body serves the CI and the full size:
  TASKQUEUE_HYG_BACKOFF       retry_once: the fixed backoff, seconds (no jitter)
  TASKQUEUE_HYG_BACKOFF_BASE  always_fail_jitter: the base of the exponential backoff
"""

import os

from taskqueue import current_task, task

from .fault_tasks import _end, _start, failing_first_run

__all__ = ["add", "always_fail_jitter", "fails_on_first_attempt", "retry_once"]

BACKOFF_S = float(os.environ.get("TASKQUEUE_HYG_BACKOFF", "15"))
BACKOFF_BASE_S = float(os.environ.get("TASKQUEUE_HYG_BACKOFF_BASE", "1"))


@task(max_retries=0)
def add(a, b):
    """a + b: ["1", 2] makes a TypeError (wrong argument types in a record)."""
    return a + b


@task(max_retries=1, retry_backoff=BACKOFF_S, retry_backoff_max=BACKOFF_S, retry_jitter=False)
def retry_once(ms: float = 0) -> str:
    """Fails its first run; the retry comes exactly BACKOFF_S later (no jitter)."""
    return failing_first_run(ms, "retry_once")


@task(max_retries=4, retry_backoff=BACKOFF_BASE_S)
def always_fail_jitter() -> None:
    """Fails every time: 4 retries with the documented backoff (exponential, full
    jitter, RETRY_BACKOFF_MAX cap), then the dead-letter queue."""
    me = _start()
    _end(me, False)
    raise ValueError(f"always_fail_jitter: attempt {current_task().attempt} fails")


@task(max_retries=0)
def fails_on_first_attempt() -> str:
    """Dead after its first attempt (no retries); runs to its end once requeued."""
    me = _start()
    if current_task().attempt == 1:
        _end(me, False)
        raise RuntimeError("fails_on_first_attempt: the first attempt fails")
    _end(me, True)
    return "ok"
