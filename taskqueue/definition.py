"""Declaring tasks: the @task decorator and the Task it returns.

    @task(queue="emails", priority=8, max_retries=3, timeout=30)
    def send_email(to, subject): ...

    send_email.enqueue("a@example.com", "Hi")                # -> TaskHandle
    send_email.using(delay=60, idempotency_key="k").enqueue(...)
    taskqueue.enqueue_many([send_email.prepare(...), ...])   # one round trip

Calling `send_email(...)` runs the function right here, like calling it undecorated.
Celery's names (`.delay()`, `.apply_async(countdown=...)`, `@task(bind=True,
autoretry_for=...)`) are read by celery_options.py, with a DeprecationWarning.
"""

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from . import encryption, events_hook, tracing, unserved
from . import options as check
from .building import _UNSET, PLAIN, EnqueueOptions, TaskOptions, build_task
from .celery_options import bound, call_arguments, deprecated, enqueue_options, task_options
from .client import get_broker
from .coalesce import coalescer
from .cron import valid_cron
from .errors import ValidationError
from .handle import TaskHandle
from .limits import check_concurrency, parse_rate
from .payloads import check_call, declared_schema, sealed
from .records import NewTask
from .registry import registry
from .workflows.graph import Signature
from .workflows.submit import enqueue_after

__all__ = [
    "EnqueueOptions",
    "Task",
    "TaskCaller",
    "TaskOptions",
    "build_task",
    "enqueue_many",
    "task",
]


class Task:
    def __init__(self, func: Callable, name: str, options: TaskOptions):
        self.func = func
        self.name = name
        self.options = options
        self.is_async = inspect.iscoroutinefunction(func)
        self.path = f"{func.__module__}.{func.__qualname__}"
        self.__doc__ = func.__doc__
        self.__name__ = getattr(func, "__name__", name)
        self.__module__ = func.__module__
        self.validate_payload = True  # @task(validate=False): calls are not checked
        self.hidden_params = 0  # leading parameters the worker fills (Celery's self)
        self.payload_schema = None  # @task(schema={...}): replaces the type hints' check

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args, **kwargs):
        return self.func(*args, **kwargs)

    def using(self, **overrides) -> "TaskCaller":
        return TaskCaller(self, EnqueueOptions(**overrides))

    @functools.cached_property
    def _plain(self) -> "TaskCaller":
        """This task with no option overridden, made once: a caller never changes
        (`using()` makes another), and making one per call cost a 10,000-member
        group's `task.s(i)` 2.3 µs each."""
        return TaskCaller(self, PLAIN)

    def prepare(self, *args, **kwargs) -> NewTask:
        return self._plain.prepare(*args, **kwargs)

    def enqueue(self, *args, **kwargs):
        return self._plain.enqueue(*args, **kwargs)

    def delay(self, *args, **kwargs):
        """Celery's name for enqueue() (docs/migrating.md)."""
        deprecated("delay()", "enqueue()")
        return self.enqueue(*args, **kwargs)

    def apply_async(self, args=None, kwargs=None, **options):
        """Celery's enqueue with options: `.apply_async((1, 2), countdown=60,
        queue="low")` is `.using(delay=60, queue="low").enqueue(1, 2)`. Options with no
        equivalent (expires=, link=, ...) raise a ValidationError saying what to use."""
        deprecated("apply_async()", "using(...).enqueue()")
        overrides = enqueue_options(options, set(EnqueueOptions.__dataclass_fields__))
        args, kwargs = call_arguments(args, kwargs)
        return self.using(**overrides).enqueue(*args, **kwargs)

    def s(self, *args, **kwargs):
        """A signature for a workflow (chain, group, chord): this call, receiving its
        parents' results before `args` (docs/workflows.md)."""
        return self._plain.s(*args, **kwargs)

    def si(self, *args, **kwargs):
        """An immutable signature: this call exactly, whatever its parents return."""
        return self._plain.si(*args, **kwargs)


