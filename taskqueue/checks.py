"""System checks for the TASKQUEUE setting (taskqueue.E001...), reported by
`manage.py check` and at start-up, with hints; see conf.problems() for each id."""

from django.conf import settings
from django.core.checks import Error, register

from .conf import problems


@register("taskqueue")
def check_settings(app_configs=None, **kwargs) -> list[Error]:
    return [
        Error(message, hint=hint or None, obj="settings.TASKQUEUE", id=f"taskqueue.{check_id}")
        for check_id, message, hint in problems(getattr(settings, "TASKQUEUE", None))
    ]
