"""taskqueue: a Redis-backed distributed task queue for Django.

from taskqueue import task

@task(queue="emails", priority=8, max_retries=3)
def send_email(to, subject): ...

handle = send_email.enqueue("a@example.com", "Hi")
handle.result(timeout=10)
"""

from .context import TaskContext, current_task
from .definition import Task, enqueue_many, task
from .errors import (
    BrokerUnavailable,
    InvalidPriority,
    InvalidQueueName,
    InvalidTransition,
    PayloadTooLarge,
    QueueDoesNotExist,
    ResultTimeout,
    Retry,
    SerializationError,
    TaskCancelled,
    TaskDoesNotExist,
    TaskFailed,
    TaskNotFound,
    TaskQueueError,
    TaskTimeout,
    ValidationError,
)
from .handle import TaskHandle
from .inspect import get_task
from .producer import enqueue
from .status import Status

__all__ = [
    "BrokerUnavailable",
    "InvalidPriority",
    "InvalidQueueName",
    "InvalidTransition",
    "PayloadTooLarge",
    "QueueDoesNotExist",
    "ResultTimeout",
    "Retry",
    "SerializationError",
    "Status",
    "Task",
    "TaskCancelled",
    "TaskContext",
    "TaskDoesNotExist",
    "TaskFailed",
    "TaskHandle",
    "TaskNotFound",
    "TaskQueueError",
    "TaskTimeout",
    "ValidationError",
    "current_task",
    "enqueue",
    "enqueue_many",
    "get_task",
    "task",
]
