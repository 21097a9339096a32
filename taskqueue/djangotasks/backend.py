"""RedisTaskBackend: django.tasks on taskqueue's Redis queue, run by `runworker`.

    TASKS = {
        "default": {
            "BACKEND": "taskqueue.backends.RedisTaskBackend",
            "QUEUES": ["default"],                  # Django's default
            "OPTIONS": {"MAX_RETRIES": 3, "TIMEOUT": 300},  # defaults for its tasks
        }
    }

OPTIONS["TENANT"] makes every task sent through the backend that tenant's (fair share
within its queue, docs/flow-control.md#tenants): one backend alias per tenant, e.g.
`report.using(backend="acme").enqueue()`.

Declaring a task (Django calls validate_task then) registers, under the task's
module_path, the native task the worker runs (execution.py): tasks must therefore live
in an installed app's `tasks.py` (or a module listed in TASKQUEUE['IMPORTS']), which
taskqueue imports at start-up in every process.
"""

from dataclasses import replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.tasks import Task, TaskResult
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django.utils.json import normalize_json

from .. import options as check
from .. import tracing
from ..client import get_broker
from ..definition import EnqueueOptions, TaskOptions, build_task
from ..errors import DuplicateTaskName, TaskDoesNotExist, TaskNotFound, ValidationError
from ..inspect import get_task
from ..payloads import check_call, sealed
from ..priority import level_of_django, native_of_django
from ..records import NewTask, TaskRecord
from ..registry import registry
from .checks import problems
from .execution import DjangoTaskAdapter
from .results import meta_of, task_of, to_result
from .task import DEFAULT, OPTION_NAMES, RedisTask, validate_options


class RedisTaskBackend(BaseTaskBackend):
    task_class = RedisTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict):
        super().__init__(alias, params)
        self.raw_queues = params.get("QUEUES", list(self.queues))

    def validate_task(self, task: Task) -> None:
        """Django's checks, ours (queue name, run_after, options), then registration."""
        super().validate_task(task)
        try:
            check.validate_queue_name(task.queue_name, field="queue_name")
            if task.run_after is not None:
                check.eta_ms(_aware(task.run_after), timezone.now(), field="run_after")
            validate_options(task)
            registry.register(adapter(task))
        except (ValidationError, DuplicateTaskName) as exc:
            raise InvalidTask(str(exc)) from None

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        new = self.prepare(task, normalize_json(list(args)), normalize_json(dict(kwargs)))
        if tracing.enabled:  # off: this one test (docs/observability.md)
            tracing.send([new], get_broker().enqueue)
        else:
            get_broker().enqueue([new])
        record = get_broker().get(new.queue, new.id)
        if record is None:  # expired or deleted in the meantime
            raise TaskResultDoesNotExist(new.id)
        result = to_result(record, task)
        task_enqueued.send(type(self), task_result=result)
        return result

    def prepare(self, task: Task, args: list, kwargs: dict) -> NewTask:
        """Our task for one call: TypeError/ValueError (SerializationError, PayloadTooLarge)
        when JSON cannot carry the arguments, as Django's contract has it."""
        options = EnqueueOptions(
            queue=task.queue_name,
            priority=native_of_django(task.priority),
            level=level_of_django(task.priority),
            eta=None if task.run_after is None else _aware(task.run_after),
            max_retries=self._option(task, "max_retries", "MAX_RETRIES"),
            meta=meta_of(task, self.alias),
            tenant=self.options.get("TENANT"),
        )
        timeout = self._option(task, "timeout", "TIMEOUT", unset=DEFAULT)
        if timeout is not DEFAULT:
            options = replace(options, timeout=timeout)
        native = registry.get(task.module_path)
        new = build_task(native, args, kwargs, options)
        checked = check_call(native, args, kwargs)  # PayloadInvalid, a ValueError (Django's)
        return sealed(native, new, checked)

    def _option(self, task: Task, name: str, setting: str, unset: Any = None) -> Any:
        value = getattr(task, name, DEFAULT)
        return self.options.get(setting, unset) if value is DEFAULT else value

    def get_result(self, result_id: str) -> TaskResult:
        try:
            record = get_task(result_id)
        except TaskDoesNotExist:
            raise TaskResultDoesNotExist(result_id) from None
        return to_result(record, self.task_of(record))

    def task_of(self, record: TaskRecord) -> Task:
        try:
            native = registry.get(record.name)
        except TaskNotFound:
            raise TaskResultDoesNotExist(
                f"{record.id}: its task {record.name!r} is not registered in this process."
            ) from None
        return task_of(record, native, self.alias)

    def check(self, **kwargs) -> list:
        return problems(self.alias, self.raw_queues, self.options)


def adapter(task: Task) -> DjangoTaskAdapter:
    """The native task the worker runs for a Django task, with its per-task options."""
    declared = {name: getattr(task, name, DEFAULT) for name in OPTION_NAMES}
    options = {name: value for name, value in declared.items() if value is not DEFAULT}
    return DjangoTaskAdapter(task, TaskOptions(**options))


def _aware(value: datetime) -> datetime:
    """run_after as an aware datetime (with USE_TZ = False Django allows naive ones)."""
    if timezone.is_aware(value) or settings.USE_TZ:
        return value
    return timezone.make_aware(value)
