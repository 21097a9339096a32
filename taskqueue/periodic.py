"""Periodic tasks: cron schedules declared with `@task(cron="*/5 * * * *")` or in
TASKQUEUE["PERIODIC"] = {"nightly-report": {"task": "app.tasks.report",
"cron": "0 3 * * *", "args": [], "kwargs": {}, "queue": "low"}}.

Workers enqueue each tick with the idempotency key `cron:<name>:<tick ms>`, so any
number of workers firing the same tick make one task. Ticks missed while no worker
ran are not replayed: after a restart the next tick is the first one in the future.
Cron expressions are evaluated in settings.TIME_ZONE.
"""

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from . import cron
from .errors import ConfigurationError
from .registry import registry


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    cron: str
    queue: str | None = None
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)

    def next_after(self, moment: datetime, tz: ZoneInfo) -> datetime:
        return cron.next_after(self.cron, moment, tz)

    def idempotency_key(self, tick: datetime) -> str:
        return f"cron:{self.name}:{int(tick.timestamp() * 1000)}"


def schedules(setting: dict | None = None) -> list[Schedule]:
    """Every schedule: from @task(cron=...) (named after the task) and the setting."""
    found = [Schedule(t.name, t.name, t.options.cron) for t in registry if t.options.cron]
    for name, spec in (setting or {}).items():
        if (
            not isinstance(spec, dict)
            or not cron.valid_cron(spec.get("cron"))
            or "task" not in spec
        ):
            raise ConfigurationError(
                f"TASKQUEUE['PERIODIC'][{name!r}] needs 'task' and a valid 'cron' expression."
            )
        found.append(
            Schedule(
                name,
                spec["task"],
                spec["cron"],
                spec.get("queue"),
                list(spec.get("args", [])),
                dict(spec.get("kwargs", {})),
            )
        )
    return found
