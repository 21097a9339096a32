from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Console"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the system checks)
        from .live.access_changes import connect_receivers

        connect_receivers()  # access changes reach open console sockets at once
