"""A task the console's progress-and-cancel browser test runs in a real `runworker`
(tests/console/test_progress_and_static_browser.py); the worker imports this module
through TASKQUEUE["IMPORTS"]."""

import time

from taskqueue import current_task, task
from tests.taskapp.tasks import note

STEP_S = 0.2  # between two progress reports


@task
def reports_steps(tag: str, steps: int = 150) -> int:
    """Report {"step": n} every STEP_S (up to 30 s), noting `<tag>:<n>:<time>` after each
    report; checks for a cancel every 10 ms."""
    ctx = current_task()
    for step in range(1, steps + 1):
        ctx.report_progress({"step": step})
        note(f"{tag}:{step}:{time.time()}")
        deadline = time.monotonic() + STEP_S
        while time.monotonic() < deadline:
            ctx.raise_if_cancelled()
            time.sleep(0.01)
    return steps
