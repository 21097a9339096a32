"""TaskHandle: what enqueue returns - the task's id, and a way to wait for its result."""

from typing import Any

from .client import get_broker
from .encryption import result_value
from .errors import ResultTimeout, TaskCancelled, TaskDoesNotExist, TaskFailed
from .records import TaskRecord
from .status import Status


class TaskHandle:
    def __init__(self, task_id: str, queue: str, created: bool = True):
        self.id = task_id
        self.queue = queue
        self.created = created  # False when an idempotency key matched an existing task

    def __repr__(self) -> str:
        return f"<TaskHandle {self.id} queue={self.queue}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def record(self) -> TaskRecord:
        record = get_broker().get(self.queue, self.id)
        if record is None:
            raise TaskDoesNotExist(self.id)
        return record

    @property
    def status(self) -> Status | str:
        return self.record().status

    def wait(self, timeout: float | None = None) -> TaskRecord:
        """Block until the task is completed, dead or cancelled; ResultTimeout if not in time."""
        record = get_broker().wait_finished(self.queue, self.id, timeout)
        if record is None:
            raise ResultTimeout(f"task {self.id} did not finish within {timeout} s")
        return record

    def result(self, timeout: float | None = None) -> Any:
        """Wait, then return the task's return value; TaskFailed / TaskCancelled otherwise
        (ConfigurationError for an encrypted result this process has no key for)."""
        record = self.wait(timeout)
        if record.status == Status.COMPLETED:
            return result_value(record.result)  # decrypted: @task(encrypt_result=True)
        if record.status == Status.CANCELLED:
            raise TaskCancelled(f"task {self.id} was cancelled")
        raise TaskFailed(self.id, record.error_type, record.error_message, record.traceback)
