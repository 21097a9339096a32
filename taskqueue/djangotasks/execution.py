"""What the worker runs for a Django task.

The backend registers, under the Django task's module_path, a native task whose function
wraps the Django task's function: it reads the task's record, sends `task_started`, calls
the function (a TaskContext first when takes_context=True), checks that the return value
is JSON, and sends `task_finished`. Leases, time limits, retries, cancel and the
dead-letter queue are the worker's, as for any task.

`task_finished` carries the status the task has once the worker reports the attempt:
SUCCESSFUL; READY when it will run again (a retry follows, or a lost lease or a shutdown
interrupted it); FAILED when it will not (no retry left, or cancelled).
"""

import asyncio
import functools
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from django.dispatch import Signal
from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json

from ..client import get_broker
from ..conf import get_config
from ..context import TaskContext as WorkerContext
from ..context import current_task
from ..definition import Task as NativeTask
from ..definition import TaskOptions
from ..errors import (
    SerializationError,
    TaskCancelled,
    TaskDoesNotExist,
    TaskQueueError,
    TaskTimeout,
)
from ..serialization import dumps
from ..worker.retry import retry_delay_ms
from ..worker.runner import describe
from .results import FINISHED, class_path, task_of, to_result


class ReturnValueNotJSON(SerializationError, TypeError):
    """A Django task returned what JSON cannot carry. A TypeError, as Django's contract
    has it, and a SerializationError, so the worker never retries it."""


class DjangoTaskAdapter(NativeTask):
    """The native task the worker runs for a django.tasks Task."""

    def __init__(self, django_task: Task, options: TaskOptions):
        self.django_task = django_task
        is_async = iscoroutinefunction(django_task.func)
        run = self._async_runner() if is_async else self._sync_runner()
        super().__init__(run, django_task.module_path, options)
        self.hidden_params = 1 if django_task.takes_context else 0  # payloads.py skips it

    def _sync_runner(self) -> Callable:
        @functools.wraps(self.django_task.func)
        def run(*args, **kwargs):
            attempt = self.start(current_task())
            attempt.send(task_started)
            try:
                value = self.django_task.func(*attempt.call_args(args), **kwargs)
                value = attempt.succeeded(value)
            except BaseException as exc:
                attempt.failed(exc, attempt.interrupted(exc) and attempt.cancel_requested())
                attempt.send(task_finished)
                raise
            attempt.send(task_finished)
            return value

        return run

    def _async_runner(self) -> Callable:
        @functools.wraps(self.django_task.func)
        async def run(*args, **kwargs):
            attempt = await asyncio.to_thread(self.start, current_task())
            await attempt.asend(task_started)
            try:
                value = await self.django_task.func(*attempt.call_args(args), **kwargs)
                value = attempt.succeeded(value)
            except BaseException as exc:
                interrupted = attempt.interrupted(exc)
                attempt.failed(
                    exc, interrupted and await asyncio.to_thread(attempt.cancel_requested)
                )
                await attempt.asend(task_finished)
                raise
            await attempt.asend(task_finished)
            return value

        return run

    def start(self, ctx: WorkerContext | None) -> "Attempt":
        """Read the task's record: the TaskResult this attempt starts from."""
        if ctx is None:
            raise RuntimeError(
                f"{self.name} runs in a taskqueue worker; call the Django task's .call() "
                "to run its function here."
            )
        record = get_broker().get(ctx.queue, ctx.id)
        if record is None:
            raise TaskDoesNotExist(ctx.id)
        return Attempt(
            self, ctx, to_result(record, task_of(record, self, self.django_task.backend))
        )


class Attempt:
    """One run of a Django task in the worker: its TaskResult, kept up to date."""

    def __init__(self, adapter: DjangoTaskAdapter, ctx: WorkerContext, result: TaskResult):
        self.adapter = adapter
        self.ctx = ctx
        self.result = result
        self.sender = type(result.task.get_backend())

    def call_args(self, args: tuple) -> tuple:
        if self.result.task.takes_context:
            return (TaskContext(task_result=self.result), *args)
        return args

    def send(self, signal: Signal) -> None:
        signal.send_robust(self.sender, task_result=self.result)

    async def asend(self, signal: Signal) -> None:
        await signal.asend_robust(self.sender, task_result=self.result)

    def succeeded(self, value: Any) -> Any:
        value = json_value(value, self.adapter.name)
        object.__setattr__(self.result, "_return_value", value)
        self._finish(TaskResultStatus.SUCCESSFUL)
        return value

    def interrupted(self, exc: BaseException) -> bool:
        """Stopped by the worker: a cancel request, a lost lease or a shutdown."""
        return isinstance(exc, (asyncio.CancelledError, TaskCancelled)) and self.ctx.cancelled

    def cancel_requested(self) -> bool:
        try:
            record = get_broker().get(self.ctx.queue, self.ctx.id)
        except TaskQueueError:
            return False
        return record is not None and record.cancel_requested

    def failed(self, exc: BaseException, cancel_requested: bool) -> None:
        if self.interrupted(exc):
            self._finish(TaskResultStatus.FAILED if cancel_requested else TaskResultStatus.READY)
            return
        if isinstance(exc, asyncio.CancelledError):  # the worker's time limit (asyncio.timeout)
            exc = TaskTimeout(f"task {self.ctx.id} went past its time limit")
        kind, _, traceback = describe(exc)
        self.result.errors.append(
            TaskError(exception_class_path=class_path(kind), traceback=traceback)
        )
        self._finish(TaskResultStatus.READY if self.will_retry(exc) else TaskResultStatus.FAILED)

    def will_retry(self, exc: BaseException) -> bool:
        """The worker's decision (taskqueue/worker/runner.py), made the same way."""
        ctx = self.ctx
        if isinstance(exc, SerializationError) or ctx.failures >= ctx.max_retries:
            return False
        return retry_delay_ms(self.adapter, exc, ctx.failures, get_config()) is not None

    def _finish(self, status: TaskResultStatus) -> None:
        object.__setattr__(self.result, "status", status)
        object.__setattr__(
            self.result, "finished_at", timezone.now() if status in FINISHED else None
        )


def json_value(value: Any, name: str) -> Any:
    """A return value as Django normalises it (tuples as lists, bytes as text...), or
    ReturnValueNotJSON if JSON cannot carry it (objects, NaN, lone surrogates...)."""
    try:
        value = normalize_json(value)
        dumps(value, what="the return value")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ReturnValueNotJSON(f"the return value of {name} is not JSON: {exc}") from exc
    return value
