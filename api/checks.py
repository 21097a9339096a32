"""System checks for the TASKQUEUE_API setting (api.E001...), and its fit with the web
server's own body cap (api.W001)."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from .conf import api_settings, problems


@register("api")
def check_api_settings(app_configs=None, **kwargs) -> list[Error]:
    return [
        Error(message, obj="settings.TASKQUEUE_API", id=f"api.{check_id}")
        for check_id, message in problems(getattr(settings, "TASKQUEUE_API", None))
    ]


@register("api")
def check_server_body_cap(app_configs=None, **kwargs) -> list[Warning]:
    """The web server refuses bodies over WEB_MAX_BODY_BYTES before the API sees them
    (config/webserver.py): a server cap below the API's would shadow it."""
    server_cap, api_cap = (
        getattr(settings, "WEB_MAX_BODY_BYTES", None),
        api_settings().MAX_BODY_BYTES,
    )
    if type(server_cap) is not int or server_cap >= api_cap:
        return []
    message = (
        f"WEB_MAX_BODY_BYTES ({server_cap}) is below TASKQUEUE_API['MAX_BODY_BYTES'] "
        f"({api_cap}): the web server refuses API bodies between the two itself."
    )
    hint = "Set WEB_MAX_BODY_BYTES a little above the API's cap (the default: 1 MiB + 64 KiB)."
    return [Warning(message, hint=hint, obj="settings.WEB_MAX_BODY_BYTES", id="api.W001")]
