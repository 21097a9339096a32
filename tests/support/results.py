"""django.tasks results in the tests: `finished()` waits for the task on the queue's
event stream (no polling) and refreshes the result."""

from django.tasks import TaskResult

from taskqueue.handle import TaskHandle


def finished(result: TaskResult, timeout: float = 10.0) -> TaskResult:
    """Wait until the task is completed, dead or cancelled, then refresh the result."""
    TaskHandle(result.id, result.task.queue_name).wait(timeout)
    result.refresh()
    return result
