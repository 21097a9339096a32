"""System checks of the console's settings: LOGIN_THROTTLE (dashboard.E001)."""

from django.conf import settings
from django.core.checks import Error, register

from .logins import problems


@register("dashboard")
def check_login_throttle(app_configs=None, **kwargs) -> list[Error]:
    raw = getattr(settings, "LOGIN_THROTTLE", {})
    return [Error(p, obj="settings.LOGIN_THROTTLE", id="dashboard.E001") for p in problems(raw)]
