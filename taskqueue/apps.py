from django.apps import AppConfig
from django.core.signals import setting_changed
from django.utils.module_loading import autodiscover_modules


class TaskQueueConfig(AppConfig):
    name = "taskqueue"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, client, conf  # noqa: F401 - checks register themselves

        setting_changed.connect(_on_setting_changed)
        autodiscover_modules("tasks")


def _on_setting_changed(setting: str, **kwargs) -> None:
    if setting == "TASKQUEUE":
        from . import client, conf

        conf.reset_config()
        client.reset()