class TaskCaller:
    """A task with enqueue options applied: `.enqueue()` or `.prepare()` it."""

    def __init__(self, task: Task, options: EnqueueOptions):
        self.task = task
        self.options = options

    def using(self, **overrides) -> "TaskCaller":
        return TaskCaller(self.task, replace(self.options, **overrides))

    def enqueue(self, *args, **kwargs):
        if self.options.depends_on:
            check_call(self.task, args, kwargs)
            return enqueue_after(self, args, kwargs)
        return enqueue_many([self.prepare(*args, **kwargs)])[0]

    def s(self, *args, **kwargs) -> Signature:
        return Signature(self, args, kwargs, immutable=False)

    def si(self, *args, **kwargs) -> Signature:
        return Signature(self, args, kwargs, immutable=True)

    def prepare(self, *args, **kwargs) -> NewTask:
        """Validate and serialise one call; raises before anything is sent
        (PayloadInvalid when the arguments do not fit the task's signature)."""
        new = build_task(self.task, list(args), kwargs, self.options)
        return sealed(self.task, new, check_call(self.task, args, kwargs))


def enqueue_many(prepared: Iterable[NewTask]) -> list[TaskHandle]:
    """Send prepared tasks (from `some_task.prepare(...)`) in one round trip."""
    tasks = list(prepared)
    if not tasks:
        return []
    send = coalescer(get_broker()).enqueue  # overlapping callers share a call (coalesce.py)
    if tracing.enabled:  # off: this one test (docs/observability.md)
        replies = tracing.send(tasks, send)
    else:
        replies = send(tasks)
    unserved.enqueued({t.queue for t in tasks})  # cached: no round trip per enqueue
    events_hook.enqueued(tasks, replies)  # TASKQUEUE["EVENT_HOOK"]; off: one dict read
    return [
        TaskHandle(tid, t.queue, created) for t, (tid, created) in zip(tasks, replies, strict=True)
    ]


def task(func: Callable | None = None, /, *, name: str | None = None, **options) -> Any:
    """Register a function (sync or async) as a task; usable bare or with options.
    Celery's option names are read as ours (celery_options.py); with bind=True the
    function gets Celery's `self` first, also when the task is called directly.
    validate=False: calls are not checked against the signature and type hints.
    schema={...}: the payload's JSON Schema (draft 2020-12, checked here), checked instead
    of the type hints (docs/tasks.md#typed-arguments).
    encrypt=["card_number"] (or True: every argument) and encrypt_result=True: those
    values are stored encrypted (docs/tasks.md#encrypted-arguments)."""

    def register(f: Callable) -> Task:
        raw = dict(options)
        validate = raw.pop("validate", True)
        if not isinstance(validate, bool):
            raise ValidationError(f"validate must be True or False, not {validate!r}.")
        encrypt, encrypt_result = raw.pop("encrypt", False), raw.pop("encrypt_result", False)
        schema = raw.pop("schema", None)
        declared, bind = task_options(raw)
        t = Task(f, name or f"{f.__module__}.{f.__qualname__}", _declared(declared))
        t.validate_payload = validate
        if schema is not None:
            t.payload_schema = declared_schema(t.name, schema)
        if bind:
            t.func = bound(t, f)
            t.hidden_params = 1
        if encrypt is not False or encrypt_result is not False:
            encrypt = encryption.declared(t, encrypt, encrypt_result)
            t.options = replace(t.options, encrypt=encrypt, encrypt_result=encrypt_result)
        registry.register(t)
        return t

    return register(func) if func is not None else register


def _declared(raw: dict) -> TaskOptions:
    unknown = set(raw) - set(TaskOptions.__dataclass_fields__)
    if unknown:
        raise ValidationError(f"unknown @task option(s): {', '.join(sorted(unknown))}.")
    opts = TaskOptions(**raw)
    if opts.queue is not None:
        check.validate_queue_name(opts.queue)
    if opts.priority is not None:
        check.validate_priority(opts.priority)
    if opts.max_retries is not None:
        check.max_retries(opts.max_retries)
    if opts.timeout is not _UNSET:
        check.timeout(opts.timeout)
    if opts.rate_limit is not None or opts.rate_burst is not None:
        if opts.rate_limit is None:
            raise ValidationError("rate_burst= needs a rate_limit=.", field="rate_burst")
        parse_rate(opts.rate_limit, opts.rate_burst)
    if opts.concurrency_limit is not None:
        check_concurrency(opts.concurrency_limit)
    if opts.cron is not None and not valid_cron(opts.cron):
        raise ValidationError(f"cron {opts.cron!r} is not a valid cron expression.", field="cron")
    for name in ("retry_on", "dont_retry_on"):
        value = getattr(opts, name)
        if not isinstance(value, tuple) or not all(
            isinstance(c, type) and issubclass(c, BaseException) for c in value
        ):
            raise ValidationError(f"{name} must be a tuple of exception classes, not {value!r}.")
    return opts
