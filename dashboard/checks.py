"""System checks of the console's settings: LOGIN_THROTTLE (dashboard.E001) and
CONSOLE_HEALTH (dashboard.E002)."""

from django.conf import settings
from django.core.checks import Error, register

from .health import problems as health_problems
from .logins import problems


@register("dashboard")
def check_login_throttle(app_configs=None, **kwargs) -> list[Error]:
    raw = getattr(settings, "LOGIN_THROTTLE", {})
    return [Error(p, obj="settings.LOGIN_THROTTLE", id="dashboard.E001") for p in problems(raw)]


@register("dashboard")
def check_console_health(app_configs=None, **kwargs) -> list[Error]:
    raw = getattr(settings, "CONSOLE_HEALTH", {})
    found = health_problems(raw)
    return [Error(p, obj="settings.CONSOLE_HEALTH", id="dashboard.E002") for p in found]
