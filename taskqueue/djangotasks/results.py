"""A task record, read as a django.tasks TaskResult (and the Task it belongs to).

| our status           | TaskResultStatus |
|----------------------|------------------|
| pending, scheduled   | READY (scheduled: waiting for run_after, or a retry's backoff) |
| processing           | RUNNING          |
| completed            | SUCCESSFUL       |
| dead, cancelled      | FAILED           |

One attempt of our record's history is one worker id; each failed attempt's error
({"type", "message", "traceback"}) is one TaskError.
"""

from dataclasses import MISSING, fields
from datetime import datetime
from typing import Any

from django.tasks import Task, TaskResult, TaskResultStatus, task_backends
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, TaskError

from ..definition import Task as NativeTask
from ..priority import DEFAULT_PRIORITY, django_of_native
from ..records import TaskRecord
from ..status import Status
from .task import RedisTask

META_KEY = "django"  # the record's meta: {"django": {"priority", "backend", "run_after"}}
STATUSES = {
    Status.PENDING: TaskResultStatus.READY,
    Status.SCHEDULED: TaskResultStatus.READY,
    Status.PROCESSING: TaskResultStatus.RUNNING,
    Status.COMPLETED: TaskResultStatus.SUCCESSFUL,
    Status.DEAD: TaskResultStatus.FAILED,
    Status.CANCELLED: TaskResultStatus.FAILED,
}
FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
# Our error types are `module.Qualname`, or a bare name for builtins and these:
INTERNAL_ERRORS = {"InvalidTaskRecord": "taskqueue.worker.runner.InvalidTaskRecord"}


def meta_of(task: Task, alias: str) -> dict:
    """What a Django task's record keeps of it beyond our fields."""
    django: dict[str, Any] = {"priority": int(task.priority), "backend": alias}
    if task.run_after is not None:
        django["run_after"] = task.run_after.isoformat()
    return {META_KEY: django}


def to_result(record: TaskRecord, task: Task) -> TaskResult:
    status = STATUSES.get(record.status, TaskResultStatus.READY)
    history = record.history
    result = TaskResult(
        task=task,
        id=record.id,
        status=status,
        enqueued_at=record.created_at,
        started_at=history[0].started_at if history else None,
        last_attempted_at=history[-1].started_at if history else None,
        finished_at=record.finished_at if status in FINISHED else None,
        args=record.args if isinstance(record.args, list) else [],
        kwargs=record.kwargs if isinstance(record.kwargs, dict) else {},
        backend=task.backend,
        errors=[task_error(a.error) for a in history if isinstance(a.error, dict)],
        worker_ids=[a.worker for a in history],
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", record.result)
    return result


def task_error(error: dict) -> TaskError:
    return TaskError(
        exception_class_path=class_path(str(error.get("type") or "Exception")),
        traceback=str(error.get("traceback") or ""),
    )


def class_path(error_type: str) -> str:
    """The dotted path Django's TaskError wants (`builtins.ValueError`) of our error type."""
    if "." in error_type:
        return error_type
    return INTERNAL_ERRORS.get(error_type, f"builtins.{error_type}")


def task_of(record: TaskRecord, native: NativeTask, default_alias: str) -> Task:
    """The Django Task a record belongs to, as it was enqueued: priority, queue, run_after
    and backend come from the record, the function and options from the registered task.
    A native task is seen as a RedisTask of its function (so a Django task's get_result
    of its id raises TaskResultMismatch)."""
    meta = record.meta.get(META_KEY) if isinstance(record.meta, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    values = {
        "priority": _priority(meta.get("priority"), record.priority),
        "queue_name": record.queue,
        "run_after": _datetime(meta.get("run_after")),
        "backend": _alias(meta.get("backend"), default_alias),
    }
    base = getattr(native, "django_task", None)
    if base is None:
        return unvalidated(RedisTask, func=native.func, **values)
    return unvalidated(
        type(base), **({f.name: getattr(base, f.name) for f in fields(base)} | values)
    )


def unvalidated(cls: type[Task], **values) -> Task:
    """A Task built without Task.__post_init__, which would validate it against today's
    settings (a result must stay readable if QUEUES changed) and register it again."""
    task = object.__new__(cls)
    for f in fields(cls):
        object.__setattr__(task, f.name, values.get(f.name, f.default))
        if getattr(task, f.name) is MISSING:
            raise TypeError(f"{cls.__name__} needs {f.name}")
    return task


def _priority(value: object, native: int | None) -> int:
    if type(value) is int and TASK_MIN_PRIORITY <= value <= TASK_MAX_PRIORITY:
        return value
    return django_of_native(native if type(native) is int else DEFAULT_PRIORITY)


def _datetime(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _alias(value: object, default: str) -> str:
    return value if isinstance(value, str) and value in task_backends.settings else default
