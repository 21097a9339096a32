"""WorkflowHandle: what submitting a workflow returns - its id, a handle per task, and
ways to wait for its results and see where it stands."""

import time
from collections import Counter
from typing import Any

from ..client import get_broker
from ..errors import ResultTimeout, WorkflowCompleted, WorkflowDoesNotExist
from ..handle import TaskHandle
from ..records import WorkflowInfo

MAX_ID = 64


def valid_workflow_id(workflow_id: object) -> str:
    """The id, or WorkflowDoesNotExist when it cannot name a workflow."""
    if (
        not isinstance(workflow_id, str)
        or not 0 < len(workflow_id) <= MAX_ID
        or not all(c.isalnum() or c == "-" for c in workflow_id)
    ):
        raise WorkflowDoesNotExist(str(workflow_id)[:MAX_ID])
    return workflow_id


def workflow_info(workflow_id: str) -> WorkflowInfo:
    """A workflow's summary; WorkflowDoesNotExist if there is none."""
    info = get_broker().workflow_info(valid_workflow_id(workflow_id))
    if info is None:
        raise WorkflowDoesNotExist(workflow_id)
    return info


def cancel_workflow(workflow_id: str) -> tuple[str, int]:
    """Cancel a workflow (not audited: services.cancel_workflow is the operators' way):
    (its status before, tasks cancelled now). WorkflowDoesNotExist, WorkflowCompleted."""
    workflow_info(workflow_id)
    before, cancelled = get_broker().cancel_workflow(workflow_id)
    if before == "missing":
        raise WorkflowDoesNotExist(workflow_id)
    if before == "completed":
        raise WorkflowCompleted(workflow_id)
    return before, cancelled


class WorkflowHandle:
    def __init__(
        self,
        workflow_id: str,
        tasks: dict[str, TaskHandle],
        outputs: list[str],
        kind: str = "workflow",
        created: bool = True,
    ):
        self.id = workflow_id
        self.tasks = tasks  # node key -> its task's handle
        self.outputs = outputs  # the nodes whose results are the workflow's
        self.kind = kind
        self.created = created  # False: an idempotency key named an existing workflow

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.id} {self.kind} of {len(self.tasks)} tasks>"

    def __getitem__(self, key: str) -> TaskHandle:
        return self.tasks[key]

    def info(self) -> WorkflowInfo:
        return workflow_info(self.id)

    @property
    def status(self) -> str:
        return self.info().status

    def results(self, timeout: float | None = None) -> list[Any]:
        """The results of its last tasks (a group's members, in order), once all are
        done; TaskFailed / TaskCancelled for the first that did not complete."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out = []
        for key in self.outputs:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise ResultTimeout(f"workflow {self.id} did not finish within {timeout} s")
            out.append(self.tasks[key].result(timeout=left))
        return out

    def result(self, timeout: float | None = None) -> Any:
        """The result of its last task (a chain's, a chord's callback's); a list when
        it ends in several tasks (a group)."""
        results = self.results(timeout)
        return results[0] if len(self.outputs) == 1 and self.kind != "group" else results

    def counts(self) -> Counter:
        """Its tasks by status: Counter({'completed': 3, 'waiting': 2, ...})."""
        broker = get_broker()
        by_queue: dict[str, list[str]] = {}
        for handle in self.tasks.values():
            by_queue.setdefault(handle.queue, []).append(handle.id)
        counts: Counter = Counter()
        for queue, ids in by_queue.items():
            for summary in broker.summaries(queue, ids):
                counts[summary.status if summary else "missing"] += 1
        return counts

    def cancel(self) -> int:
        """Cancel what has not run (a running task is asked to stop): how many. Not
        audited; operators cancel through services.cancel_workflow."""
        return cancel_workflow(self.id)[1]
