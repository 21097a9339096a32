"""System checks for the TASKQUEUE_API setting (api.E001...)."""

from django.conf import settings
from django.core.checks import Error, register

from .conf import problems


@register("api")
def check_api_settings(app_configs=None, **kwargs) -> list[Error]:
    return [
        Error(message, obj="settings.TASKQUEUE_API", id=f"api.{check_id}")
        for check_id, message in problems(getattr(settings, "TASKQUEUE_API", None))
    ]
