"""Moving a Celery project over (docs/migrating.md): Celery's names, on taskqueue.

    from taskqueue.celery_compat import shared_task, chain, group, chord, crontab
    # was: from celery import shared_task, chain, group, chord
    #      from celery.schedules import crontab

`@shared_task` is `@task` with Celery's defaults: a task that raises is retried only
for the exceptions in `autoretry_for` (or after `self.retry()`), as in Celery; plain
`@task` retries any Exception. Every Celery name (`bind=`, `autoretry_for=`,
`.delay()`, `countdown=`, ...) works and warns once (DeprecationWarning) with our name;
`rate_limit=` is ours too, for all workers together (docs/flow-control.md); options
taskqueue does not have are refused with a ValidationError that says what to use
instead.
"""

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from .celery_options import deprecated
from .cron import valid_cron
from .definition import task
from .errors import ValidationError
from .workflows import canvas

__all__ = ["beat_schedule_to_periodic", "chain", "chord", "crontab", "group", "shared_task"]


def shared_task(func: Callable | None = None, /, **options) -> Any:
    """Celery's @shared_task: @task with Celery's option names and retry default."""
    if "max_retries" in options and options["max_retries"] is None:
        raise ValidationError(
            "max_retries=None (Celery: retry forever) is not offered: give a number "
            "(at most 1000).",
            field="max_retries",
        )
    if "autoretry_for" not in options and "retry_on" not in options:
        options = {**options, "retry_on": ()}  # Celery retries only what autoretry_for names
    return task(func, **options)


class _CeleryCanvas:
    """Celery's ways to send a canvas: .delay() and .apply_async() are .enqueue()."""

    def delay(self):
        deprecated("canvas .delay()", "enqueue()")
        return self.enqueue()

    def apply_async(self, **options):
        if options:
            raise ValidationError(
                f"a chain, group or chord takes no apply_async() options here "
                f"({', '.join(sorted(options))}): set them on each signature with "
                f"task.using(...).s() (docs/workflows.md).",
                field=sorted(options)[0],
            )
        deprecated("canvas .apply_async()", "enqueue()")
        return self.enqueue()


class chain(_CeleryCanvas, canvas.chain):  # noqa: N801 - Celery's name
    __doc__ = canvas.chain.__doc__


class group(_CeleryCanvas, canvas.group):  # noqa: N801
    __doc__ = canvas.group.__doc__


class chord(_CeleryCanvas, canvas.chord):  # noqa: N801
    __doc__ = canvas.chord.__doc__


def crontab(
    minute: Any = "*",
    hour: Any = "*",
    day_of_week: Any = "*",
    day_of_month: Any = "*",
    month_of_year: Any = "*",
) -> str:
    """Celery's crontab() as the five-field cron string @task(cron=...) and
    TASKQUEUE["PERIODIC"] take: crontab(minute=0, hour=3) is "0 3 * * *"."""
    expression = f"{minute} {hour} {day_of_month} {month_of_year} {day_of_week}"
    if not valid_cron(expression):
        raise ValidationError(f"crontab(...) makes {expression!r}, not a valid cron expression.")
    return expression


def beat_schedule_to_periodic(beat_schedule: Mapping) -> dict:
    """Celery's `beat_schedule` as TASKQUEUE["PERIODIC"]. taskqueue runs cron schedules
    only: a crontab() is one, and an interval that divides a minute, an hour or a day
    becomes one aligned to the clock (timedelta(minutes=5) is "*/5 * * * *"); other
    intervals, and options other than queue, are refused."""
    return {name: _periodic_entry(name, entry) for name, entry in beat_schedule.items()}


def _periodic_entry(name: str, entry: Mapping) -> dict:
    unknown = sorted(set(entry) - {"task", "schedule", "args", "kwargs", "options"})
    extra = sorted(set(entry.get("options", {})) - {"queue"})
    if unknown or extra or "task" not in entry:
        raise ValidationError(
            f"beat_schedule[{name!r}]: {', '.join(unknown + extra)} not supported "
            f"(task, schedule, args, kwargs and options={{'queue': ...}} are; task is needed)."
        )
    out = {
        "task": entry["task"],
        "cron": _cron_of(name, entry.get("schedule")),
        "args": list(entry.get("args", ())),
        "kwargs": dict(entry.get("kwargs", {})),
    }
    if "queue" in entry.get("options", {}):
        out["queue"] = entry["options"]["queue"]
    return out


def _cron_of(name: str, schedule: Any) -> str:
    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        schedule = timedelta(seconds=schedule)
    if isinstance(schedule, timedelta):
        cron = _interval_cron(schedule.total_seconds())
        if cron is None:
            raise ValidationError(
                f"beat_schedule[{name!r}]: every {schedule.total_seconds():g} s has no cron "
                "form; taskqueue runs cron schedules only (a whole number of seconds, "
                "minutes or hours that divides a minute, an hour or a day)."
            )
        return cron
    if not valid_cron(schedule):
        raise ValidationError(
            f"beat_schedule[{name!r}]: schedule must be crontab(...) or a timedelta, "
            f"not {schedule!r}."
        )
    return schedule


def _interval_cron(seconds: float) -> str | None:
    """An interval as cron, aligned to the clock (every 15 min: at :00, :15, ...)."""
    for unit, whole, form in (
        (1, 60, "* * * * * */{n}"),  # croniter's sixth field: seconds
        (60, 60, "*/{n} * * * *"),
        (3600, 24, "0 */{n} * * *"),
    ):
        n, rest = divmod(seconds, unit)
        if not rest and 1 <= n < whole and whole % n == 0:
            return form.format(n=int(n))
    return "0 0 * * *" if seconds == 86_400 else None
