"""Cron expressions (five fields, croniter's reading of them): the one module that
knows croniter. A leaf module: the settings check (conf.py), @task(cron=...)
(definition.py) and the schedules (periodic.py) validate and evaluate them here."""

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter


def valid_cron(expression: object) -> bool:
    return isinstance(expression, str) and croniter.is_valid(expression)


def next_after(expression: str, moment: datetime, tz: ZoneInfo) -> datetime:
    """The first tick of `expression` after `moment`, with the fields read in `tz`."""
    return croniter(expression, moment.astimezone(tz)).get_next(datetime)
