"""Celery's option names, read as ours (docs/migrating.md).

`@task(...)` and `Task.apply_async(...)` pass their options through here. A Celery name
with a meaning here becomes ours, with a DeprecationWarning (once per name and process)
naming ours; one without is refused with a ValidationError that says what to use
instead. Nothing is accepted and silently ignored. `rate_limit=` is ours too, with the
same syntax, but enforced for all workers together (Celery's is per worker process):
docs/flow-control.md.

This module knows nothing of Task or the broker, so definition.py can use it;
celery_compat.py is the public face (`shared_task`, the canvas with `.delay()`).
"""

import functools
import inspect
import os
import types
import warnings
from typing import Any, NoReturn

from . import options as check
from .context import TaskContext, current_task
from .errors import Retry, ValidationError

GUIDE = "docs/migrating.md"
CELERY_DEFAULT_RETRY_DELAY = 180  # seconds: Celery's default_retry_delay

# Celery @task options with no equivalent here, and what to do instead.
REFUSED_TASK_OPTIONS = {
    "soft_time_limit": "use timeout= (one limit; current_task().raise_if_cancelled() raises "
    "TaskTimeout past it, current_task().time_left says how long is left)",
    "expires": "taskqueue tasks do not expire: cancel them (console, API, `tq`)",
    "serializer": "taskqueue always uses JSON: remove serializer=",
    "reject_on_worker_lost": "a task whose worker died always runs again once its lease "
    "expires (at-least-once): remove reject_on_worker_lost=",
    "track_started": "the 'processing' status is always tracked: remove track_started=",
}

# Celery apply_async() options with no equivalent here, and what to do instead.
REFUSED_ENQUEUE_OPTIONS = {
    "expires": REFUSED_TASK_OPTIONS["expires"],
    "soft_time_limit": REFUSED_TASK_OPTIONS["soft_time_limit"],
    "serializer": REFUSED_TASK_OPTIONS["serializer"],
    "task_id": "ids are always made by taskqueue: give idempotency_key= to make a call once",
    "link": "use a chain: chain(task.s(...), other.s()).enqueue() (docs/workflows.md)",
    "link_error": "there are no error callbacks yet: a task that failed for good waits in the "
    "dead-letter queue (docs/lifecycle.md)",
    "retry": "sending is not retried: an unreachable Redis raises BrokerUnavailable",
    "retry_policy": "sending is not retried: an unreachable Redis raises BrokerUnavailable",
    "compression": "payloads are JSON, never compressed: remove compression=",
    "exchange": "there are no exchanges: give queue=",
    "routing_key": "there is no routing: give queue=",
    "headers": "give meta= (a JSON object kept with the task)",
    "shadow": "a task's name is set once, by @task(name=...)",
}

IGNORE_RESULT = "nothing: results are always kept for TASKQUEUE['RESULT_TTL']"
ENQUEUE_RENAMES = {"countdown": "delay", "time_limit": "timeout"}

_warned: set[str] = set()


def deprecated(celery: str, ours: str) -> None:
    """Warn once per process that `celery` is Celery's spelling of `ours`."""
    if celery in _warned:
        return
    _warned.add(celery)
    warnings.warn(
        f"{celery} is Celery's name; taskqueue's is {ours} ({GUIDE}).",
        DeprecationWarning,
        skip_file_prefixes=(os.path.dirname(__file__),),
    )


def task_options(raw: dict) -> tuple[dict, bool]:
    """The @task options `raw` means, in our names, and whether the task binds `self`.
    Options that are already ours pass unchanged; _declared() validates them all."""
    opts = dict(raw)
    _refuse(opts, REFUSED_TASK_OPTIONS, "@task")
    bind = _flag(opts, "bind", "current_task() inside the task")
    _rename(opts, "autoretry_for", "retry_on")
    if isinstance(opts.get("retry_on"), list):  # Celery takes a list too
        opts["retry_on"] = tuple(opts["retry_on"])
    _rename(opts, "time_limit", "timeout")
    if "acks_late" in opts and opts.pop("acks_late") is not True:
        raise ValidationError(
            "acks_late=False (acknowledge before running) is not offered: taskqueue always "
            "acknowledges a task after it ran (at-least-once). Remove acks_late=.",
            field="acks_late",
        )
    if "acks_late" in raw:
        deprecated("acks_late=True", "nothing: every task is acknowledged after it ran")
    _flag(opts, "ignore_result", IGNORE_RESULT)  # results are stored either way
    _retry_delays(opts)
    return opts, bind


def enqueue_options(raw: dict, allowed: set[str]) -> dict:
    """apply_async()'s options in our names (those of Task.using(), but the internal
    `level` the django.tasks backend uses)."""
    opts, allowed = dict(raw), allowed - {"level"}
    _refuse(opts, REFUSED_ENQUEUE_OPTIONS, "apply_async()")
    _flag(opts, "ignore_result", IGNORE_RESULT)
    for celery, ours in ENQUEUE_RENAMES.items():
        _rename(opts, celery, ours)
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise ValidationError(
            f"unknown apply_async() option(s): {', '.join(unknown)}. Allowed: countdown, "
            f"time_limit and {', '.join(sorted(allowed))} ({GUIDE}).",
            field=unknown[0],
        )
    return opts


