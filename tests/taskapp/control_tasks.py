"""Tasks the worker-control tests run in real worker processes
(tests/worker/test_worker_control.py, the console's tests); the workers import this
module through TASKQUEUE["IMPORTS"]."""

import time

from taskqueue import current_task, task
from tests.taskapp.tasks import _evidence, note

STEP_S = 1.2  # between two progress reports: longer than the flush's 0.5 s


@task
def counts_up(steps: int) -> int:
    """Report progress `steps` times, STEP_S apart, noting when each was recorded."""
    ctx = current_task()
    for step in range(1, steps + 1):
        ctx.report_progress({"step": step, "of": steps})
        note(f"progress:{step}:{time.time()}")
        _checkpoints(STEP_S)
    return steps


@task
def spins(tag: str) -> str:
    """Checks for a cancel every 10 ms, reports no progress, for up to a minute."""
    note(f"start:{tag}")
    _checkpoints(60.0)
    return "ran to the end"


@task
def runs_until_released(tag: str) -> str:
    """Runs until the test sets `<prefix>:release:<tag>`."""
    note(f"start:{tag}")
    client, evidence = _evidence()
    deadline = time.monotonic() + 60
    while not client.exists(f"{evidence.rsplit(':', 1)[0]}:release:{tag}"):
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.02)
    note(f"end:{tag}")
    return tag


def _checkpoints(seconds: float) -> None:
    ctx, deadline = current_task(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        ctx.raise_if_cancelled()
        time.sleep(0.01)
