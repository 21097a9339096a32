"""RedisTask: the backend's `task_class`, so Django 6.1's `@task(**options)` carries
taskqueue's per-task options:

    @task(priority=10, max_retries=5, timeout=30, retry_backoff=2.0)
    def send_email(to): ...

Options left out fall back to the backend's OPTIONS, then to the TASKQUEUE setting.
An option this class does not know is refused when the task is declared.
"""

import enum
import math
from dataclasses import dataclass, fields

from django.tasks import Task
from django.tasks.exceptions import InvalidTask

from .. import options as check
from ..errors import ValidationError


class Default(enum.Enum):
    """An option left to the backend's OPTIONS, then to TASKQUEUE (an enum: it pickles)."""

    DEFAULT = "default"


DEFAULT = Default.DEFAULT


@dataclass(frozen=True, slots=True, kw_only=True)
class _RedisTaskFields(Task):
    max_retries: int | Default = DEFAULT  # retries after the first failed attempt
    timeout: float | Default | None = DEFAULT  # seconds; None: no time limit
    retry_backoff: float | None = None  # base of the exponential backoff, seconds
    retry_backoff_max: float | None = None  # cap of one backoff delay, seconds
    retry_jitter: bool = True
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    dont_retry_on: tuple[type[BaseException], ...] = ()


OPTION_NAMES = tuple(f.name for f in fields(_RedisTaskFields) if f.name not in Task.__slots__)


class RedisTask(_RedisTaskFields):
    """A django.tasks Task with taskqueue's per-task options (see OPTION_NAMES)."""

    __slots__ = ()

    def __init__(self, **values):
        unknown = sorted(set(values) - {f.name for f in fields(self)})
        if unknown:
            known = ", ".join(f.name for f in fields(self) if f.name not in ("func", "run_after"))
            raise TypeError(
                f"unknown @task option(s) for the taskqueue backend: {', '.join(unknown)}. "
                f"Known options: {known} (run_after is set with .using())."
            )
        super().__init__(**values)


def validate_options(task: Task) -> None:
    """InvalidTask naming the option when one of a RedisTask's options is bad."""
    try:
        _validate(task)
    except ValidationError as exc:
        raise InvalidTask(str(exc)) from None


def _validate(task: Task) -> None:
    if getattr(task, "max_retries", DEFAULT) is not DEFAULT:
        check.max_retries(task.max_retries)
    if getattr(task, "timeout", DEFAULT) is not DEFAULT:
        check.timeout(task.timeout)
    for name in ("retry_backoff", "retry_backoff_max"):
        value = getattr(task, name, None)
        if value is not None and not _positive(value):
            raise ValidationError(f"{name} must be a number of seconds > 0, not {value!r}.")
    if type(getattr(task, "retry_jitter", True)) is not bool:
        raise ValidationError(f"retry_jitter must be True or False, not {task.retry_jitter!r}.")
    for name in ("retry_on", "dont_retry_on"):
        value = getattr(task, name, ())
        if not isinstance(value, tuple) or not all(_is_exception(c) for c in value):
            raise ValidationError(f"{name} must be a tuple of exception classes, not {value!r}.")


def _positive(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value > 0


def _is_exception(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)