def call_arguments(args: Any, kwargs: Any) -> tuple[tuple, dict]:
    """apply_async(args=..., kwargs=...) as the positional and keyword arguments."""
    if args is not None and not isinstance(args, (list, tuple)):
        raise ValidationError(
            f"args must be a list or tuple, not {check.shown(args)}.", field="args"
        )
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ValidationError(f"kwargs must be a dict, not {check.shown(kwargs)}.", field="kwargs")
    return tuple(args or ()), dict(kwargs or {})


def _refuse(opts: dict, refused: dict, where: str) -> None:
    given = [name for name in opts if name in refused]
    if given:
        name = given[0]
        raise ValidationError(
            f"{where} option {name}= is not supported: {refused[name]}.", field=name
        )


def _rename(opts: dict, celery: str, ours: str) -> None:
    if celery not in opts:
        return
    if ours in opts:
        raise ValidationError(
            f"give {ours}= or Celery's {celery}=, not both (they are the same option).",
            field=celery,
        )
    opts[ours] = opts.pop(celery)
    deprecated(f"{celery}=", f"{ours}=")


def _flag(opts: dict, name: str, ours: str) -> bool:
    if name not in opts:
        return False
    value = opts.pop(name)
    if not isinstance(value, bool):
        raise ValidationError(
            f"{name} must be True or False, not {check.shown(value)}.", field=name
        )
    deprecated(f"{name}=", ours)
    return value


def _retry_delays(opts: dict) -> None:
    """Celery's retry delays as ours. retry_backoff=True is a 1 s base doubling each
    time (ours: retry_backoff=1.0). Without backoff Celery waits default_retry_delay
    (180 s) every time: here a backoff whose cap is its base, without jitter."""
    backoff = opts.get("retry_backoff")
    fixed = opts.pop("default_retry_delay", None)
    if fixed is not None and backoff is not None and backoff is not False:
        raise ValidationError(
            "give default_retry_delay= (a fixed delay) or retry_backoff= (a growing one), "
            "not both.",
            field="default_retry_delay",
        )
    if backoff is True:
        opts["retry_backoff"] = 1.0
        deprecated("retry_backoff=True", "retry_backoff=<first delay in seconds>")
    elif backoff is False or fixed is not None:
        seconds = CELERY_DEFAULT_RETRY_DELAY if fixed is None else fixed
        check.delay_ms(seconds, field="default_retry_delay")
        clash = {"retry_backoff_max", "retry_jitter"} & set(opts)
        if clash:
            raise ValidationError(
                f"{', '.join(sorted(clash))} cannot go with a fixed retry delay.",
                field=sorted(clash)[0],
            )
        opts.update(retry_backoff=seconds, retry_backoff_max=seconds, retry_jitter=False)
        deprecated(
            "default_retry_delay=" if fixed is not None else "retry_backoff=False",
            "retry_backoff=N, retry_backoff_max=N, retry_jitter=False",
        )


def bound(task: Any, func):
    """`func` called with Celery's `self` first: a BoundTask for the running task.
    An `async def` stays one, so the worker still awaits it on its loop."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args, **kwargs):
            return await func(BoundTask(task, current_task()), *args, **kwargs)

        return run_async

    @functools.wraps(func)
    def run(*args, **kwargs):
        return func(BoundTask(task, current_task()), *args, **kwargs)

    return run


class BoundTask:
    """What a `bind=True` task receives as `self`: the running task's context
    (current_task(), None outside a worker) with Celery's `self.request` and
    `self.retry()`. Other attributes are the context's (`self.report_progress(...)`,
    `self.raise_if_cancelled()`)."""

    def __init__(self, task: Any, ctx: TaskContext | None):
        self.task = task
        self.context = ctx
        self.name = task.name

    @property
    def request(self) -> types.SimpleNamespace:
        """Celery's `self.request`: id, retries (failed attempts so far), task name."""
        ctx = self.context
        return types.SimpleNamespace(
            id=ctx.id if ctx else None,
            retries=ctx.failures if ctx else 0,
            task=self.name,
            queue=ctx.queue if ctx else None,
        )

    def retry(
        self, exc: BaseException | None = None, countdown: float | None = None, **options
    ) -> NoReturn:
        """Ask for another attempt (raises taskqueue's Retry), after `countdown` s or
        the task's backoff. max_retries is the task's own: it is not given per call."""
        if options:
            raise ValidationError(
                f"self.retry() takes exc= and countdown= only, not {', '.join(sorted(options))} "
                f"({GUIDE}).",
                field=sorted(options)[0],
            )
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else ""
        raise Retry(countdown=countdown, reason=reason) from exc

    def update_state(self, task_id: str | None = None, state: str | None = None, meta=None):
        """Celery's progress report: `meta` becomes the task's progress (shown by the
        console and the API); `state` is not kept (the status stays processing)."""
        if self.context is not None and task_id in (None, self.context.id):
            self.context.report_progress(meta)

    def delay(self, *args, **kwargs):
        return self.task.delay(*args, **kwargs)

    def apply_async(self, args=None, kwargs=None, **options):
        return self.task.apply_async(args, kwargs, **options)

    def __getattr__(self, name: str):
        if self.context is None:
            raise AttributeError(f"{name!r}: not running in a worker (no current task)")
        return getattr(self.context, name)
