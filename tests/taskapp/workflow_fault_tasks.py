"""The task body of the workflow fault scenario (tests/faults/test_r14_workflows.py).

`wf_step` is one workflow node. Its last two arguments are its own: `label`, the test's
name for the node, and `ms`, how long it works; whatever comes before them is what the
engine put in front (its parents' results). It returns its label, so a child's
arguments show exactly which parents' results it was given, in which order.

It writes start and end records to the ledger (tests/faults/ledger.py) with the label
as the record's name, so the checker can tell when each node started and finished
however its worker ended. Without TASKQUEUE_LEDGER_DIR it writes nothing.
"""

import time

from taskqueue import current_task, task
from tests.faults import ledger

__all__ = ["wf_step"]


@task(max_retries=3, retry_backoff=0.05, retry_backoff_max=0.2)
def wf_step(*args) -> str:
    """(*parents' results, label, ms) -> label, after `ms` milliseconds of work."""
    label, ms = args[-2], args[-1]
    ctx = current_task()
    ledger.write("start", ctx.id, ctx.attempt, label)
    time.sleep(ms / 1000)
    ledger.write("end", ctx.id, ctx.attempt, label, ok=True)
    return label
